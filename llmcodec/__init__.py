"""LLM-Codec: a transformers-native neural speech codec whose tokens are easy for an LLM to predict.

Import layout (see README "Package layout"):

- ``llmcodec.modeling``   <- ``modeling_llmcodec/`` (the self-contained remote-code folder)
- ``llmcodec.tokenizer``  <- ``tokenizer/``  (the ``<CODEC_n>`` Qwen tokenizer and LM artifact)
- ``llmcodec.training``   <- ``training/``   (losses, discriminators, ``LLMCodecTrainer``)
- ``llmcodec.evaluation`` <- ``evaluation/`` (Codec-SUPERB metrics, reports)
"""

__version__ = "0.1.0"
