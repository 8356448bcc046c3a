"""SALMon-style protocol: perturbations, pairing, scoring with a known answer, the LM scorer, the CLI."""

from __future__ import annotations

import argparse
import json

import pytest
import soundfile as sf
import torch

from code_stand_ins import SR, BandLevelCodec, sine
from llmcodec import cli_evaluation
from llmcodec.errors import UserError
from llmcodec.evaluation.salmon import (
    CausalLMScorer,
    SalmonConfig,
    add_noise_middle,
    make_pairs,
    pairs_from_items,
    reverb_second_half,
    score_pairs,
    speakers_from_metadata,
    splice_speakers,
)
from llmcodec.evaluation.token_lm_data import make_sequences
from llmcodec.evaluation.token_lm_model import TokenLMConfig, build_lm, score_lm
from llmcodec.tokenizer.mapping import AudioTokenMap
from token_lm_testing import TINY_LM_SIZES


def change_penalty(code_lists):
    """A known 'LM': every change of code between neighbours costs 5 nats."""
    return [-5.0 * float((c[1:] != c[:-1]).sum()) for c in code_lists]


def test_perturbations_touch_only_their_region() -> None:
    a, b = sine(200), sine(1500, amplitude=0.05)
    generator = torch.Generator().manual_seed(0)
    spliced = splice_speakers(a, b)
    half = a.numel() // 2
    assert spliced.shape == a.shape and torch.equal(spliced[:half], a[:half])
    assert spliced[half:].pow(2).mean().sqrt() == pytest.approx(float(a[half:].pow(2).mean().sqrt()), rel=1e-3)
    noisy = add_noise_middle(a, 5.0, generator)
    third, two_thirds = a.numel() // 3, 2 * a.numel() // 3
    assert torch.equal(noisy[:third], a[:third]) and torch.equal(noisy[two_thirds:], a[two_thirds:])
    snr = 10 * torch.log10(a.pow(2).mean() / (noisy - a)[third:two_thirds].pow(2).mean())
    assert float(snr) == pytest.approx(5.0, abs=0.3)
    wet = reverb_second_half(a, 0.8, generator)
    assert torch.equal(wet[:half], a[:half]) and not torch.allclose(wet[half:], a[half:], atol=1e-3)


def test_pairs_respect_speakers_and_lengths() -> None:
    clips = [("a", sine(200), "s1"), ("b", sine(300), "s1"), ("c", sine(900), "s2"), ("short", sine(200, 0.5), "s3")]
    pairs = make_pairs(clips, ["speaker", "noise"], SalmonConfig(clip_seconds=1.5, seed=1))
    assert {p.id for p in pairs} == {"a", "b", "c"}  # the short clip is skipped
    for pair in pairs:
        assert pair.consistent.numel() == pair.perturbed.numel() == int(1.5 * SR)
    # a and b share speaker s1: their spliced partner must be c (900 Hz, the only other speaker).
    codec = BandLevelCodec()
    for pair in (p for p in pairs if p.perturbation == "speaker" and p.id in "ab"):
        band_after = codec.encode([pair.perturbed])[0][-1] // 32
        assert int(band_after) == int(codec.encode([sine(900)])[0][0] // 32)
    with pytest.raises(ValueError, match="unknown perturbation"):
        make_pairs(clips, ["gender"])


class _Item:
    """An `AudioItem` stand-in: `load()` gives `(samples, rate)`, or raises for an unreadable file."""

    def __init__(self, item_id: str, audio: torch.Tensor | None) -> None:
        self.id, self.audio = item_id, audio

    def load(self):
        if self.audio is None:
            raise OSError("unreadable")
        return self.audio.numpy(), SR


def test_pairs_from_items_leaves_out_unreadable_items_and_names_the_count_when_there_is_no_pair() -> None:
    items = [_Item("a", sine(200)), _Item("broken", None), _Item("short", sine(300, 0.5))]
    pairs = pairs_from_items(items, {"a": "s1"}, lambda clips: [(i, s) for i, _, s in clips], "none")
    assert pairs == [("a", "s1"), ("short", None)]  # the unreadable item is left out, speakers looked up by id
    with pytest.raises(ValueError, match=r"^no pairs here \(2 readable clips given\)$"):
        pairs_from_items(items, None, lambda clips: [], "no pairs here")


def test_known_answer_accuracy() -> None:
    clips = [(f"c{i}", sine(f), f"spk{i}") for i, f in enumerate((300, 1300, 2300, 3300, 4300))]  # one band each
    pairs = make_pairs(clips, config=SalmonConfig(clip_seconds=2.0, seed=0))
    assert len(pairs) == 15
    result = score_pairs(pairs, BandLevelCodec().encode, change_penalty)
    assert result["accuracy"] == {"speaker": 1.0, "noise": 1.0, "reverb": 1.0}
    assert result["overall"] == 1.0 and result["counts"] == {"speaker": 5, "noise": 5, "reverb": 5}
    # An LM that cannot tell the clips apart scores exactly chance (all ties).
    flat = score_pairs(pairs, BandLevelCodec().encode, lambda codes: [0.0] * len(codes))
    assert flat["accuracy"]["noise"] == 0.5 and flat["ties"]["noise"] == 5 and flat["chance"] == 0.5
    # An LM that prefers changes is always wrong.
    contrarian = score_pairs(pairs, BandLevelCodec().encode, lambda codes: [-x for x in change_penalty(codes)])
    assert contrarian["overall"] == 0.0


def test_causal_lm_scorer_matches_score_lm() -> None:
    vocab = AudioTokenMap.for_token_lm(32)
    model = build_lm(TokenLMConfig(**TINY_LM_SIZES, max_codes=64), vocab)
    codes = [torch.arange(20) % 7, torch.arange(9) % 5]
    scores = CausalLMScorer(model, vocab)(codes)
    for c, s in zip(codes, scores):
        reference = score_lm(model, make_sequences([c.tolist()], vocab, 64, 1), vocab)
        assert s == pytest.approx(-reference["loss"] * reference["n_targets"], rel=1e-4)


def test_salmon_cli_with_token_lm_output(tmp_path, capsys) -> None:
    """token-lm trains and saves an LM; salmon loads it, reads speakers from metadata.jsonl, writes reports."""
    from codec_testing import tiny_model
    from llmcodec.hub import save_codec_folder

    root = tmp_path / "corpus"
    rows = []
    for split, n in (("train", 4), ("validation", 3)):
        (root / split).mkdir(parents=True)
        for i in range(n):
            name = f"{i}.wav"
            sf.write(root / split / name, sine(150 + 200 * i + 50 * n, 1.2).numpy(), SR)
            rows.append((split, {"file_name": name, "speaker": f"{split}{i}"}))
    for split in ("train", "validation"):
        (root / split / "metadata.jsonl").write_text("".join(json.dumps(r) + "\n" for s, r in rows if s == split))
    assert speakers_from_metadata(root)["validation/2.wav"] == "validation2"
    save_codec_folder(tiny_model(), tmp_path / "codec")

    parser = argparse.ArgumentParser(prog="llmcodec")
    cli_evaluation.add_subcommands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["token-lm", "--codec", str(tmp_path / "codec"), "--data", str(root),
                              "--output", str(tmp_path / "lm"), "--epochs", "1", "--hidden-size", "32",
                              "--layers", "1", "--salmon", "--salmon-seconds", "1.0"])
    assert args.func(args) == 0
    result = json.loads((tmp_path / "lm" / "token_lm.json").read_text())
    assert result["files"]["eval"] == 3 and len(result["k_step_accuracy"]) == 5
    salmon = json.loads((tmp_path / "lm" / "salmon.json").read_text())
    assert set(salmon["accuracy"]) == {"speaker", "noise", "reverb"} and salmon["counts"]["noise"] == 3
    assert "perplexity" in capsys.readouterr().err

    args = parser.parse_args(["salmon", "--codec", str(tmp_path / "codec"), "--lm", str(tmp_path / "lm" / "lm"),
                              "--data", str(root / "validation"), "--output", str(tmp_path / "s2"),
                              "--clip-seconds", "1.0", "--perturbations", "noise,reverb"])
    assert args.func(args) == 0
    again = json.loads((tmp_path / "s2" / "salmon.json").read_text())
    assert again["accuracy"]["noise"] == salmon["accuracy"]["noise"]  # same LM, same pairs: same answer
    assert (tmp_path / "s2" / "salmon.md").read_text().startswith("# SALMon")
    args = parser.parse_args(["salmon", "--codec", str(tmp_path / "codec"), "--lm", str(tmp_path),
                              "--data", str(root), "--output", str(tmp_path / "s3")])
    with pytest.raises(UserError, match="token-lm"):  # not an LM folder: a clear error, not a traceback
        args.func(args)


from remote_code_testing import answer_yes, plant_remote_code  # noqa: E402,F401 - the fixture is used by name


def test_scorer_never_runs_custom_code_of_an_lm_folder(tmp_path, answer_yes) -> None:
    vocab = AudioTokenMap.for_token_lm(32)
    folder = tmp_path / "lm"
    vocab.save_token_lm(folder)
    plant_remote_code(folder, tmp_path / "marker")  # an unknown model type whose auto_map names custom_code.py
    with pytest.raises(ValueError):
        CausalLMScorer.from_folder(folder)
    assert answer_yes == [] and not (tmp_path / "marker").exists()
