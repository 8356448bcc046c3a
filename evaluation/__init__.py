"""llmcodec.evaluation"""
