"""Token learnability: vocabulary, sequences, LM training/scoring, k-step accuracy, end-to-end run."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from code_stand_ins import CyclicCodec, NextCodeOracle, RandomCodec, items
from codec_testing import tiny_model
from llmcodec.evaluation.sources import AudioItem, folder_items
from llmcodec.evaluation.token_lm import run_token_lm
from llmcodec.evaluation.token_lm_data import LLMCodecCodes, collate, make_sequences, split_items
from llmcodec.evaluation.token_lm_model import (
    TokenLMConfig,
    anchor_positions,
    build_lm,
    k_step_accuracy,
    score_lm,
    train_lm,
)
from llmcodec.tokenizer.mapping import AudioTokenMap
from token_lm_testing import TINY_LM_SIZES


def test_vocabulary_and_sequences() -> None:
    vocab = AudioTokenMap.for_token_lm(64)
    assert (vocab.bos_id, vocab.pad_id, vocab.vocab_size, vocab.first_id) == (64, 65, 66, 0)
    qwen = AudioTokenMap.for_token_lm(20480, "qwen")
    assert (qwen.first_id, qwen.vocab_size, qwen.bos_id) == (151669, 172149, 151643)
    seqs = make_sequences([list(range(20)), [1, 2, 3]], vocab, max_codes=8, min_codes=4)
    assert [s.tolist() for s in seqs] == [[64, *range(8)], [64, *range(8, 16)], [64, 16, 17, 18, 19]]
    batch = collate(seqs, vocab.pad_id)
    assert batch["input_ids"].shape == (3, 9)
    assert batch["labels"][2].tolist() == [-100, 16, 17, 18, 19, -100, -100, -100, -100]
    assert batch["attention_mask"][2].tolist() == [1] * 5 + [0] * 4
    with pytest.raises(ValueError, match="outside"):
        make_sequences([[70]], vocab)
    with pytest.raises(ValueError, match="vocabulary"):
        AudioTokenMap.for_token_lm(64, "bogus")


def test_split_by_folder_or_hash() -> None:
    named = [AudioItem("train/a.wav", "train", None), AudioItem("validation/b.wav", "validation", None)]
    train, held = split_items(named)
    assert [i.id for i in train] == ["train/a.wav"] and [i.id for i in held] == ["validation/b.wav"]
    many = [AudioItem(f"f{i}", "default", None) for i in range(200)]
    train, held = split_items(many, eval_fraction=0.1, seed=3)
    assert 8 <= len(held) <= 35 and len(train) + len(held) == 200
    assert [i.id for i in split_items(many, 0.1, 3)[1]] == [i.id for i in held]  # deterministic


def test_anchor_positions() -> None:
    assert anchor_positions(10, 5, 16) == [1, 2, 3, 4]
    assert anchor_positions(6, 5, 16) == []
    assert len(anchor_positions(300, 5, 16)) == 16


def test_untrained_lm_is_near_uniform_and_trained_lm_learns_a_cycle(tmp_path) -> None:
    vocab = AudioTokenMap.for_token_lm(64)
    rng = np.random.default_rng(0)
    codes = [list((np.arange(48) + rng.integers(8)) % 8) for _ in range(24)]
    train = make_sequences(codes[:20], vocab, max_codes=48)
    held = make_sequences(codes[20:], vocab, max_codes=48)
    config = TokenLMConfig(**TINY_LM_SIZES, epochs=12, batch_size=8, learning_rate=1e-2, max_codes=48, seed=0)
    model = build_lm(config, vocab)
    before = score_lm(model, held, vocab)
    assert before["uniform_perplexity"] == 64
    assert 30 < before["perplexity"] < 130  # random init: close to uniform over 64 codes
    assert before["perplexity_full_vocab"] > before["perplexity"] * 0.99
    metrics = train_lm(model, train, vocab, config, tmp_path / "trainer", held)
    after = score_lm(model, held, vocab)
    assert after["perplexity"] < 2.0, after  # far below the codebook size
    assert after["n_targets"] == 4 * 48
    assert metrics["eval_loss"] == pytest.approx(after["loss_full_vocab"], rel=0.05)
    result = k_step_accuracy(model, held, vocab, k_max=5, anchors_per_sequence=6)
    assert len(result["accuracy"]) == 5 and result["n_anchors"] == 4 * 6
    assert result["predictions"].shape == result["targets"].shape == (24, 5)
    assert min(result["accuracy"]) > 0.9
    # The rollout's first step is the teacher-forced argmax (left padding handled correctly).
    s = held[0]
    logits = model(input_ids=s[None]).logits[0, :, : vocab.n_codes]
    anchors = anchor_positions(s.numel(), 5, 6)
    assert result["predictions"][:6, 0].tolist() == logits[anchors].argmax(-1).tolist()


def test_k_step_accuracy_counts_exact_steps() -> None:
    """An LM that always predicts code 0: k-step accuracy is the share of zeros k steps ahead."""

    class Zero(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.p = torch.nn.Parameter(torch.zeros(1))

        def forward(self, input_ids, attention_mask=None, position_ids=None, past_key_values=None, use_cache=False):
            logits = torch.zeros(*input_ids.shape, 10)
            logits[..., 0] = 1.0
            return type("Out", (), {"logits": logits, "past_key_values": None})()

    vocab = AudioTokenMap.for_token_lm(8)
    seq = torch.tensor([8, 1, 0, 1, 0, 1, 0, 1, 0])  # anchors t=1..3; targets s[t+1..t+2]
    result = k_step_accuracy(Zero(), [seq], vocab, k_max=2, anchors_per_sequence=10)
    assert result["targets"].tolist() == [[0, 1], [1, 0], [0, 1], [1, 0], [0, 1], [1, 0]]
    assert result["accuracy"] == [0.5, 0.5]


E2E = dict(TINY_LM_SIZES, epochs=8, batch_size=8, learning_rate=1e-2, max_codes=32, eval_fraction=0.25,
           anchors_per_sequence=4)


def test_run_token_lm_end_to_end_learns_a_predictable_codec(tmp_path) -> None:
    # Measured: perplexity 1.84 (uniform: 64) and k-step accuracy 1.0 for k = 1..5 after 8 epochs.
    result = run_token_lm(CyclicCodec(), items(12), tmp_path / "a", TokenLMConfig(**E2E), progress=False)
    assert result["perplexity"] < 3.0, result["perplexity"]
    assert len(result["k_step_accuracy"]) == 5 and min(result["k_step_accuracy"]) > 0.9, result["k_step_accuracy"]
    saved = json.loads((tmp_path / "a" / "token_lm.json").read_text())
    assert saved["perplexity"] == pytest.approx(math.exp(saved["loss"]))
    assert saved["perplexity"] == pytest.approx(result["perplexity"])
    assert saved["files"]["train"] + saved["files"]["eval"] == 12
    assert (tmp_path / "a" / "lm" / "token_lm_vocab.json").is_file()
    assert "normalised over the audio codes" in (tmp_path / "a" / "token_lm.md").read_text()


def test_run_token_lm_finds_random_codes_unpredictable_and_is_deterministic(tmp_path) -> None:
    # Measured with the same budget: perplexity 75 (uniform: 64), k-step accuracy <= 0.03 (chance 1/64).
    first = run_token_lm(RandomCodec(), items(12), tmp_path / "a", TokenLMConfig(**E2E), progress=False)
    assert first["perplexity"] > 40, first["perplexity"]
    assert max(first["k_step_accuracy"]) < 0.15, first["k_step_accuracy"]
    second = run_token_lm(RandomCodec(), items(12), tmp_path / "b", TokenLMConfig(**E2E), progress=False)
    assert first["loss"] == pytest.approx(second["loss"], abs=1e-6)
    assert first["k_step_accuracy"] == second["k_step_accuracy"]


def test_token_lm_with_our_codec_and_a_bad_file(tmp_path) -> None:
    root = tmp_path / "corpus"
    for split, n in (("train", 4), ("validation", 2)):
        (root / split).mkdir(parents=True)
        for i in range(n):
            rng = np.random.default_rng(i + 10 * n)
            sf.write(root / split / f"{i}.wav", (0.1 * rng.standard_normal(16000)).astype(np.float32), 16000)
    (root / "train" / "bad.wav").write_bytes(b"not audio")
    codec = LLMCodecCodes(tiny_model())
    config = TokenLMConfig(**TINY_LM_SIZES, epochs=1, batch_size=4, max_codes=50, anchors_per_sequence=4)
    result = run_token_lm(codec, folder_items(root), tmp_path / "out", config, progress=False)
    assert result["files"] == {"train": 4, "eval": 2, "failed": {"train/bad.wav": result["files"]["failed"]["train/bad.wav"]}}
    assert result["eval_codes"] == 2 * 50 and result["codebook_size"] == 256
    # One epoch on four noise files learns next to nothing: near uniform over the 256 codes (measured 256.1).
    assert 128 < result["perplexity"] < 384 and len(result["k_step_accuracy"]) == 5


def test_score_lm_scores_the_next_code_not_the_current_one() -> None:
    vocab = AudioTokenMap.for_token_lm(16)
    windows = make_sequences([[(i + s) % 8 for i in range(30)] for s in range(3)], vocab, max_codes=30)
    right = score_lm(NextCodeOracle(16, 8, shift=1), windows, vocab)
    copy = score_lm(NextCodeOracle(16, 8, shift=0), windows, vocab)  # predicts the code it was just given
    # Every target but the first of each window (after BOS) is predicted exactly.
    assert right["loss"] == pytest.approx(3 * math.log(16) / 90, rel=1e-3), right["loss"]
    assert copy["loss"] > 25, copy["loss"]
    assert right["per_sequence"]["targets"] == [30, 30, 30]
    assert sum(right["per_sequence"]["nll"]) == pytest.approx(right["loss"] * 90, rel=1e-5)


def test_codes_cache_is_keyed_by_codec_weights_and_data_and_resumes(tmp_path) -> None:
    from llmcodec.evaluation.token_lm_data import codes_cache_dir, tokenize_items

    class Counting(CyclicCodec):
        calls = 0

        def encode(self, waveforms):
            Counting.calls += len(waveforms)
            return super().encode(waveforms)

    codec, data = Counting(), items(6)
    codec.identity = "weights-a"
    folder = codes_cache_dir(tmp_path, codec, data[:4], data[4:])
    first, _ = tokenize_items(codec, data[:4], folder / "train.jsonl", 2, progress=False)
    again, _ = tokenize_items(codec, data[:4], folder / "train.jsonl", 2, progress=False)
    assert Counting.calls == 4 and again == first  # the second pass read the cache
    assert codes_cache_dir(tmp_path, codec, data[:4], data[4:]) == folder
    assert codes_cache_dir(tmp_path, codec, data[:3], data[3:]) != folder  # another data list
    codec.identity = "weights-b"
    assert codes_cache_dir(tmp_path, codec, data[:4], data[4:]) != folder  # other weights
    assert json.loads((folder / "source.json").read_text())["codec_identity"] == "weights-a"


def test_split_holds_out_whole_speakers() -> None:
    many = [AudioItem(f"f{i}", "default", None) for i in range(300)]
    speakers = {f"f{i}": f"spk{i % 30}" for i in range(300)}
    train, held = split_items(many, eval_fraction=0.2, seed=1, speakers=speakers)
    assert held and train
    assert not {speakers[i.id] for i in train} & {speakers[i.id] for i in held}


def test_run_reports_file_level_intervals_and_bits_per_second(tmp_path) -> None:
    """The harness bootstraps per-FILE sums (not windows or tokens) and converts nats to bits/s at 50 codes/s."""
    from llmcodec.evaluation.learnability_stats import file_bootstrap
    from llmcodec.evaluation.ngram import UnigramLM
    from llmcodec.evaluation.output_folder import JsonlLog
    from llmcodec.evaluation.token_lm_data import code_windows

    result = run_token_lm(RandomCodec(), items(16), tmp_path / "a", TokenLMConfig(**{**E2E, "epochs": 1}),
                          progress=False, resamples=300)
    cache = Path(result["codes_cache"])
    codes = lambda split: {r["id"]: r["codes"] for r in JsonlLog(cache / f"{split}.jsonl").read()}  # noqa: E731
    train, held = codes("train"), codes("eval")
    unigram = UnigramLM(64).fit(code_windows([train[k] for k in sorted(train)], 64, 32)[0])
    # 75 codes per file = 3 windows of <= 32: per-file sums differ from per-window ones.
    per_file = [-unigram.log_probs(held[k][: 75 // 32 * 32 + 75 % 32]).sum() for k in sorted(held)]
    counts = [len(held[k]) for k in sorted(held)]
    want = file_bootstrap({"u": np.array(per_file)}, np.array(counts, dtype=float), resamples=300)["u"]
    got = result["intervals"]["unigram"]
    assert (got["mean"], got["lo"], got["hi"]) == pytest.approx((want["mean"], want["lo"], want["hi"]), rel=1e-9)
    assert got["mean_bits_per_second"] == pytest.approx(got["mean"] / math.log(2) * 50)
    assert result["frame_rate"] == 50 and result["uniform_loss"] == pytest.approx(math.log(64))
    assert result["intervals"]["gain_over_unigram"]["mean"] == pytest.approx(got["mean"] - result["loss"])


def test_score_lm_reports_each_sequence_in_the_callers_order() -> None:
    # Scored in order of length; each per-sequence sum must still belong to the sequence at that position.
    vocab = AudioTokenMap.for_token_lm(32)
    rng = np.random.default_rng(1)
    codes = [list(rng.integers(0, 32, size=n)) for n in (40, 12, 23, 9, 31, 10, 17)]
    sequences = make_sequences(codes, vocab, max_codes=48)
    model = build_lm(TokenLMConfig(**TINY_LM_SIZES, max_codes=48, seed=0), vocab)
    together = score_lm(model, sequences, vocab, batch_size=3)["per_sequence"]
    alone = [score_lm(model, [s], vocab)["per_sequence"] for s in sequences]
    assert together["targets"] == [a["targets"][0] for a in alone] == [len(c) for c in codes]
    assert together["nll"] == pytest.approx([a["nll"][0] for a in alone], rel=1e-4)


def test_training_batches_windows_of_similar_length(tmp_path, monkeypatch) -> None:
    import llmcodec.evaluation.token_lm_model as token_lm_model

    seen: list[int] = []
    original = token_lm_model.collate

    def recording_collate(rows, pad_id):
        batch = original(rows, pad_id)
        seen.append(int(batch["attention_mask"].sum()) / batch["attention_mask"].numel())
        return batch

    monkeypatch.setattr(token_lm_model, "collate", recording_collate)
    vocab = AudioTokenMap.for_token_lm(16)
    rng = np.random.default_rng(0)
    lengths = [int(n) for n in rng.permutation([8] * 24 + [60] * 24)]
    train = make_sequences([list(rng.integers(0, 16, size=n)) for n in lengths], vocab, max_codes=64)
    config = TokenLMConfig(**TINY_LM_SIZES, epochs=1, batch_size=4, max_codes=64, seed=0)
    train_lm(build_lm(config, vocab), train, vocab, config, tmp_path / "trainer")
    # Random batches of 4 mix 9- and 61-id windows (padding ~40 %); length-grouped ones hardly ever do.
    assert len(seen) == 12 and sum(seen) / len(seen) > 0.9, seen
