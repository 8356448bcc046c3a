"""Real recorded speech found in installed registry packages, converted into the offline corpus layout.

The packages, their licences and speakers are catalogued in :mod:`.recorded_sources`; which speakers are held
out is decided in :mod:`.recorded_split`. :func:`build_recorded_corpus` decodes every file to 16 kHz mono PCM-16
and writes the same layout as the synthetic corpus (``<split>/metadata.jsonl`` + ``<split>/<source>/<file>.wav``,
``corpus.json``), so ``llmcodec train`` reads it like any local folder. Whole speakers (a voice, a language folder,
a voice pack, a package) are held out for validation, never single files.

The recordings have no transcripts in these packages: ``text`` is empty, so the folder serves the
reconstruction stage; semantic alignment (which needs text) leaves these rows out with a warning.

Never put the evaluation recordings here (the ALSA clips, the bundled CMU ARCTIC example).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import soundfile as sf
from tqdm.auto import tqdm

from llmcodec.audio import save_text

from .recorded_sources import DEFAULT_VALIDATION_SOURCES, SOURCES, RecordedSource
from .recorded_split import assign_splits, collect_files

__all__ = ["DEFAULT_VALIDATION_SOURCES", "SOURCES", "RecordedCorpusReport", "RecordedSource", "available_sources",
           "build_recorded_corpus", "decode_to_wav", "read_native"]

SAMPLE_RATE = 16000
_FORMAT_VERSION = 1


@dataclass
class RecordedCorpusReport:
    out_dir: str
    sources: dict[str, dict] = field(default_factory=dict)  # name -> licence, package, files, hours, split
    missing_sources: dict[str, str] = field(default_factory=dict)  # name -> "apt-get install <package>"
    failed: dict[str, str] = field(default_factory=dict)  # input path -> error
    held_out: dict[str, str] = field(default_factory=dict)  # validation speaker -> why it is held out
    shared_recordings: list[list[str]] = field(default_factory=list)  # speakers with byte-identical files
    written: int = 0
    skipped_existing: int = 0
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return sum(s["files"] for s in self.sources.values())


def available_sources(names: Sequence[str] | None = None) -> tuple[list[RecordedSource], dict[str, str]]:
    """The requested sources whose files are installed, and an install hint for each missing one."""
    known = {s.name: s for s in SOURCES}
    unknown = [n for n in (names or []) if n not in known]
    if unknown:
        raise ValueError(f"unknown recorded source(s) {unknown}; known: {sorted(known)}")
    chosen = [known[n] for n in names] if names else list(SOURCES)
    present = [s for s in chosen if s.files()]
    missing = {s.name: f"apt-get install {s.package}" for s in chosen if not s.files()}
    return present, missing


def _target(out_dir: str, split: str, source: RecordedSource, path: str) -> str:
    digest = hashlib.sha1(f"{_FORMAT_VERSION}:{path}".encode()).hexdigest()[:8]
    stem = os.path.splitext(os.path.basename(path))[0]
    return os.path.join(out_dir, split, source.name, f"{stem}-{digest}.wav")


def decode_to_wav(path: str, target: str, input_format: str | None = None) -> None:
    """Decode ``path`` to 16 kHz mono PCM-16 at ``target`` (written atomically).

    Containers libsndfile reads (ogg, opus, wav, flac) are decoded in-process and resampled with torchaudio (an
    ffmpeg process per file costs more than the decoding); raw streams (G.722, GSM) and anything else go
    through ffmpeg.
    """
    os.makedirs(os.path.dirname(target), exist_ok=True)
    tmp = f"{target}.tmp{os.getpid()}.wav"
    try:
        if input_format is None and path.lower().endswith(_IN_PROCESS):
            _decode_in_process(path, tmp)
        else:
            _decode_with_ffmpeg(path, tmp, input_format)
        if sf.info(tmp).frames == 0:
            raise RuntimeError("decoded to 0 samples")
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


_IN_PROCESS = (".ogg", ".opus", ".wav", ".flac")


def read_native(path: str, input_format: str | None = None) -> tuple[np.ndarray, int]:
    """``(mono float32 (L,), native rate)`` of a recording, below full scale (see :func:`_below_full_scale`)."""
    if input_format is None and path.lower().endswith(_IN_PROCESS):
        data, rate = sf.read(path, dtype="float32", always_2d=True)
        return _below_full_scale(data.mean(axis=1)), rate
    proc = subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error",
                           *(["-f", input_format] if input_format else []), "-i", path, "-ac", "1", "-f", "f32le", "-"],
                          capture_output=True, timeout=120)
    if proc.returncode != 0 or not proc.stdout:
        lines = proc.stderr.decode(errors="replace").strip().splitlines()
        raise RuntimeError(lines[-1] if lines else f"ffmpeg exit {proc.returncode}, no audio")
    rate = _ffmpeg_rate(path, input_format)
    return _below_full_scale(np.frombuffer(proc.stdout, dtype=np.float32).copy()), rate


def _ffmpeg_rate(path: str, input_format: str | None) -> int:
    from .recorded_sources import RAW_FORMAT_RATES

    if input_format in RAW_FORMAT_RATES:
        return RAW_FORMAT_RATES[input_format]
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries", "stream=sample_rate",
                          "-of", "csv=p=0", path], capture_output=True, text=True, timeout=60)
    return int(out.stdout.strip())


def _below_full_scale(wave: np.ndarray) -> np.ndarray:
    """Scaled down to a 0.99 peak when the decoded float signal exceeds full scale, else unchanged.

    Vorbis decodes to float and keeps what was encoded above full scale (some klettres Setswana letters peak at
    20x full scale with an undistorted waveform): scaling keeps that waveform where clipping would distort it.
    """
    peak = float(np.abs(wave).max()) if wave.size else 0.0
    return wave * (0.99 / peak) if peak > 1.0 else wave


def _decode_in_process(path: str, tmp: str) -> None:
    import torch
    import torchaudio

    data, rate = read_native(path)
    if data.size == 0:
        raise RuntimeError("decoded to 0 samples")
    wave = torch.from_numpy(data)
    if rate != SAMPLE_RATE:
        wave = torchaudio.functional.resample(wave, rate, SAMPLE_RATE)
    sf.write(tmp, wave.clamp(-1.0, 1.0).numpy(), SAMPLE_RATE, subtype="PCM_16", format="WAV")


def _decode_with_ffmpeg(path: str, tmp: str, input_format: str | None) -> None:
    _ffmpeg_many([(path, tmp)], input_format)


def _ffmpeg_many(pairs: Sequence[tuple[str, str]], input_format: str | None) -> None:
    """One ffmpeg process decoding several inputs to their outputs (process start-up dominates short prompts)."""
    cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y"]
    for path, _ in pairs:
        cmd += (["-f", input_format] if input_format else []) + ["-i", path]
    for i, (_, out) in enumerate(pairs):
        cmd += ["-map", f"{i}:a", "-ac", "1", "-ar", str(SAMPLE_RATE), "-c:a", "pcm_s16le", out]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120 + 10 * len(pairs))
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"ffmpeg exit {proc.returncode}")


def _predecode_batches(todo: Sequence[tuple[str, str]], input_format: str, batch: int = 48) -> set[str]:
    """Decode raw streams in batches; a failed batch is left for the per-file path, which reports the culprit.

    Returns the targets written.
    """
    written: set[str] = set()
    for start in range(0, len(todo), batch):
        chunk = todo[start:start + batch]
        tmps = [(path, f"{target}.tmp{os.getpid()}.wav") for path, target in chunk]
        for _, target in chunk:
            os.makedirs(os.path.dirname(target), exist_ok=True)
        try:
            _ffmpeg_many(tmps, input_format)
            for (_, tmp), (_, target) in zip(tmps, chunk):
                if sf.info(tmp).frames > 0:
                    os.replace(tmp, target)
                    written.add(target)
        except (RuntimeError, OSError, subprocess.TimeoutExpired, sf.LibsndfileError):
            pass
        finally:
            for _, tmp in tmps:
                if os.path.exists(tmp):
                    os.remove(tmp)
    return written


def build_recorded_corpus(out_dir: str, sources: Sequence[str] | None = None,
                          validation_sources: Sequence[str] = DEFAULT_VALIDATION_SOURCES,
                          max_files_per_source: int | None = None) -> RecordedCorpusReport:
    """Decode the installed recorded sources into ``out_dir`` (resumable: existing files are kept).

    Args:
        validation_sources: sources or ``source:field`` speakers held out (with everyone who may be the same
            person, see :func:`~.recorded_split.assign_splits`).

    Raises:
        RuntimeError: ffmpeg is missing, or none of the requested sources is installed (with the apt hint).
        ValueError: an unknown source or validation speaker.
    """
    if shutil.which("ffmpeg") is None:
        raise RuntimeError("ffmpeg is needed to decode the recordings: apt-get install ffmpeg")
    t0 = time.perf_counter()
    present, missing = available_sources(sources)
    if not present:
        hints = "; ".join(missing.values())
        raise RuntimeError(f"no recorded speech source is installed ({hints})")
    report = RecordedCorpusReport(out_dir=out_dir, missing_sources=missing)
    listing = collect_files(present, max_files_per_source)
    plan = assign_splits(listing, validation_sources, SOURCES)
    report.held_out = plan.reason
    report.shared_recordings = [list(pair) for pair in listing.shared]
    rows: dict[str, list[str]] = {"train": [], "validation": []}
    for source in present:
        files = [f for f in listing.files if f.source is source]
        stats = {split: {"files": 0, "seconds": 0.0, "speakers": set()} for split in ("train", "validation")}
        predecoded: set[str] = set()
        if source.input_format:
            todo = [(f.path, _target(out_dir, plan.of(f.speaker), source, f.path)) for f in files]
            predecoded = _predecode_batches([(p, t) for p, t in todo if not os.path.exists(t)], source.input_format)
        for f in tqdm(files, desc=f"decode {source.name}", leave=False):
            split = plan.of(f.speaker)
            target = _target(out_dir, split, source, f.path)
            if target in predecoded:
                report.written += 1
            elif os.path.exists(target):
                report.skipped_existing += 1
            else:
                try:
                    decode_to_wav(f.path, target, source.input_format)
                    report.written += 1
                except (RuntimeError, OSError, subprocess.TimeoutExpired, sf.LibsndfileError) as error:
                    report.failed[f.path] = str(error)
                    continue
            duration = sf.info(target).frames / SAMPLE_RATE
            rows[split].append(json.dumps({
                "file_name": os.path.relpath(target, os.path.join(out_dir, split)), "text": "",
                "source": source.name, "speaker": f.speaker, "language": f.language, "licence": source.licence,
                "origin": f.path, "split": split, "duration": round(duration, 3),
            }, ensure_ascii=False))
            stats[split]["files"] += 1
            stats[split]["seconds"] += duration
            stats[split]["speakers"].add(f.speaker)
        report.sources[source.name] = _source_entry(source, stats, listing.duplicates.get(source.name, 0))
    for split, lines in rows.items():
        meta = os.path.join(out_dir, split, "metadata.jsonl")
        if lines:
            save_text(meta, "\n".join(lines) + "\n")
        elif os.path.isfile(meta):  # left by an earlier build whose speakers are now all in the other split
            os.remove(meta)
    report.seconds = time.perf_counter() - t0
    save_text(os.path.join(out_dir, "corpus.json"), json.dumps({"kind": "recorded", "report": asdict(report)},
                                                               indent=2, ensure_ascii=False))
    return report


def _source_entry(source: RecordedSource, stats: dict, duplicates: int) -> dict:
    splits = [split for split in ("train", "validation") if stats[split]["files"]]
    return {
        "package": source.package, "licence": source.licence, "language": source.language,
        "speakers": source.speakers, "split": "+".join(splits) or "none",
        "distinct_speaker_ids": len(stats["train"]["speakers"] | stats["validation"]["speakers"]),
        "files": sum(stats[s]["files"] for s in stats), "hours": round(sum(stats[s]["seconds"] for s in stats) / 3600, 3),
        "duplicates_left_out": duplicates,
        "by_split": {split: {"files": stats[split]["files"], "hours": round(stats[split]["seconds"] / 3600, 3),
                             "speakers": sorted(stats[split]["speakers"])} for split in splits},
    }
