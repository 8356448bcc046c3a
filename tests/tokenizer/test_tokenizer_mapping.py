"""AudioTokenMap: exactness through the real tokenizer, batches with masks, bad input."""

from __future__ import annotations


import numpy as np
import pytest
import torch
from tokenizer_fixtures import base_tokenizer, extended_tokenizer  # noqa: F401

from llmcodec.tokenizer import AudioTokenMap


@pytest.fixture(scope="module")
def amap(extended_tokenizer):
    return AudioTokenMap.from_tokenizer(extended_tokenizer)


def test_layout_from_tokenizer(amap):
    assert (amap.first_id, amap.n_codes, amap.prefix) == (151_669, 20_480, "<CODEC_")


def test_base_tokenizer_has_no_layout(base_tokenizer):
    with pytest.raises(ValueError, match="consecutive ids"):
        AudioTokenMap.from_tokenizer(base_tokenizer)


def test_codec_string_is_one_id_per_code(amap, extended_tokenizer):
    rng = np.random.default_rng(0)
    # Edge codes whose strings share prefixes (1, 10, 100, …) plus random ones.
    codes = np.concatenate([[0, 1, 10, 100, 1000, 10000, 20479, 9, 99, 2047, 2048], rng.integers(0, 20480, 3000)])
    text = amap.codes_to_text(codes)
    ids = extended_tokenizer(text, add_special_tokens=False).input_ids
    assert len(ids) == len(codes)
    assert np.array_equal(ids, amap.codes_to_ids(codes))
    assert extended_tokenizer.decode(ids) == text  # no inserted spaces
    assert np.array_equal(amap.text_to_codes(text), codes)
    assert np.array_equal(amap.ids_to_codes(ids), codes)


def test_mixed_text_round_trips(amap, extended_tokenizer):
    audio = [5, 17, 0, 20479]
    text = f"Transcribe this:{amap.codes_to_text(audio[:2])} then 你好, world!{amap.codes_to_text(audio[2:])}\nDone."
    ids = extended_tokenizer(text, add_special_tokens=False).input_ids
    assert extended_tokenizer.decode(ids) == text
    codes, is_audio = amap.extract_codes(ids)
    assert codes[is_audio].tolist() == audio
    assert amap.ids_to_codes(ids, invalid="drop").tolist() == audio
    assert amap.text_to_codes(text, invalid="drop").tolist() == audio
    # Text around the audio is tokenized exactly as without it.
    plain = [i for i, a in zip(ids, is_audio) if not a]
    assert extended_tokenizer.decode(plain) == "Transcribe this: then 你好, world!\nDone."
    chat = extended_tokenizer.apply_chat_template(
        [{"role": "user", "content": text}], tokenize=False, add_generation_prompt=True
    )
    chat_ids = extended_tokenizer(chat, add_special_tokens=False).input_ids
    assert extended_tokenizer.decode(chat_ids) == chat
    assert amap.extract_codes(chat_ids)[0][amap.is_audio_id(chat_ids)].tolist() == audio


def test_batches_numpy_and_torch_with_masks(amap):
    codes = np.array([[5, 17, 3, 9], [1, 2, 0, 0]])
    mask = np.array([[1, 1, 1, 1], [1, 1, 0, 0]], dtype=bool)
    ids = amap.codes_to_ids(codes, mask=mask, pad_id=151_643)
    assert ids.dtype == np.int64 and ids.shape == (2, 4)
    assert ids[1, 2:].tolist() == [151_643, 151_643] and ids[0, 0] == 151_674
    back = amap.ids_to_codes(ids, mask=mask, pad_code=-1)
    assert back.tolist() == [[5, 17, 3, 9], [1, 2, -1, -1]]
    assert amap.codes_to_text(codes, mask=mask) == ["<CODEC_5><CODEC_17><CODEC_3><CODEC_9>", "<CODEC_1><CODEC_2>"]
    padded, pmask = amap.texts_to_codes(amap.codes_to_text(codes, mask=mask))
    assert np.array_equal(pmask, mask) and np.array_equal(padded[mask], codes[mask])

    t_codes = torch.tensor(codes, dtype=torch.int32)
    t_ids = amap.codes_to_ids(t_codes, mask=torch.tensor(mask), pad_id=0)
    assert isinstance(t_ids, torch.Tensor) and t_ids.dtype == torch.int64
    assert t_ids[0].tolist() == (codes[0] + 151_669).tolist() and t_ids[1, 2:].tolist() == [0, 0]
    t_back, t_audio = amap.extract_codes(t_ids)
    assert isinstance(t_back, torch.Tensor) and t_audio.tolist() == mask.tolist()
    assert amap.codes_to_text(t_codes[0]) == amap.codes_to_text(codes[0])
    assert amap.is_audio_id(torch.tensor([0, 151_669, 172_148, 172_149])).tolist() == [False, True, True, False]


@pytest.mark.parametrize("bad", [[0, 20480], [-1], np.array([3, 70000], dtype=np.int64)])
def test_out_of_range_codes(amap, bad):
    with pytest.raises(ValueError, match=r"codes outside \[0, 20480\)"):
        amap.codes_to_ids(bad)
    with pytest.raises(ValueError, match="outside"):
        amap.codes_to_text(bad)


@pytest.mark.parametrize("bad", [np.array([1.0, 2.0]), torch.tensor([1.5]), torch.tensor([True])])
def test_non_integer_codes(amap, bad):
    with pytest.raises(ValueError, match="integer"):
        amap.codes_to_ids(bad)


def test_non_audio_ids_and_other_errors(amap):
    with pytest.raises(ValueError, match="not audio tokens.*first 11 at position 1"):
        amap.ids_to_codes([151_669, 11])
    with pytest.raises(ValueError, match="not audio tokens"):
        amap.ids_to_codes(np.array([[151_669, 151_643]]))
    with pytest.raises(ValueError, match="1-D"):
        amap.ids_to_codes(np.array([[151_669]]), invalid="drop")
    with pytest.raises(ValueError, match="pad_id is required"):
        amap.codes_to_ids([1, 2], mask=[True, False])
    with pytest.raises(ValueError, match="mask shape"):
        amap.codes_to_ids([1, 2], mask=[True], pad_id=0)
    # Masked positions are not validated.
    assert amap.ids_to_codes([151_670, 5], mask=[True, False]).tolist() == [1, 0]


@pytest.mark.parametrize(
    "text, match",
    [("<CODEC_5> <CODEC_6>", "unexpected ' <CODEC_6>'"), ("<CODEC_05>", "unexpected"), ("hi", "unexpected 'hi'"),
     ("<CODEC_20480>", "outside"), ("<CODEC_5", "unexpected"), ("<CODEC_+5>", "unexpected"),
     ("<CODEC_ 5>", "unexpected"), ("<CODEC_1><CODEC_-1>", "unexpected '<CODEC_-1>'"), ("<CODEC_1>\n", "unexpected")],
)
def test_strict_text_errors(amap, text, match):
    with pytest.raises(ValueError, match=match):
        amap.text_to_codes(text)


def test_empty_inputs(amap):
    assert amap.text_to_codes("").shape == (0,)
    assert amap.codes_to_text([]) == ""
    assert amap.codes_to_ids(np.zeros(0, dtype=np.int64)).shape == (0,)


def test_an_hour_of_codes_round_trips(amap):
    # Speed (against the extended tokenizer, same run): benchmarks/bench_token_mapping.py.
    codes = np.random.default_rng(1).integers(0, 20480, 180_000)
    ids = amap.codes_to_ids(codes)
    back = amap.ids_to_codes(ids)
    text = amap.codes_to_text(back)
    again = amap.text_to_codes(text)
    assert np.array_equal(again, codes)


HUGE = "<CODEC_" + "9" * 400 + ">"


@pytest.mark.parametrize("token", ["<CODEC_20480>", "<CODEC_999999>", "<CODEC_05>", "<CODEC_00>", HUGE, "<CODEC_" + "9" * 5000 + ">"])
def test_one_rule_for_malformed_tokens(amap, token):
    # invalid="drop": never an audio token, dropped like any other text around the real ones.
    assert amap.text_to_codes(f"<CODEC_1>{token}x<CODEC_2>", invalid="drop").tolist() == [1, 2]
    assert amap.text_to_codes(token, invalid="drop").tolist() == []
    # invalid="raise": always ValueError (never OverflowError), alone or among valid tokens.
    for text in (token, f"<CODEC_1>{token}<CODEC_2>"):
        with pytest.raises(ValueError, match="outside|unexpected") as raised:
            amap.text_to_codes(text)
        assert len(str(raised.value)) < 300  # a 5000-digit token is not echoed whole


def test_out_of_range_token_is_named_with_its_position(amap):
    with pytest.raises(ValueError, match=r"outside \[0, 20480\) in text: 2 token\(s\), first <CODEC_999999> at char 9"):
        amap.text_to_codes("<CODEC_1><CODEC_999999><CODEC_20480>")


# ---- token LM vocabularies --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind, layout", [("codebook", (0, 64, 65, 66)), ("qwen", (151_669, 151_643, 151_643, 172_149))])
def test_token_lm_layout_is_saved_and_loaded_unchanged(tmp_path, kind, layout):
    import json

    vocab = AudioTokenMap.for_token_lm(64, kind)
    assert (vocab.first_id, vocab.bos_id, vocab.pad_id, vocab.vocab_size) == layout
    vocab.save_token_lm(tmp_path)
    stored = json.loads((tmp_path / "token_lm_vocab.json").read_text())
    assert stored == {"codebook_size": 64, "code_offset": layout[0], "bos_id": layout[1], "pad_id": layout[2],
                      "vocab_size": layout[3], "kind": kind}
    loaded = AudioTokenMap.load_token_lm(tmp_path)
    assert loaded.token_lm_dict() == vocab.token_lm_dict()
    assert loaded.codes_to_ids([0, 63]).tolist() == [layout[0], layout[0] + 63]


def test_token_lm_vocabulary_file_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="llmcodec token-lm"):
        AudioTokenMap.load_token_lm(tmp_path)
    (tmp_path / "token_lm_vocab.json").write_text('{"codebook_size": 64}')
    with pytest.raises(ValueError, match="not a token-LM vocabulary"):
        AudioTokenMap.load_token_lm(tmp_path)
    (tmp_path / "token_lm_vocab.json").write_text(
        '{"codebook_size": 64, "code_offset": 0, "bos_id": 70, "pad_id": 65, "vocab_size": 66, "kind": "codebook"}')
    with pytest.raises(ValueError, match="invalid layout"):
        AudioTokenMap.load_token_lm(tmp_path)
    with pytest.raises(ValueError, match="vocabulary must be"):
        AudioTokenMap.for_token_lm(64, "bogus")
