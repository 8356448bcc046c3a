"""Conversion of reference checkpoints: exact weights, and clear errors for mismatched or corrupt files."""

import pytest
import torch

from codec_testing import reference_auv
from llmcodec.conversion import (
    CheckpointMismatchError,
    load_reference_state_dict,
    model_from_reference_checkpoint,
    model_from_reference_state_dict,
)


@pytest.fixture(scope="module")
def reference_state():
    return reference_auv(released=False, seed=5).state_dict()


def test_weights_and_batchnorm_statistics_carry_over_exactly(reference_state):
    model = model_from_reference_state_dict(reference_state)
    ours = model.state_dict()
    assert torch.equal(
        ours["quantizer.in_proj.parametrizations.weight.original0"],
        reference_state["tokenizer.vq.quantizers.0.in_proj.parametrizations.weight.original0"],
    )
    assert torch.equal(
        ours["decoder.conformer.layers.2.conv_module.conv_norm.running_var"],
        reference_state["token2wav.conformer.layers.2.conv_module.conv_norm.running_var"],
    )
    assert int(ours["encoder.conformer.layers.0.conv_module.conv_norm.num_batches_tracked"]) == 123
    assert model.config.encoder_num_layers == 2 and model.config.decoder_num_layers == 3
    assert model.config.codebook_size == 512


def test_missing_extra_and_misshaped_keys_are_listed(reference_state):
    broken = dict(reference_state)
    del broken["token2wav.istft_head.out.bias"]
    broken["tokenizer.something_new"] = torch.zeros(3)
    broken["token2wav.conformer.layers.0.attn.to_out.bias"] = torch.zeros(7)
    with pytest.raises(CheckpointMismatchError) as raised:
        model_from_reference_state_dict(broken)
    message = str(raised.value)
    assert "missing (1): decoder.istft_head.projection.bias" in message
    assert "unexpected (1): tokenizer.something_new" in message
    assert "token2wav.conformer.layers.0.attn.to_out.bias: checkpoint (7,)" in message


def test_not_a_codec_checkpoint():
    with pytest.raises(CheckpointMismatchError, match="not an AUV"):
        model_from_reference_state_dict({"model.embed_tokens.weight": torch.zeros(2, 2)})


def test_corrupt_file_is_reported(tmp_path):
    path = tmp_path / "llm-codec.pt"
    path.write_bytes(b"\x00garbage" * 10)
    with pytest.raises(CheckpointMismatchError, match="cannot read"):
        load_reference_state_dict(path)


def test_pickled_code_is_not_executed(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"weights": torch.zeros(1), "payload": object()}, path)
    with pytest.raises(CheckpointMismatchError, match="cannot read") as raised:
        load_reference_state_dict(path)
    assert "object" in str(raised.value)  # the reason is kept ...


@pytest.mark.parametrize("content", ["pickle", "safetensors"])
def test_refused_files_never_advise_unsafe_loading(tmp_path, content):
    path = tmp_path / "model.pt"
    if content == "pickle":
        torch.save({"payload": object()}, path)
    else:
        from safetensors.torch import save_file

        save_file({"weight": torch.zeros(2)}, path)
    with pytest.raises(CheckpointMismatchError, match="not a plain file of tensors that loads safely") as raised:
        load_reference_state_dict(path)
    message = str(raised.value)  # ... but not torch's advice to allow arbitrary code or globals
    assert "weights_only" not in message and "safe_globals" not in message and "trust" not in message


def test_training_checkpoint_with_auv_entry(tmp_path, reference_state):
    path = tmp_path / "ckpt_step5000.pt"
    torch.save({"step": 5000, "auv": reference_state}, path)
    model = model_from_reference_checkpoint(path)
    assert model.config.codebook_size == 512
