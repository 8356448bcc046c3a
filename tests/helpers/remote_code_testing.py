"""A folder whose config (and tokenizer config) point `auto_map` at a .py that writes a marker file when imported.

Loading it with transformers' Auto classes without `trust_remote_code=False` either asks "run the custom code?
[y/N]" on a terminal or, answered "y", runs the file. `answer_yes` patches `input` to answer "y" and records
every question, so a test sees both the question and the code running.
"""

from __future__ import annotations

import builtins
import json
from pathlib import Path

import pytest


def plant_remote_code(folder: Path, marker: Path, model_type: str = "llmcodec_test_custom_lm") -> Path:
    """Adds `custom_code.py` and `auto_map` entries to `folder`'s config.json / tokenizer_config.json (created if
    missing); returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "custom_code.py").write_text(
        "from pathlib import Path\n"
        f"Path({str(marker)!r}).write_text('custom code ran')\n"
        "from transformers import PretrainedConfig, PreTrainedModel, PreTrainedTokenizer\n"
        "class CustomConfig(PretrainedConfig):\n"
        f"    model_type = {model_type!r}\n"
        "class CustomModel(PreTrainedModel):\n"
        "    config_class = CustomConfig\n"
        "class CustomTokenizer(PreTrainedTokenizer):\n"
        "    pass\n"
    )
    config_path = folder / "config.json"
    config = json.loads(config_path.read_text()) if config_path.is_file() else {"model_type": model_type}
    config["auto_map"] = {"AutoConfig": "custom_code.CustomConfig", "AutoModelForCausalLM": "custom_code.CustomModel"}
    config_path.write_text(json.dumps(config))
    tokenizer_path = folder / "tokenizer_config.json"
    if tokenizer_path.is_file():
        tokenizer = json.loads(tokenizer_path.read_text())
        tokenizer["auto_map"] = {"AutoTokenizer": ["custom_code.CustomTokenizer", None]}
        tokenizer_path.write_text(json.dumps(tokenizer))
    return folder


@pytest.fixture()
def answer_yes(monkeypatch):
    """Every `input()` question is recorded and answered "y" (a user pressing y at transformers' prompt)."""
    questions: list[str] = []

    def answer(prompt: str = "") -> str:
        questions.append(prompt)
        return "y"

    monkeypatch.setattr(builtins, "input", answer)
    return questions
