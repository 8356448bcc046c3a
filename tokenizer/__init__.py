"""llmcodec.tokenizer"""
