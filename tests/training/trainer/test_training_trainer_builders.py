"""``builders``: the discriminator can start from a previous run (``disc_init``), and a bad one is one clear error."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from llmcodec.training.trainer import TrainingSetupError, build_discriminator
from trainer_testing import tiny_args


def test_disc_init_loads_a_checkpoint_folder_or_file(tmp_path):
    _, _, args = tiny_args(tmp_path)
    trained = build_discriminator(args)
    with torch.no_grad():
        for p in trained.parameters():
            p.add_(1.0)  # anything a fresh init cannot produce
    (tmp_path / "checkpoint-5").mkdir()
    save_file({k: v.contiguous() for k, v in trained.state_dict().items()}, tmp_path / "checkpoint-5" / "discriminator.safetensors")
    fresh = build_discriminator(args)
    for source in (tmp_path / "checkpoint-5", tmp_path / "checkpoint-5" / "discriminator.safetensors"):
        loaded = build_discriminator(tiny_args(tmp_path, disc_init=str(source))[2])
        for (name, a), b, c in zip(loaded.state_dict().items(), trained.state_dict().values(), fresh.state_dict().values()):
            assert torch.equal(a, b) and not torch.equal(a, c), name


def test_a_missing_or_mismatched_disc_init_is_named(tmp_path):
    with pytest.raises(TrainingSetupError, match="disc_init: .*not found"):
        build_discriminator(tiny_args(tmp_path, disc_init=str(tmp_path / "nowhere"))[2])
    other = build_discriminator(tiny_args(tmp_path, disc_channels=[4, 4, 4, 4, 4])[2])
    path = tmp_path / "d.safetensors"
    save_file({k: v.contiguous() for k, v in other.state_dict().items()}, path)
    with pytest.raises(TrainingSetupError, match="disc_init: cannot load .*size mismatch"):
        build_discriminator(tiny_args(tmp_path, disc_init=str(path))[2])


def test_codec_config_on_top_of_codec_init_reaches_the_features(tmp_path):
    """A run that switches an inference-time option on (`codec_config` over `codec_init`) trains with it: the
    front end of the loaded codec computes the same features as a codec built with that config."""
    from codec_testing import speechlike, tiny_model

    from llmcodec.hub import save_codec_folder
    from llmcodec.training.trainer.builders import load_codec_for_training

    save_codec_folder(tiny_model(seed=3), tmp_path / "init")
    model_args, _, _ = tiny_args(tmp_path / "run", codec_init=str(tmp_path / "init"),
                                 codec_config={"spectral_floor": 0.1})
    codec = load_codec_for_training(model_args)
    reference = tiny_model(seed=3, spectral_floor=0.1)
    reference.load_state_dict(codec.state_dict())
    audio = speechlike(16000)[None] * 0.01
    with torch.no_grad():
        got = codec.encoder.stft_frontend(audio)
        expected = reference.encoder.stft_frontend(audio)
        unfloored = tiny_model(seed=3).encoder.stft_frontend(audio)
    torch.testing.assert_close(got, expected)
    assert not torch.allclose(got, unfloored)


def test_codec_config_on_top_of_codec_init_reaches_the_vq_loss(tmp_path):
    """`commitment_weight` / `codebook_loss_weight` set over `codec_init` weigh the VQ loss of the loaded codec."""
    from codec_testing import speechlike, tiny_model

    from llmcodec.hub import save_codec_folder
    from llmcodec.training.trainer.builders import load_codec_for_training

    save_codec_folder(tiny_model(seed=3), tmp_path / "init")
    losses = {}
    for weight in (0.25, 2.0):
        model_args, _, _ = tiny_args(tmp_path / f"run{weight}", codec_init=str(tmp_path / "init"),
                                     codec_config={"commitment_weight": weight, "codebook_loss_weight": 0.0})
        codec = load_codec_for_training(model_args).train()
        with torch.no_grad():
            losses[weight] = float(codec(speechlike(16000)[None] * 0.1).vq_loss.mean())
    assert losses[0.25] > 0
    assert losses[2.0] == pytest.approx(8 * losses[0.25], rel=1e-4)
