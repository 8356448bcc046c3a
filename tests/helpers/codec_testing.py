"""Helpers for codec tests: tiny configs and random-weight reference (`auv`) models."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import torch

from llmcodec.modeling import LLMCodecConfig, LLMCodecModel

RELEASED_ENCODER = {"hop_length": 320, "num_layers": 8, "hidden_size": 512, "ffn_mult": 4, "max_position_embeddings": 4096}
RELEASED_DECODER = {"hop_length": 320, "num_layers": 12, "hidden_size": 512, "ffn_mult": 4, "max_position_embeddings": 4096}
RELEASED_PARTITIONS = {"speech": [0, 8192], "vocal": [0, 12288], "music": [0, 20480], "audio": [0, 20480], "other": [12288, 20480]}


def tiny_config(**overrides) -> LLMCodecConfig:
    values = dict(
        hidden_size=64,
        encoder_num_layers=2,
        decoder_num_layers=2,
        num_attention_heads=4,
        head_dim=16,
        codebook_size=256,
        codebook_dim=8,
        codebook_partitions={"speech": [0, 128], "other": [128, 256]},
    )
    values.update(overrides)
    return LLMCodecConfig(**values)


def tiny_model(seed: int = 0, **overrides) -> LLMCodecModel:
    torch.manual_seed(seed)
    return LLMCodecModel(tiny_config(**overrides)).eval()


def randomize_batchnorm(module: torch.nn.Module, seed: int = 0) -> None:
    """Give BatchNorm layers non-trivial running statistics so conversion of them is actually tested."""
    generator = torch.Generator().manual_seed(seed)
    for layer in module.modules():
        if isinstance(layer, torch.nn.BatchNorm1d):
            layer.running_mean.copy_(torch.randn(layer.running_mean.shape, generator=generator) * 0.1)
            layer.running_var.copy_(torch.rand(layer.running_var.shape, generator=generator) + 0.5)
            layer.weight.data.copy_(torch.rand(layer.weight.shape, generator=generator) + 0.5)
            layer.num_batches_tracked.fill_(123)


def reference_auv(released: bool = False, seed: int = 0, partitions: dict | None = None):
    """A reference `auv.model.AUV` with random weights: the released architecture or a tiny one."""
    from auv.model import AUV
    from auv.modules.codec import AUVCodecDec, AUVCodecEncWithVQ

    torch.manual_seed(seed)
    if released:
        encoder, decoder = dict(RELEASED_ENCODER), dict(RELEASED_DECODER)
        codebook_size = 20480
        partitions = dict(RELEASED_PARTITIONS) if partitions is None else partitions
    else:
        encoder = {"hop_length": 320, "num_layers": 2, "hidden_size": 64, "ffn_mult": 4, "max_position_embeddings": 4096}
        decoder = dict(encoder, num_layers=3)
        codebook_size = 512
    vq = {
        "vq_type": "fvq",
        "num_quantizers": 1,
        "dim": encoder["hidden_size"],
        "codebook_size": codebook_size,
        "codebook_dim": 8,
        "commitment": 0.25,
        "codebook_partition_maps": None if partitions is None else {k: list(v) for k, v in partitions.items()},
    }
    model = AUV()
    model.tokenizer = AUVCodecEncWithVQ(sample_rate=16000, enc_conf=encoder, vq_conf=vq)
    model.token2wav = AUVCodecDec(dec_conf=decoder)
    randomize_batchnorm(model, seed)
    return model.eval()


def speechlike(num_samples: int, seed: int = 0, sample_rate: int = 16000) -> torch.Tensor:
    """A deterministic harmonic signal with a moving pitch and noise, shape `(num_samples,)`."""
    generator = torch.Generator().manual_seed(seed)
    t = torch.arange(num_samples) / sample_rate
    f0 = 120 + 40 * torch.sin(2 * torch.pi * 0.7 * t)
    phase = 2 * torch.pi * torch.cumsum(f0, 0) / sample_rate
    signal = sum(torch.sin(k * phase) / k for k in range(1, 8)) * 0.2
    envelope = 0.5 + 0.5 * torch.sin(2 * torch.pi * 3 * t).abs()
    return (signal * envelope + 0.01 * torch.randn(num_samples, generator=generator)).float()


def espeak_speech(folder: Path, text: str, sample_rate: int = 16000) -> torch.Tensor:
    """`text` spoken by espeak-ng, resampled to `sample_rate`, shape `(num_samples,)` float32.

    Fails (not skips) the calling test when the Debian package ``espeak-ng`` is missing.
    """
    import soundfile as sf
    import torchaudio

    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is required for speech test audio: apt-get install -y espeak-ng")
    path = folder / "speech.wav"
    subprocess.run(["espeak-ng", "-w", str(path), text], check=True, capture_output=True)
    audio, rate = sf.read(path, dtype="float32")
    return torchaudio.functional.resample(torch.from_numpy(audio), rate, sample_rate)


def tiny_model_dir_fixture(seed: int):
    """A module-scoped fixture: `tiny_model(seed)` saved as an exported folder; yields the folder's path.

    Use as ``model_dir = tiny_model_dir_fixture(seed=31)`` in a test module.
    """

    @pytest.fixture(scope="module")
    def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
        from llmcodec.hub import save_codec_folder

        return save_codec_folder(tiny_model(seed=seed), tmp_path_factory.mktemp("models") / "tiny")

    return model_dir


def fake_hub(monkeypatch: pytest.MonkeyPatch, repos: dict[str, Path]) -> list[tuple[str, str]]:
    """Replaces `hf_hub_download` by a lookup in local folders (`repos`: repo id -> folder); returns the list
    the fake appends each requested `(repo_id, filename)` to. A missing file raises `EntryNotFoundError`."""
    from huggingface_hub.errors import EntryNotFoundError

    calls = []

    def fake_download(repo_id, filename, **kwargs):
        calls.append((repo_id, filename))
        path = repos[repo_id] / filename
        if not path.is_file():
            raise EntryNotFoundError(f"{filename} not in {repo_id}")
        return str(path)

    monkeypatch.setattr("huggingface_hub.hf_hub_download", fake_download)
    return calls


def fake_swivid_auv(folder: Path, monkeypatch: pytest.MonkeyPatch, seed: int):
    """The recipe's base repo SWivid/AUV on a `fake_hub`: a tiny random reference model saved as its raw `auv.pt`
    (no LLM-Codec config.json). Returns the reference model and the fake's list of downloads."""
    repo = folder / "SWivid--AUV"
    repo.mkdir()
    reference = reference_auv(released=False, seed=seed)
    torch.save(reference.state_dict(), repo / "auv.pt")
    return reference, fake_hub(monkeypatch, {"SWivid/AUV": repo})


def assert_codes_match_reference(model: LLMCodecModel, reference) -> None:
    """`model` encodes a short speech-like clip to exactly the reference model's codes."""
    clip = speechlike(6000)
    with torch.inference_mode():
        assert torch.equal(model.encode(clip[None, None]).audio_codes, reference.tokenizer(clip[None])["tokens"][0])
