"""Real recorded speech found in installed registry packages, converted into the offline corpus layout.

Each :class:`RecordedSource` names the Debian package that carries the recordings, where the files lie, how
to decode them, their licence, language and speakers. :func:`build_recorded_corpus` decodes every file with
ffmpeg to 16 kHz mono PCM-16 and writes the same layout as the synthetic corpus
(``<split>/metadata.jsonl`` + ``<split>/<source>/<file>.wav``, ``corpus.json``), so ``llmcodec train`` reads it
like any local folder. Whole sources (speakers) are held out for validation, never single files.

The recordings have no transcripts in these packages: ``text`` is empty, so the folder serves the
reconstruction stage; semantic alignment (which needs text) leaves these rows out with a warning.

Never put the evaluation recordings here (the ALSA clips, the bundled CMU ARCTIC example).
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import soundfile as sf
from tqdm.auto import tqdm

from llmcodec.audio import save_text

SAMPLE_RATE = 16000
_FORMAT_VERSION = 1


@dataclass(frozen=True)
class RecordedSource:
    """Recordings shipped inside one package.

    Attributes:
        name: short id, also the sub-folder of the corpus.
        package: the Debian package that holds them (``apt-get install <package>``).
        pattern: glob of the files.
        licence: licence of the recordings (from the package's copyright file).
        language: language of the speech.
        speakers: who speaks (for the manifest).
        input_format: ffmpeg ``-f`` for raw streams without a container (G.722), else None.
        speaker_from_name: speaker id = the ``-``-separated field of the file name at this index (fillets-ng
            names files ``<level>-<speaker>-<line>.ogg``); None = one speaker, ``name``.
    """

    name: str
    package: str
    pattern: str
    licence: str
    language: str
    speakers: str
    input_format: str | None = None
    speaker_from_name: int | None = None

    def files(self) -> list[str]:
        return sorted(glob.glob(self.pattern, recursive=True))

    def speaker_of(self, path: str) -> str:
        if self.speaker_from_name is None:
            return self.name
        parts = os.path.splitext(os.path.basename(path))[0].split("-")
        field_ = parts[self.speaker_from_name] if len(parts) > self.speaker_from_name else "unknown"
        return f"{self.name}:{field_}"


_ASTERISK = "/usr/share/asterisk/sounds"
_FILLETS = "/usr/share/games/fillets-ng/sound"
SOURCES: tuple[RecordedSource, ...] = (
    RecordedSource("fillets-cs", "fillets-ng-data-cs", f"{_FILLETS}/*/cs/*.ogg", "GPL-2+", "Czech",
                   "acted game dialogue: two main voices and about 15 minor ones", speaker_from_name=1),
    RecordedSource("fillets-nl", "fillets-ng-data-nl", f"{_FILLETS}/*/nl/*.ogg", "GPL-2+", "Dutch",
                   "acted game dialogue: two main voices and minor ones", speaker_from_name=1),
    RecordedSource("asterisk-en", "asterisk-core-sounds-en-g722", f"{_ASTERISK}/en_US_f_Allison/**/*.g722",
                   "CC-BY-SA-3.0", "English (US)", "Allison Smith (female)", input_format="g722"),
    RecordedSource("asterisk-es", "asterisk-core-sounds-es-g722", f"{_ASTERISK}/es_MX_f_Allison/**/*.g722",
                   "CC-BY-SA-3.0", "Spanish (MX)", "Allison Smith (female)", input_format="g722"),
    RecordedSource("asterisk-fr", "asterisk-core-sounds-fr-g722", f"{_ASTERISK}/fr_CA_f_June/**/*.g722",
                   "CC-BY-SA-3.0", "French (CA)", "June Wallack (female)", input_format="g722"),
    RecordedSource("asterisk-it", "asterisk-core-sounds-it-g722", f"{_ASTERISK}/it_IT_m_Carlo/**/*.g722",
                   "CC-BY-SA-3.0", "Italian", "Carlo (male)", input_format="g722"),
    RecordedSource("asterisk-ru", "asterisk-core-sounds-ru-g722", f"{_ASTERISK}/ru_RU_f_IvrvoiceRU/**/*.g722",
                   "CC-BY-SA-3.0", "Russian", "IVR voice RU (female)", input_format="g722"),
)
# Whole speakers never trained on: the Russian prompt voice is the validation split.
DEFAULT_VALIDATION_SOURCES = ("asterisk-ru",)


@dataclass
class RecordedCorpusReport:
    out_dir: str
    sources: dict[str, dict] = field(default_factory=dict)  # name -> licence, package, files, hours, split
    missing_sources: dict[str, str] = field(default_factory=dict)  # name -> "apt-get install <package>"
    failed: dict[str, str] = field(default_factory=dict)  # input path -> error
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

    Containers libsndfile reads (ogg, wav, flac) are decoded in-process and resampled with torchaudio (an
    ffmpeg process per file costs more than the decoding); raw streams (G.722) and anything else go
    through ffmpeg.
    """
    os.makedirs(os.path.dirname(target), exist_ok=True)
    tmp = f"{target}.tmp{os.getpid()}.wav"
    try:
        if input_format is None and path.lower().endswith((".ogg", ".wav", ".flac")):
            _decode_in_process(path, tmp)
        else:
            _decode_with_ffmpeg(path, tmp, input_format)
        if sf.info(tmp).frames == 0:
            raise RuntimeError("decoded to 0 samples")
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _decode_in_process(path: str, tmp: str) -> None:
    import torch
    import torchaudio

    data, rate = sf.read(path, dtype="float32", always_2d=True)
    wave = torch.from_numpy(data.mean(axis=1))
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

    Raises:
        RuntimeError: ffmpeg is missing, or none of the requested sources is installed (with the apt hint).
    """
    if shutil.which("ffmpeg") is None:
        raise RuntimeError("ffmpeg is needed to decode the recordings: apt-get install ffmpeg")
    t0 = time.perf_counter()
    present, missing = available_sources(sources)
    if not present:
        hints = "; ".join(missing.values())
        raise RuntimeError(f"no recorded speech source is installed ({hints})")
    report = RecordedCorpusReport(out_dir=out_dir, missing_sources=missing)
    rows: dict[str, list[str]] = {}
    for source in present:
        split = "validation" if source.name in validation_sources else "train"
        files = source.files()[:max_files_per_source] if max_files_per_source else source.files()
        seconds, speakers, count = 0.0, set(), 0
        predecoded: set[str] = set()
        if source.input_format:
            todo = [(p, _target(out_dir, split, source, p)) for p in files]
            predecoded = _predecode_batches([(p, t) for p, t in todo if not os.path.exists(t)], source.input_format)
        for path in tqdm(files, desc=f"decode {source.name}", leave=False):
            target = _target(out_dir, split, source, path)
            if target in predecoded:
                report.written += 1
            elif os.path.exists(target):
                report.skipped_existing += 1
            else:
                try:
                    decode_to_wav(path, target, source.input_format)
                    report.written += 1
                except (RuntimeError, OSError, subprocess.TimeoutExpired, sf.LibsndfileError) as error:
                    report.failed[path] = str(error)
                    continue
            duration = sf.info(target).frames / SAMPLE_RATE
            speaker = source.speaker_of(path)
            rows.setdefault(split, []).append(json.dumps({
                "file_name": os.path.relpath(target, os.path.join(out_dir, split)), "text": "",
                "source": source.name, "speaker": speaker, "language": source.language, "licence": source.licence,
                "origin": path, "split": split, "duration": round(duration, 3),
            }, ensure_ascii=False))
            seconds += duration
            speakers.add(speaker)
            count += 1
        report.sources[source.name] = {
            "package": source.package, "licence": source.licence, "language": source.language,
            "speakers": source.speakers, "distinct_speaker_ids": len(speakers), "files": count,
            "hours": round(seconds / 3600, 3), "split": split,
        }
    for split, lines in rows.items():
        save_text(os.path.join(out_dir, split, "metadata.jsonl"), "\n".join(lines) + "\n")
    report.seconds = time.perf_counter() - t0
    save_text(os.path.join(out_dir, "corpus.json"), json.dumps({"kind": "recorded", "report": asdict(report)},
                                                                       indent=2))
    return report
