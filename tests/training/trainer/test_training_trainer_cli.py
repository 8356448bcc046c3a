"""``llmcodec train``: config + typed overrides (HfArgumentParser), --help, one-line errors, a tiny run, and a
2-process ``accelerate launch`` (gloo)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from llmcodec.cli import main
from llmcodec.training.trainer import load_training_arguments
from repo_paths import REPO_ROOT
from trainer_testing import FAST, TINY_CONFIG

RECIPE = str(REPO_ROOT / "configs" / "recipe-qwen3-4b.yaml")


def test_command_line_values_take_the_types_of_the_fields(tmp_path):
    from llmcodec.training.trainer.argument_parsing import parse_training_command_line

    model, data, args, options = parse_training_command_line(TINY_CONFIG, [
        "--max_steps", "10", "--bf16", "--report_to", "tensorboard", "--lr_codec", "1e-4", "--tokenizer-name-or-path",
        "offline", "--disc_channels", "4", "8", "8", "16", "16", "--codec_config", "{hidden_size: 64}",
        "--enable_gan", "false", "--save_strategy", "no", "--output_dir", str(tmp_path), "--resume"])
    assert (args.max_steps, args.bf16, args.report_to, args.lr_codec) == (10, True, ["tensorboard"], 1e-4)
    assert (model.tokenizer_name_or_path, model.codec_config, args.disc_channels) == ("offline", {"hidden_size": 64},
                                                                                     [4, 8, 8, 16, 16])
    assert args.enable_gan is False and args.save_strategy == "no" and options.resume is True
    assert data.segment_seconds == 0.5 and args.lr_embed == 0.01  # from the config (lr_embed: 0.01)
    assert args.report_to == ["tensorboard"]
    assert parse_training_command_line(TINY_CONFIG, ["--report_to", "[]"])[2].report_to == []  # the YAML list still works


def test_every_config_in_configs_loads(tmp_path):
    configs = sorted((REPO_ROOT / "configs").glob("*.yaml"))
    assert len(configs) >= 4
    for config in configs:
        model, data, args = load_training_arguments(str(config), {"output_dir": str(tmp_path), "use_cpu": True})
        assert args.max_steps > 0 and data.segment_seconds > 0 and model.lm_name_or_path, config.name


def test_help_lists_every_field_with_its_help(capsys):
    import dataclasses

    from transformers import TrainingArguments

    from llmcodec.training.trainer.arguments import DataArguments, LLMCodecTrainingArguments, ModelArguments

    with pytest.raises(SystemExit) as exited:  # before CONFIG: argparse's help action exits 0
        main(["train", "--help"])
    assert exited.value.code == 0
    bare = capsys.readouterr().out
    assert main(["train", TINY_CONFIG, "--max_steps", "3", "--help"]) == 0
    text = capsys.readouterr().out
    inherited = {f.name: f for f in dataclasses.fields(TrainingArguments)}
    ours = [f for cls in (ModelArguments, DataArguments, LLMCodecTrainingArguments) for f in dataclasses.fields(cls)
            if f.name not in inherited or f.default != inherited[f.name].default]
    assert len(ours) > 80
    for f in ours:
        assert f.metadata.get("help"), f"{f.name} has no help"
        assert f"--{f.name} " in text and f"--{f.name} " in bare, f.name
    assert "weight of semantic alignment's cosine term" in text and "--resume" in text and "--print-config" in text
    max_steps = text[text.index("  --max_steps"):text.index("  --max_steps") + 400]
    assert "(default: 60)" in max_steps  # the config's value (the command line's --max_steps 3 is not applied)


@pytest.mark.parametrize("problem", ["yaml_syntax", "python_tag", "max_steps_abc", "accumulation_0", "lr_nan",
                                     "lr_nan_in_yaml", "lr_inf", "unknown_key"])
def test_bad_input_is_one_line(tmp_path, capsys, problem):
    marker = tmp_path / "executed"
    config, extra = TINY_CONFIG, []
    if problem == "yaml_syntax":
        config = tmp_path / "bad.yaml"
        config.write_text("max_steps: [1\n")
    elif problem == "python_tag":
        config = tmp_path / "tag.yaml"
        config.write_text(f"max_steps: !!python/object/apply:os.system ['touch {marker}']\n")
    elif problem == "lr_nan_in_yaml":
        config = tmp_path / "nan.yaml"
        config.write_text(Path(TINY_CONFIG).read_text().replace("lr_codec: 0.001", "lr_codec: .nan"))
    extra = {"max_steps_abc": ["--max_steps", "abc"], "accumulation_0": ["--gradient_accumulation_steps", "0"],
             "lr_nan": ["--lr_codec", "nan"], "lr_inf": ["--lr_embed", "inf"], "unknown_key": ["--max_stepz", "3"]
             }.get(problem, [])
    assert main(["train", str(config), *FAST, *extra, "--output_dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("llmcodec: error: "), err
    expected = {"yaml_syntax": "not valid YAML (line 2", "python_tag": "!!python/object/apply:os.system is refused",
                "max_steps_abc": "--max_steps", "accumulation_0": "gradient_accumulation_steps must be >= 1",
                "lr_nan": "lr_codec must be a finite number > 0", "lr_nan_in_yaml": "lr_codec must be a finite",
                "lr_inf": "lr_embed must be a finite number > 0", "unknown_key": "--max_stepz"}[problem]
    assert expected in err[0]
    assert not marker.exists() and not (tmp_path / "out" / "export").exists()


def test_a_dataset_with_a_loading_script_is_one_line_and_never_run(tmp_path, capsys, monkeypatch):
    folder = tmp_path / "scripted"
    folder.mkdir()
    marker = tmp_path / "executed"
    (folder / "scripted.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    out = ["--output_dir", str(tmp_path / "out")]
    assert main(["train", TINY_CONFIG, *FAST, *out, "--dataset", str(folder)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "loading script (scripted.py)" in err[0] and "never run" in err[0]
    # A Hub dataset that is a loading script: datasets raises RuntimeError; still one line naming the dataset.
    import datasets

    def scripted(*args, **kwargs):
        raise RuntimeError("Dataset scripts are no longer supported, but found librispeech_asr.py")

    monkeypatch.setattr(datasets, "load_dataset", scripted)
    assert main(["train", TINY_CONFIG, *FAST, *out, "--dataset", "someone/scripted_asr"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "someone/scripted_asr" in err[0] and "no longer supported" in err[0]
    assert not marker.exists()


def test_configs_resolve_with_overrides(tmp_path):
    recipe_m, recipe_d, recipe = load_training_arguments(RECIPE, {"output_dir": str(tmp_path), "use_cpu": True})  # bf16 needs a GPU or use_cpu
    assert recipe.bf16 and (recipe.max_steps, recipe.gradient_accumulation_steps, recipe.per_device_train_batch_size) == (25000, 10, 1)
    assert (recipe.lr_codec, recipe.lr_embed, recipe.lr_disc, recipe.max_grad_norm) == (5e-6, 1e-4, 1e-4, 15.0)
    assert (recipe.d_only_steps, recipe.lr_total_steps, recipe_d.segment_seconds) == (10000, 200000, 4.0)
    assert recipe_m.lm_name_or_path == "Qwen/Qwen3-4B-Instruct-2507" and recipe_m.codec_init == "SWivid/AUV"
    assert (recipe.val_every, recipe.eval_strategy, recipe.eval_steps, recipe_d.validation_split) == (
        2000, "steps", 2000, "validation")
    tiny_m, tiny_d, tiny = load_training_arguments(TINY_CONFIG, {"max_steps": 7, "lambda_ftp": 0.5, "output_dir": str(tmp_path)})
    assert tiny.max_steps == 7 and tiny.lambda_ftp == 0.5 and tiny_m.codec_config["codebook_size"] == 256
    with pytest.raises(ValueError, match="unknown training argument"):
        load_training_arguments(TINY_CONFIG, {"max_stepz": 3})
    with pytest.raises(ValueError, match="bridge_mode"):
        load_training_arguments(TINY_CONFIG, {"bridge_mode": "soft"})


def test_cli_print_config_and_errors(tmp_path, capsys):
    assert main(["train", TINY_CONFIG, "--print-config", "--max_steps", "3", "--output_dir", str(tmp_path)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["training"]["max_steps"] == 3 and printed["model"]["lm_name_or_path"] == "tiny-random-qwen3"
    assert printed["data"]["segment_seconds"] == 0.5 and "dataset" not in printed["training"]
    assert main(["train", TINY_CONFIG, "--no_such_key", "1"]) == 2
    assert "unknown training argument" in capsys.readouterr().err
    assert main(["train", str(tmp_path / "missing.yaml")]) == 2


def test_cli_missing_text_column_is_a_clear_error(tmp_path, capsys):
    import numpy as np
    import soundfile as sf

    (tmp_path / "data" / "train").mkdir(parents=True)
    sf.write(tmp_path / "data" / "train" / "a.wav", np.zeros(8000, dtype=np.float32), 16000)
    code = main(["train", TINY_CONFIG, *FAST, "--dataset", str(tmp_path / "data"), "--output_dir", str(tmp_path / "out")])
    assert code == 2
    assert "text" in capsys.readouterr().err


def test_the_default_codec_init_is_the_recipe_base_auv_pt(tmp_path, monkeypatch):
    from codec_testing import assert_codes_match_reference, fake_swivid_auv
    from llmcodec.training.trainer.arguments import ModelArguments
    from llmcodec.training.trainer.builders import load_codec_for_training

    reference, calls = fake_swivid_auv(tmp_path, monkeypatch, seed=5)
    codec = load_codec_for_training(ModelArguments())
    assert calls == [("SWivid/AUV", "auv.pt")]
    assert_codes_match_reference(codec, reference)
    assert load_training_arguments(RECIPE, {"output_dir": str(tmp_path), "use_cpu": True})[0].codec_init == "SWivid/AUV"


def test_cli_load_failures_are_one_line_naming_the_part(tmp_path, capsys):
    from llmcodec.tokenizer import tiny_random_qwen3

    lm_dir = tmp_path / "lm"
    tiny_random_qwen3(seed=0).config.save_pretrained(lm_dir)
    (lm_dir / "model.safetensors").write_bytes(b"not a safetensors file")  # a truncated download
    out = ["--output_dir", str(tmp_path / "out")]
    assert main(["train", TINY_CONFIG, *FAST, *out, "--lm_name_or_path", str(lm_dir), "--tokenizer_name_or_path", "offline"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "lm_name_or_path" in err[0] and str(lm_dir) in err[0]
    assert main(["train", TINY_CONFIG, *FAST, *out, "--codec_init", str(tmp_path / "missing.pt")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "codec_init" in err[0] and "missing.pt" in err[0]
    assert main(["train", TINY_CONFIG, *FAST, *out, "--tokenizer_name_or_path", str(tmp_path / "no-tokenizer")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "tokenizer_name_or_path" in err[0]


def test_cli_refuses_trainer_fields_our_optimizers_ignore(tmp_path, capsys):
    assert main(["train", TINY_CONFIG, "--learning_rate", "1e-4", "--output_dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "learning_rate" in err[0] and "lr_codec" in err[0]


def test_cli_tiny_run_exports(tmp_path):
    out = tmp_path / "run"
    assert main(["train", TINY_CONFIG, *FAST, "--output_dir", str(out)]) == 0
    assert (out / "export" / "config.json").is_file() and (out / "export" / "lm" / "config.json").is_file()


def test_accelerate_two_cpu_processes(tmp_path):
    import socket

    out = tmp_path / "ddp"
    with socket.socket() as sock:  # a free port: other jobs on the machine may hold torchrun's default 29500
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    # accelerate 1.15: `launch --cpu --num_processes 2` starts ONE process (its simple launcher, unless mpirun);
    # `--multi_gpu` goes through torchrun and, with the config's use_cpu: true, gives 2 gloo processes (MULTI_CPU).
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
           "--main_process_port", str(port),
           "--mixed_precision", "no", "--dynamo_backend", "no", "-m", "llmcodec.cli", "train", TINY_CONFIG, *FAST,
           "--output_dir", str(out), "--logging_steps", "1"]
    proc = subprocess.run(cmd, env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    assert "done: 2 steps on 2 process(es) (DistributedType.MULTI_CPU)" in proc.stdout, proc.stdout[-2000:]
    assert (out / "export" / "model.safetensors").is_file()
