"""Catalogue of the local speech synthesizers (espeak-ng, flite, festival) and how to call them.

Each :class:`Voice` knows its engine, the command-line identity of the voice, and its *speaker*: the
timbre group used for the train/validation split. Voices of one speaker must all land on the same
side, e.g. espeak-ng ``en-us+f3`` and ``en-gb+f3`` share the ``f3`` variant's timbre, and flite's
``slt`` and festival's ``cmu_us_slt_arctic_hts`` were built from the same recordings.

Debian packages (``main``): ``espeak-ng flite festival festvox-kallpc16k festvox-kdlpc16k
festvox-us-slt-hts``. MBROLA voices (``mbrola-us1`` …) live in ``contrib``/``non-free`` and are
used through espeak-ng only when ``mbrola`` and the voice data are installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass

import numpy as np
import soundfile as sf

ENGINES = ("espeak-ng", "flite", "festival")

# Debian package(s) providing each engine, for error messages.
APT_PACKAGES = {
    "espeak-ng": ["espeak-ng"],
    "flite": ["flite"],
    "festival": ["festival", "festvox-kallpc16k", "festvox-kdlpc16k", "festvox-us-slt-hts"],
}
_BINARIES = {"espeak-ng": "espeak-ng", "flite": "flite", "festival": "text2wave"}

# English accents of espeak-ng 1.51 (voice file names, usable with ``-v``).
ESPEAK_ACCENTS = [
    "en-us", "en-gb", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-rp", "en-gb-x-gbcwmd", "en-029",
    "en-us-nyc",
]
# espeak-ng voice variants (``+name``): male/female, klatt formant models and named characters.
# Robot and effect variants (robosoft, Demonic, whisper, announcer …) are left out: they would
# teach the codec sounds that real recordings never contain.
ESPEAK_VARIANTS = [
    "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "f1", "f2", "f3", "f4", "f5",
    "klatt", "klatt2", "klatt3", "klatt4", "klatt6", "croak",
    "adam", "Alex", "Alicia", "Andrea", "Andy", "Annie", "anika", "aunty", "belinda", "benjamin",
    "caleb", "david", "ed", "edward", "grandma", "grandpa", "iven", "john", "linda", "max", "michel",
    "norbert", "paul", "quincy", "rob", "robert", "steph", "travis", "victor", "zac", "shelby",
]
# MBROLA voices reachable through espeak-ng when installed (Debian contrib: mbrola-us1 …).
ESPEAK_MBROLA = ["mb-us1", "mb-us2", "mb-us3", "mb-en1"]


@dataclass(frozen=True)
class Voice:
    """One synthesizer voice.

    Attributes:
        engine: ``"espeak-ng"``, ``"flite"`` or ``"festival"``.
        name: the engine's voice argument (``en-us+f3``, ``slt``, ``kal_diphone`` …).
        speaker: timbre group; the train/validation split is made over speakers.
        base_f0: the voice's mean F0 in Hz where its pitch can be set natively, else ``None``.
    """

    engine: str
    name: str
    speaker: str
    base_f0: float | None = None

    @property
    def key(self) -> str:
        """Unique id, used in file names and the ``voice`` metadata column."""
        return f"{self.engine}:{self.name}"

    @property
    def slug(self) -> str:
        """File-system safe form of :attr:`key`."""
        return "".join(c if c.isalnum() or c in "-_" else "_" for c in self.key)


def default_voices(engines: tuple[str, ...] | list[str] = ENGINES) -> list[Voice]:
    """All catalogued voices of ``engines`` (not yet checked to work; see :func:`probe_voice`)."""
    voices: list[Voice] = []
    if "espeak-ng" in engines:
        for accent in ESPEAK_ACCENTS:
            for variant in ESPEAK_VARIANTS:
                voices.append(Voice("espeak-ng", f"{accent}+{variant}", f"espeak:{variant}"))
        if shutil.which("mbrola"):
            voices += [Voice("espeak-ng", mb, f"mbrola:{mb}") for mb in ESPEAK_MBROLA]
    if "flite" in engines:
        # kal (8 kHz) is kal16's speaker at a lower rate; awb_time is a talking clock only.
        voices += [
            Voice("flite", "kal16", "kal", base_f0=105.0),
            Voice("flite", "slt", "slt"),
            Voice("flite", "awb", "awb"),
            Voice("flite", "rms", "rms"),
        ]
    if "festival" in engines:
        voices += [
            Voice("festival", "kal_diphone", "kal", base_f0=105.0),
            Voice("festival", "ked_diphone", "ked", base_f0=105.0),
            Voice("festival", "cmu_us_slt_arctic_hts", "slt"),
        ]
    return voices


class SynthesisError(RuntimeError):
    """A synthesizer is missing or failed on one input."""


def installed_engines(engines: tuple[str, ...] | list[str] = ENGINES) -> list[str]:
    """The engines among ``engines`` whose binary is on PATH (in the given order)."""
    return [e for e in engines if e in _BINARIES and shutil.which(_BINARIES[e]) is not None]


def require_engine(engine: str) -> None:
    """Raise :class:`SynthesisError` naming the apt packages if ``engine``'s binary is missing."""
    if engine not in _BINARIES:
        raise SynthesisError(f"unknown engine {engine!r}; known: {', '.join(ENGINES)}")
    if shutil.which(_BINARIES[engine]) is None:
        pkgs = " ".join(APT_PACKAGES[engine])
        raise SynthesisError(
            f"speech synthesizer {engine!r} not found ({_BINARIES[engine]} is not on PATH); "
            f"install it with: apt-get install -y {pkgs}"
        )


def synthesize(voice: Voice, text: str, rate: float = 1.0, pitch: float = 1.0,
               timeout: float = 120.0) -> tuple[np.ndarray, int]:
    """Synthesize ``text`` with ``voice``.

    Args:
        rate: speaking-rate factor, > 1 is faster.
        pitch: F0 factor; ignored by voices without native pitch control (see :func:`has_pitch`).

    Returns:
        ``(wave, sample_rate)``: float32 mono samples of shape ``(T,)`` at the engine's native rate.
    """
    require_engine(voice.engine)
    with tempfile.TemporaryDirectory(prefix="llmcodec-tts-") as tmp:
        txt = os.path.join(tmp, "in.txt")
        wav = os.path.join(tmp, "out.wav")
        with open(txt, "w", encoding="utf-8") as f:
            f.write(text + "\n")
        cmd = _command(voice, txt, wav, rate, pitch)
        try:
            proc = subprocess.run(cmd, capture_output=True, timeout=timeout, text=True)
        except subprocess.TimeoutExpired as e:
            raise SynthesisError(f"{voice.key} timed out after {timeout:.0f}s") from e
        if proc.returncode != 0 or not os.path.exists(wav) or os.path.getsize(wav) <= 44:
            raise SynthesisError(
                f"{voice.key} failed (exit {proc.returncode}): {proc.stderr.strip()[-300:]}"
            )
        x, sr = sf.read(wav, dtype="float32", always_2d=True)
    return x.mean(axis=1), int(sr)


def has_pitch(voice: Voice) -> bool:
    """Whether :func:`synthesize` can set this voice's pitch natively."""
    return voice.engine == "espeak-ng" or voice.base_f0 is not None


def _command(voice: Voice, txt: str, wav: str, rate: float, pitch: float) -> list[str]:
    if voice.engine == "espeak-ng":
        # -s words per minute (default 175), -p pitch 0..99 (default 50).
        wpm = int(round(175 * rate))
        p = int(min(99, max(0, round(50 * pitch))))
        return ["espeak-ng", "-v", voice.name, "-s", str(wpm), "-p", str(p), "-w", wav, "-f", txt]
    if voice.engine == "flite":
        cmd = ["flite", "-voice", voice.name, "--setf", f"duration_stretch={1.0 / rate:.3f}"]
        if voice.base_f0 is not None:
            cmd += ["--setf", f"int_f0_target_mean={voice.base_f0 * pitch:.1f}"]
        return cmd + ["-f", txt, "-o", wav]
    if voice.engine == "festival":
        evals = [f"(voice_{voice.name})"]
        if voice.name.endswith("_hts"):
            # HTS voices take their speed from hts_engine's -r; their F0 comes from the model.
            evals.append(f"(set! hts_engine_params (append hts_engine_params (list '(\"-r\" {rate:.3f}))))")
        else:
            # Diphone voices ship with Duration_Stretch 1.1 and a linear-regression F0 model.
            evals.append(f"(Parameter.set 'Duration_Stretch {1.1 / rate:.3f})")
            f0 = (voice.base_f0 or 105.0) * pitch
            evals.append(
                f"(set! int_lr_params '((target_f0_mean {f0:.1f}) (target_f0_std {0.14 * f0:.1f}) "
                "(model_f0_mean 170) (model_f0_std 34)))"
            )
        cmd = ["text2wave"]
        for e in evals:
            cmd += ["-eval", e]
        return cmd + ["-o", wav, txt]
    raise SynthesisError(f"unknown engine {voice.engine!r}")


PROBE_TEXT = "Testing the voice, one two three."


def probe_voice(voice: Voice) -> str | None:
    """Synthesize a short phrase; return ``None`` if the voice works, else the reason it does not."""
    try:
        x, sr = synthesize(voice, PROBE_TEXT, timeout=60.0)
    except SynthesisError as e:
        return str(e)
    if x.size < 0.3 * sr:
        return f"{voice.key}: output too short ({x.size} samples at {sr} Hz)"
    if float(np.sqrt(np.mean(x.astype(np.float64) ** 2))) < 1e-3:
        return f"{voice.key}: output is silent"
    return None
