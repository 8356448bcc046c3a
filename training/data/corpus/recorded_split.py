"""Which recorded files exist, once each, and which speakers are held out of training.

:func:`collect_files` lists the sources' files with their speaker, language and a content digest; a file whose
bytes equal an earlier one (the four Serbian ktuberling folders, grunts shared by hedgewars packs) is kept once.
:func:`assign_splits` turns the validation selectors (whole sources ``ktuberling`` or speakers
``ktuberling:ca``) into a split per speaker. A speaker is held out together with every speaker who may be the
same person: one sharing a recording with it, or one with the same ``link`` key (see
:class:`~.recorded_sources.RecordedSource`). Training and validation therefore never share a voice, whatever
was asked.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict, deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from .recorded_sources import RecordedSource, base_language


@dataclass(frozen=True)
class RecordedFile:
    source: RecordedSource
    path: str
    speaker: str
    language: str
    link: str | None
    digest: str


@dataclass
class FileListing:
    files: list[RecordedFile]
    duplicates: dict[str, int] = field(default_factory=dict)  # source -> files left out as byte-identical copies
    shared: list[tuple[str, str]] = field(default_factory=list)  # (speaker kept, speaker of the copy), distinct


def _digest(path: str) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha1").hexdigest()


def collect_files(sources: Sequence[RecordedSource], max_files_per_source: int | None = None) -> FileListing:
    """The files of ``sources`` in order, byte-identical copies left out (the first one found is kept)."""
    listing = FileListing(files=[])
    owner: dict[str, str] = {}
    shared: set[tuple[str, str]] = set()
    for source in sources:
        paths = source.files()
        for path in paths[:max_files_per_source] if max_files_per_source else paths:
            digest, speaker = _digest(path), source.speaker_of(path)
            if digest in owner:
                listing.duplicates[source.name] = listing.duplicates.get(source.name, 0) + 1
                if owner[digest] != speaker:
                    shared.add((owner[digest], speaker))
                continue
            owner[digest] = speaker
            listing.files.append(RecordedFile(source, path, speaker, source.language_of(path), source.link_of(path),
                                              digest))
    listing.shared = sorted(shared)
    return listing


@dataclass
class SplitPlan:
    """``split[speaker]`` is ``"train"`` or ``"validation"``; ``reason[speaker]`` says why a speaker is held out."""

    split: dict[str, str]
    reason: dict[str, str]

    def of(self, speaker: str) -> str:
        return self.split[speaker]


def assign_splits(listing: FileListing, validation: Sequence[str], catalogue: Sequence[RecordedSource]) -> SplitPlan:
    """Split the speakers of ``listing``: the selected ones and everyone who may be the same person are held out.

    Args:
        listing: the files (their speakers and link keys; shared recordings link speakers too).
        validation: source names (every speaker of the source) or ``source:field`` speaker ids.
        catalogue: every known source, installed or not (selectors are checked against it).

    Raises:
        ValueError: a selector names an unknown source, or a speaker that an installed source does not have.
    """
    known = {s.name: s for s in catalogue}
    graph: dict[str, set[tuple[str, str]]] = defaultdict(set)  # node -> {(neighbour, why)}

    def connect(a: str, b: str, why: str) -> None:
        graph[a].add((b, why))
        graph[b].add((a, why))

    speakers = {f.speaker for f in listing.files}
    for f in listing.files:
        if f.link:
            connect(f.speaker, f"link:{f.link}", f"may be the same person ({f.link})")
    for kept, copy in listing.shared:
        connect(kept, copy, "shares recordings")
    start: dict[str, str] = {}
    for selector in validation:
        name, sep, field_ = selector.partition(":")
        source = known.get(name)
        if source is None:
            raise ValueError(f"unknown validation source {selector!r}; known sources: {sorted(known)}")
        if not sep:
            start.update({s: selector for s in speakers if s == name or s.startswith(f"{name}:")})
            continue
        if source.link:  # held out with its possible doubles even when the source is not installed here
            start[f"link:{source.link.format(lang=base_language(field_))}"] = selector
        installed = {source.speaker_of(p) for p in source.files()}
        if installed and selector not in installed:
            fields = sorted(s.partition(":")[2] for s in installed)
            raise ValueError(f"validation speaker {selector!r} not found; {name} has: {', '.join(fields)}")
        start[selector] = selector  # also when all its files were copies: its doubles are still held out
    origin, why_of = dict(start), {node: "selected" for node in start}
    queue = deque(start)
    while queue:  # breadth first: each speaker is explained by its shortest chain to a selector
        node = queue.popleft()
        for neighbour, why in sorted(graph[node]):
            if neighbour not in origin:
                origin[neighbour], why_of[neighbour] = origin[node], why
                queue.append(neighbour)
    held = {s: "selected" if why_of[s] == "selected" else f"{why_of[s]}: held out with {origin[s]}"
            for s in sorted(speakers) if s in origin}
    return SplitPlan(split={s: "validation" if s in held else "train" for s in sorted(speakers)}, reason=held)
