"""Real speech the benchmarks share: the bundled CMU ARCTIC clip and the spoken ALSA test clips.

The ALSA clips come with Debian's ``alsa-utils`` (48 kHz); its ``Noise.wav`` is not speech and is left out.
Scripts in subfolders put this folder on ``sys.path`` to ``from speech_clips import ...``.
"""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EXAMPLE_CLIP = REPO / "llmcodec" / "assets" / "examples" / "arctic_a0007.wav"
ALSA_SOUNDS = Path("/usr/share/sounds/alsa")
ALSA_SPEECH = ("Front_Center", "Front_Left", "Front_Right", "Rear_Center", "Rear_Left", "Rear_Right",
               "Side_Left", "Side_Right")
