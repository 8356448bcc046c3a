"""The catalogue of real recorded speech shipped in Debian packages: where the files lie, who speaks, which licence.

Every :class:`RecordedSource` is one package (or one part of it). Its files are split into speakers: one
speaker for a single-voice package (an asterisk prompt voice), a field of the file name (fillets-ng dialogue), or
a folder (a language folder of the KDE education games, a hedgewars voice pack). Speaker ids read
``<source>:<field>`` (``klettres:fr``, ``hedgewars:British``) or the source name for a single voice.

Licences were read from each package's ``/usr/share/doc/<package>/copyright``; every source here allows
redistribution and modification. Left out on purpose: the hedgewars ``Robot`` voice pack (robotised: its pitch is
nearly flat, 0.5 semitone standard deviation within a file against 1.6-6 for the other packs), the asterisk
tones and silences (``beep``, ``*-2tone``, ``silence/``), and the game's sound effects outside its voice packs.
"""

from __future__ import annotations

import glob
import os
import re
from dataclasses import dataclass

AUDIO_SUFFIXES = (".ogg", ".opus", ".wav", ".flac", ".g722", ".gsm")
# Raw streams without a header: ffmpeg needs the format and they always have this rate.
RAW_FORMAT_RATES = {"g722": 16000, "gsm": 8000}


@dataclass(frozen=True)
class RecordedSource:
    """Recordings shipped inside one package.

    Attributes:
        name: short id, also the sub-folder of the corpus.
        package: the Debian package that holds them (``apt-get install <package>``).
        pattern: glob of the files (only files with an audio suffix are kept).
        licence: licence of the recordings (from the package's copyright file).
        language: language of the speech (of every file unless ``languages`` names the speaker field's).
        speakers: who speaks (for the manifest).
        input_format: ffmpeg ``-f`` for raw streams without a container (``g722``, ``gsm``), else None.
        speaker_from_name: speaker field = the ``-``-separated field of the file name at this index, when another
            field follows it (fillets-ng names files ``<level>-<speaker>-<line>.ogg``; ``unknown`` otherwise).
        speaker_from_dir: speaker field = the folder at this depth below the pattern's fixed root (``0`` for
            ``/usr/share/klettres/*/alpha/*.ogg`` is the language folder). Neither set: one speaker, ``name``.
        languages: ``(field, language)`` pairs: the language of each speaker field.
        exclude: regular expression; matching paths are left out (tones, processed voices).
        link: speakers whose ``link`` keys are equal may be the same person and are never split between training
            and validation; ``{lang}`` stands for the base language of the speaker field (``pt_BR`` -> ``pt``).
    """

    name: str
    package: str
    pattern: str
    licence: str
    language: str
    speakers: str
    input_format: str | None = None
    speaker_from_name: int | None = None
    speaker_from_dir: int | None = None
    languages: tuple[tuple[str, str], ...] = ()
    exclude: str | None = None
    link: str | None = None

    def files(self) -> list[str]:
        """Sorted audio files of the pattern, less the excluded ones."""
        skip = re.compile(self.exclude) if self.exclude else None
        return [p for p in sorted(glob.glob(self.pattern, recursive=True))
                if p.lower().endswith(AUDIO_SUFFIXES) and os.path.isfile(p) and not (skip and skip.search(p))]

    def speaker_field(self, path: str) -> str | None:
        if self.speaker_from_name is not None:
            parts = os.path.splitext(os.path.basename(path))[0].split("-")
            # The field must be followed by another one: "<level>-<line>" names no speaker.
            return parts[self.speaker_from_name] if len(parts) > self.speaker_from_name + 1 else "unknown"
        if self.speaker_from_dir is not None:
            parts = os.path.relpath(path, _fixed_root(self.pattern)).split(os.sep)
            return parts[self.speaker_from_dir] if len(parts) > self.speaker_from_dir + 1 else "unknown"
        return None

    def speaker_of(self, path: str) -> str:
        field_ = self.speaker_field(path)
        return self.name if field_ is None else f"{self.name}:{field_}"

    def language_of(self, path: str) -> str:
        return dict(self.languages).get(self.speaker_field(path) or "", self.language)

    def link_of(self, path: str) -> str | None:
        """The key shared by speakers who may be the same person (see ``link``), or None."""
        if self.link is None:
            return None
        return self.link.format(lang=base_language(self.speaker_field(path) or ""))


def _fixed_root(pattern: str) -> str:
    """The folder part of a glob before its first wildcard (``/a/b/*/c`` -> ``/a/b``)."""
    parts = pattern.split(os.sep)
    fixed = []
    for part in parts[:-1]:
        if glob.has_magic(part):
            break
        fixed.append(part)
    return os.sep.join(fixed) or os.sep


# Folder codes of one language spoken in two scripts or written standards (Serbian in Cyrillic and Latin,
# Norwegian Bokmål and Nynorsk) may be read by the same person.
_LANGUAGE_ALIASES = {"nb": "no", "nn": "no"}


def base_language(code: str) -> str:
    """``pt_BR`` -> ``pt``, ``sr@latin`` -> ``sr``, ``nn``/``nb`` -> ``no``."""
    base = re.split(r"[_@.-]", code, maxsplit=1)[0].lower()
    return _LANGUAGE_ALIASES.get(base, base)


LANGUAGE_NAMES = {
    "ar": "Arabic", "ca": "Catalan", "cs": "Czech", "da": "Danish", "de": "German", "el": "Greek",
    "en": "English", "en_GB": "English (GB)", "es": "Spanish", "fi": "Finnish", "fr": "French", "ga": "Irish",
    "gl": "Galician", "he": "Hebrew", "hu": "Hungarian", "it": "Italian", "lt": "Lithuanian", "ml": "Malayalam",
    "nb": "Norwegian Bokmål", "nds": "Low German", "nl": "Dutch", "nn": "Norwegian Nynorsk", "pt": "Portuguese",
    "pt_BR": "Portuguese (BR)", "ro": "Romanian", "ru": "Russian", "sl": "Slovenian", "sr": "Serbian",
    "sr@ijekavian": "Serbian", "sr@ijekavianlatin": "Serbian", "sr@latin": "Serbian", "sv": "Swedish",
    "tn": "Setswana", "uk": "Ukrainian", "wa": "Walloon",
}
_KDE_LANGUAGES = tuple(sorted(LANGUAGE_NAMES.items()))
_HEDGEWARS_LANGUAGES = (
    ("British", "English (GB)"), ("Classic", "English"), ("Default", "English"), ("Default_es", "Spanish"),
    ("Default_pl", "Polish"), ("Default_ru", "Russian"), ("Default_uk", "Ukrainian"), ("HillBilly", "English"),
    ("Mobster", "English"), ("Pirate", "English"), ("Russian", "English (Russian accent)"),
    ("Russian_pl", "Polish (Russian accent)"), ("Singer", "English (sung)"), ("Surfer", "English"),
)

_ASTERISK = "/usr/share/asterisk/sounds"
_ASTERISK_NON_SPEECH = r"/silence/|/(beep|beeperr|ascending-2tone|descending-2tone)\.[^/]+$"
_FILLETS = "/usr/share/games/fillets-ng/sound"
SOURCES: tuple[RecordedSource, ...] = (
    RecordedSource("fillets-cs", "fillets-ng-data-cs", f"{_FILLETS}/*/cs/*.ogg", "GPL-2+", "Czech",
                   "acted game dialogue: two main voices and about 15 minor ones", speaker_from_name=1),
    RecordedSource("fillets-nl", "fillets-ng-data-nl", f"{_FILLETS}/*/nl/*.ogg", "GPL-2+", "Dutch",
                   "acted game dialogue: two main voices and minor ones", speaker_from_name=1),
    RecordedSource("asterisk-en", "asterisk-core-sounds-en-g722", f"{_ASTERISK}/en_US_f_Allison/**/*.g722",
                   "CC-BY-SA-3.0", "English (US)", "Allison Smith (female)", input_format="g722",
                   exclude=_ASTERISK_NON_SPEECH, link="person:allison-smith"),
    RecordedSource("asterisk-es", "asterisk-core-sounds-es-g722", f"{_ASTERISK}/es_MX_f_Allison/**/*.g722",
                   "CC-BY-SA-3.0", "Spanish (MX)", "Allison Smith (female)", input_format="g722",
                   exclude=_ASTERISK_NON_SPEECH, link="person:allison-smith"),
    RecordedSource("asterisk-fr", "asterisk-core-sounds-fr-g722", f"{_ASTERISK}/fr_CA_f_June/**/*.g722",
                   "CC-BY-SA-3.0", "French (CA)", "June Wallack (female)", input_format="g722",
                   exclude=_ASTERISK_NON_SPEECH),
    RecordedSource("asterisk-it", "asterisk-core-sounds-it-g722", f"{_ASTERISK}/it_IT_m_Carlo/**/*.g722",
                   "CC-BY-SA-3.0", "Italian", "Carlo (male)", input_format="g722", exclude=_ASTERISK_NON_SPEECH),
    RecordedSource("asterisk-ru", "asterisk-core-sounds-ru-g722", f"{_ASTERISK}/ru_RU_f_IvrvoiceRU/**/*.g722",
                   "CC-BY-SA-3.0", "Russian", "IVR voice RU (female)", input_format="g722",
                   exclude=_ASTERISK_NON_SPEECH),
    # GSM 06.10 at 8 kHz: narrow-band telephone prompts.
    RecordedSource("asterisk-es-co", "asterisk-prompt-es-co", f"{_ASTERISK}/es/**/*.gsm", "GPL-2",
                   "Spanish (CO)", "July E. Jiménez (female, Avatar Ltda.)", input_format="gsm",
                   exclude=_ASTERISK_NON_SPEECH),
    RecordedSource("asterisk-fr-armelle", "asterisk-prompt-fr-armelle", f"{_ASTERISK}/fr/**/*.gsm",
                   "BSD-2-clause-like (redistribution and use permitted, with or without modification)",
                   "French", "Armelle Desjardins (female)", input_format="gsm", exclude=_ASTERISK_NON_SPEECH),
    RecordedSource("asterisk-it-menardi", "asterisk-prompt-it-menardi-gsm", f"{_ASTERISK}/it_IT_f_Menardi/**/*.gsm",
                   "CC-BY-SA-3.0-IT (attribution: Marco Menardi and Paola Dal Zot, http://www.voip.ammdomus.it)",
                   "Italian", "Paola Dal Zot (female)", input_format="gsm", exclude=_ASTERISK_NON_SPEECH),
    # One native speaker per language folder (pt_BR: a father and his son), recorded for a children's game.
    RecordedSource("klettres", "klettres-data", "/usr/share/klettres/*/*/*.ogg", "GPL-2+", "many",
                   "one native speaker per language folder: letters and syllables", speaker_from_dir=0,
                   languages=_KDE_LANGUAGES, link="kde-edu:{lang}"),
    RecordedSource("ktuberling", "ktuberling-data", "/usr/share/ktuberling/sounds/*/*", "GPL-2+", "many",
                   "one speaker per language folder: spoken words", speaker_from_dir=0,
                   languages=_KDE_LANGUAGES, link="kde-edu:{lang}"),
    RecordedSource("hedgewars", "hedgewars-data", "/usr/share/games/hedgewars/Data/Sounds/voices/*/*.ogg",
                   "GFDL-1.3", "many", "one voice per voice pack: shouted game exclamations", speaker_from_dir=0,
                   languages=_HEDGEWARS_LANGUAGES, exclude=r"/voices/Robot/"),
)

# Whole speakers never trained on (sources or ``source:field`` speakers). Languages that only ktuberling has,
# and with them the klettres folders of the same base language (the same person may have recorded both games:
# pt_BR with pt, nb with nn), plus Hebrew; four hedgewars packs that share no recording with another pack; the
# Russian and the Armelle French prompt voices.
DEFAULT_VALIDATION_SOURCES: tuple[str, ...] = (
    "asterisk-ru", "asterisk-fr-armelle",
    *(f"ktuberling:{lang}" for lang in ("ca", "el", "fi", "ga", "gl", "nn", "pt", "ro", "sl", "sr", "sv", "wa")),
    "klettres:nb", "klettres:pt_BR", "klettres:he",
    "hedgewars:British", "hedgewars:Mobster", "hedgewars:Surfer", "hedgewars:Default_ru",
)
