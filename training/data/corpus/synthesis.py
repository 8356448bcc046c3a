"""Build the offline default speech corpus: synthesised English speech with transcripts.

Layout written under ``out_dir`` (loadable with ``datasets.load_dataset("audiofolder", data_dir=out_dir)``
or :func:`llmcodec.training.data.audio_dataset.load_audio_text_dataset`)::

    out_dir/train/metadata.jsonl              one JSON object per utterance (see METADATA_FIELDS)
    out_dir/train/<voice-slug>/<file>.wav     16 kHz mono PCM-16
    out_dir/validation/...                    whole speakers held out
    out_dir/corpus.json                       build settings, working/failed voices, counts

Every utterance's text, rate, pitch, warp and gain derive from ``(seed, voice, index)`` only, and its
file name carries a hash of them, so a build is deterministic, resumable (existing files are kept) and
a changed seed never reuses a stale file. Files are written to a temporary name and renamed.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from llmcodec.files import write_atomically

from llmcodec.training.data.corpus.text import sentence_for
from llmcodec.training.data.corpus.voices import ENGINES, Voice, default_voices, has_pitch, probe_voice, require_engine, synthesize

SAMPLE_RATE = 16000
METADATA_FIELDS = (
    "file_name", "text", "voice", "speaker", "engine", "rate", "pitch", "warp", "noise_db", "split", "duration",
)
# Speakers held out for validation by default: ~12% of the espeak-ng variants and one speaker each of
# flite and festival. Speakers that were never seen in training, under every accent.
DEFAULT_VALIDATION_SPEAKERS = (
    "espeak:f2", "espeak:m3", "espeak:klatt4", "espeak:Andy", "espeak:linda", "espeak:grandpa",
    "rms", "ked",
)
# The flite and festival voices are few but the closest to natural speech: each gets this many
# times ``utterances_per_voice`` so that the engines are roughly balanced in hours.
DEFAULT_ENGINE_WEIGHTS = {"espeak-ng": 1, "flite": 40, "festival": 40}
_FORMAT_VERSION = 2  # bump when synthesis or post-processing changes, to invalidate cached files


@dataclass
class CorpusConfig:
    """Settings of one corpus build.

    Attributes:
        utterances_per_voice: utterances per espeak-ng voice; other engines scale it by ``engine_weights``.
        rate_range, pitch_range: uniform ranges of the speaking-rate and F0 factors.
        warp_range: resampling factor applied after synthesis (shifts pitch, formants and tempo together,
            like speed perturbation), giving every voice a spread of pseudo-speakers.
        gain_range: peak level of the written audio.
        noise_db_range: level of a white noise floor (dB below the peak); synthesizers emit exact digital
            silence between words, which no microphone does.
    """

    utterances_per_voice: int = 4
    seed: int = 0
    engines: tuple[str, ...] = ENGINES
    engine_weights: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_ENGINE_WEIGHTS))
    validation_speakers: tuple[str, ...] = DEFAULT_VALIDATION_SPEAKERS
    rate_range: tuple[float, float] = (0.8, 1.25)
    pitch_range: tuple[float, float] = (0.8, 1.25)
    warp_range: tuple[float, float] = (0.94, 1.06)
    gain_range: tuple[float, float] = (0.3, 0.95)
    noise_db_range: tuple[float, float] = (-70.0, -50.0)
    max_voices: int | None = None  # keep only the first N catalogued voices (tests, quick runs)


@dataclass(frozen=True)
class Job:
    """One utterance to synthesize. ``rel_path`` is relative to the corpus root."""

    voice: Voice
    index: int
    split: str
    text: str
    rate: float
    pitch: float | None
    warp: float
    gain: float
    noise_db: float
    rel_path: str


@dataclass
class BuildReport:
    """What :func:`build_corpus` did."""

    out_dir: str
    voices_ok: list[str]
    voices_failed: dict[str, str]
    written: int
    skipped_existing: int
    failed: dict[str, str]
    seconds: float
    hours_of_audio: dict[str, float]

    @property
    def total(self) -> int:
        return self.written + self.skipped_existing


def split_of(voice: Voice, validation_speakers: Iterable[str]) -> str:
    """``"validation"`` if the voice's speaker is held out, else ``"train"``."""
    return "validation" if voice.speaker in set(validation_speakers) else "train"


def plan_jobs(voices: Sequence[Voice], cfg: CorpusConfig) -> list[Job]:
    """The deterministic list of utterances for ``voices`` under ``cfg``."""
    jobs: list[Job] = []
    for voice in voices:
        n = cfg.utterances_per_voice * cfg.engine_weights.get(voice.engine, 1)
        split = split_of(voice, cfg.validation_speakers)
        for i in range(n):
            r = random.Random(f"{cfg.seed}|{voice.key}|{i}|prosody")
            rate = round(r.uniform(*cfg.rate_range), 3)
            pitch = round(r.uniform(*cfg.pitch_range), 3) if has_pitch(voice) else None
            # Quantised to 0.01 so that the warp is a cheap 100*warp:100 resampling (see render).
            warp = round(r.uniform(*cfg.warp_range), 2)
            gain = round(r.uniform(*cfg.gain_range), 3)
            noise_db = round(r.uniform(*cfg.noise_db_range), 1)
            text = sentence_for(cfg.seed, voice.key, i)
            digest = hashlib.sha1(
                json.dumps([_FORMAT_VERSION, voice.key, text, rate, pitch, warp, gain, noise_db]).encode()
            ).hexdigest()[:10]
            rel = f"{split}/{voice.slug}/{voice.slug}_{i:04d}_{digest}.wav"
            jobs.append(Job(voice, i, split, text, rate, pitch, warp, gain, noise_db, rel))
    return jobs


def render(job: Job) -> np.ndarray:
    """Synthesize ``job`` and post-process it: mono, 16 kHz, warp, peak ``gain``, noise floor.

    Returns:
        float32 samples of shape ``(T,)`` at 16 kHz.
    """
    import torch
    import torchaudio.functional as AF

    wave, sr = synthesize(job.voice, job.text, rate=job.rate, pitch=job.pitch or 1.0)
    x = torch.from_numpy(np.ascontiguousarray(wave, dtype=np.float32))
    if sr != SAMPLE_RATE:
        x = AF.resample(x, sr, SAMPLE_RATE)
    # Reading the samples as if recorded at 16 kHz * warp moves pitch and formants by `warp`. The
    # rates go in as 100*warp : 100, since nearly coprime rates would make a huge sinc kernel.
    w = int(round(100 * job.warp))
    if w != 100:
        x = AF.resample(x, w, 100)
    peak = float(x.abs().max())
    if peak < 1e-4:
        raise RuntimeError(f"{job.voice.key} produced silence for {job.text!r}")
    x = x * (job.gain / peak)
    noise_rng = np.random.default_rng(int(hashlib.sha1(job.rel_path.encode()).hexdigest()[:8], 16))
    noise = noise_rng.standard_normal(x.shape[0]).astype(np.float32) * job.gain * 10 ** (job.noise_db / 20)
    return np.clip(x.numpy() + noise, -1.0, 1.0).astype(np.float32)


def _write_atomic_wav(path: str, x: np.ndarray) -> None:
    # ".tmp" in the temporary name: an interrupted build's leftovers are found by ``_remove_partial_files``.
    write_atomically(path, lambda tmp: sf.write(tmp, x, SAMPLE_RATE, subtype="PCM_16", format="WAV"), suffix=".tmp")


def _run_job(job: Job, out_dir: str) -> tuple[str, str | None]:
    """Render and write one job; returns ``(rel_path, error or None)``. Runs in worker processes."""
    try:
        _write_atomic_wav(os.path.join(out_dir, job.rel_path), render(job))
        return job.rel_path, None
    except Exception as e:  # one bad utterance must not stop the build
        return job.rel_path, f"{type(e).__name__}: {e}"


def _init_worker() -> None:
    import torch

    torch.set_num_threads(1)  # processes give the parallelism; threads would oversubscribe


def _map(fn, items: list, workers: int, desc: str, **kwargs) -> Iterable:
    """``fn(item, **kwargs)`` over ``items`` with a tqdm bar, in a process pool when ``workers > 1``."""
    from tqdm.auto import tqdm

    bar = tqdm(total=len(items), desc=desc, unit="utt" if desc != "probe voices" else "voice")
    try:
        if workers <= 1:
            for item in items:
                yield fn(item, **kwargs)
                bar.update()
        else:
            with ProcessPoolExecutor(max_workers=workers, initializer=_init_worker) as pool:
                futures = [pool.submit(fn, item, **kwargs) for item in items]
                for fut in as_completed(futures):
                    yield fut.result()
                    bar.update()
    finally:
        bar.close()


def _probe(voice: Voice) -> tuple[Voice, str | None]:
    return voice, probe_voice(voice)


def working_voices(engines: Sequence[str] = ENGINES, workers: int = 1,
                   max_voices: int | None = None) -> tuple[list[Voice], dict[str, str]]:
    """Catalogued voices of ``engines`` that produce non-silent audio here, and why the others failed.

    Raises:
        SynthesisError: if an engine's binary is missing (names the apt packages to install).
    """
    for e in engines:
        require_engine(e)
    voices = default_voices(tuple(engines))
    if max_voices is not None:
        voices = _spread(voices, max_voices)
    ok: list[Voice] = []
    failed: dict[str, str] = {}
    for voice, err in _map(_probe, voices, workers, "probe voices"):
        if err is None:
            ok.append(voice)
        else:
            failed[voice.key] = err
    order = {v.key: i for i, v in enumerate(voices)}
    return sorted(ok, key=lambda v: order[v.key]), failed


def _spread(voices: list[Voice], n: int) -> list[Voice]:
    """``n`` voices spread over the engines (round-robin), for small builds."""
    by_engine: dict[str, list[Voice]] = {}
    for v in voices:
        by_engine.setdefault(v.engine, []).append(v)
    out: list[Voice] = []
    queues = [list(vs) for vs in by_engine.values()]
    while len(out) < n and any(queues):
        for q in queues:
            if q and len(out) < n:
                out.append(q.pop(0))
    return out


def build_corpus(out_dir: str, cfg: CorpusConfig | None = None, workers: int = 1) -> BuildReport:
    """Synthesize the corpus into ``out_dir`` (resumable) and write its metadata.

    Raises:
        SynthesisError: if a requested engine is missing.
        RuntimeError: if no voice works.
    """
    cfg = cfg or CorpusConfig()
    t0 = time.perf_counter()
    os.makedirs(out_dir, exist_ok=True)
    _remove_partial_files(out_dir)
    voices, voices_failed = working_voices(cfg.engines, workers, cfg.max_voices)
    if not voices:
        raise RuntimeError(f"no working voice among engines {cfg.engines}: {voices_failed}")
    jobs = plan_jobs(voices, cfg)
    todo = [j for j in jobs if not os.path.exists(os.path.join(out_dir, j.rel_path))]
    failed: dict[str, str] = {}
    for rel, err in _map(_run_job, todo, workers, "synthesize", out_dir=out_dir):
        if err is not None:
            failed[rel] = err
    done = [j for j in jobs if j.rel_path not in failed]
    hours = _write_metadata(out_dir, done)
    report = BuildReport(
        out_dir=out_dir,
        voices_ok=[v.key for v in voices],
        voices_failed=voices_failed,
        written=len(todo) - len(failed),
        skipped_existing=len(jobs) - len(todo),
        failed=failed,
        seconds=time.perf_counter() - t0,
        hours_of_audio=hours,
    )
    summary = {"config": asdict(cfg), "report": asdict(report)}
    _write_text_atomic(os.path.join(out_dir, "corpus.json"), json.dumps(summary, indent=2, default=str))
    return report


def _remove_partial_files(out_dir: str) -> None:
    """Delete temporary files left by an interrupted build (they would look like audio to audiofolder)."""
    for dirpath, _, files in os.walk(out_dir):
        for fn in files:
            if ".tmp" in fn:
                os.remove(os.path.join(dirpath, fn))


def _write_metadata(out_dir: str, jobs: list[Job]) -> dict[str, float]:
    """Write ``<split>/metadata.jsonl`` for every split; returns hours of audio per split."""
    rows: dict[str, list[str]] = {}
    hours: dict[str, float] = {}
    for j in jobs:
        path = os.path.join(out_dir, j.rel_path)
        duration = sf.info(path).frames / SAMPLE_RATE
        row = {
            # audiofolder wants file_name relative to the metadata file, which sits in the split folder.
            "file_name": j.rel_path.split("/", 1)[1],
            "text": j.text, "voice": j.voice.key, "speaker": j.voice.speaker,
            "engine": j.voice.engine, "rate": j.rate, "pitch": j.pitch, "warp": j.warp, "noise_db": j.noise_db,
            "split": j.split, "duration": round(duration, 3),
        }
        rows.setdefault(j.split, []).append(json.dumps(row, ensure_ascii=False))
        hours[j.split] = hours.get(j.split, 0.0) + duration / 3600
    for split, lines in rows.items():
        _write_text_atomic(os.path.join(out_dir, split, "metadata.jsonl"), "\n".join(lines) + "\n")
    return hours


def _write_text_atomic(path: str, text: str) -> None:
    write_atomically(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"), suffix=".tmp")
