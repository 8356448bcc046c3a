"""``TrainingSetupError``: a run that cannot start or go on because of what it was given (one line, no traceback)."""

from __future__ import annotations

from llmcodec.errors import UserError

__all__ = ["TrainingSetupError"]


class TrainingSetupError(UserError, ValueError):
    """Bad input detected while setting up or resuming training (data, tokenizer, LM, a checkpoint, an output
    folder), or weights that diverged: ``llmcodec train`` reports it in one line (exit status 2)."""
