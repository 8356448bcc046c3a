"""llmcodec.training"""
