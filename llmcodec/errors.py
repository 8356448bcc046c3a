"""The exceptions the CLI reports as one line (no traceback): bad input from the user, not a bug.

Kept free of heavy imports so that `llmcodec.cli` can name them without loading torch.
"""


class UserError(Exception):
    """Bad input or environment the user can fix (a missing file, a wrong option value, an unreachable Hub).

    `llmcodec` prints `llmcodec: error: <message>` and exits with status 2 (`--debug` shows the traceback).
    """


class ModelLoadError(UserError, RuntimeError):
    """A `--model` value could not be resolved to an LLM-Codec model."""
