"""Varied English sentences for the offline synthetic speech corpus.

Sentences come from word lists and templates: statements, questions, exclamations, numbers, times,
dates, money, names, places, lists and long compound sentences. Everything is drawn from a
``random.Random`` so that the same seed gives the same text on every machine (no hash randomisation,
no global RNG).
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable

FIRST_NAMES = [
    "Alice", "Bob", "Carlos", "Dana", "Elena", "Farid", "Grace", "Hiroshi", "Ingrid", "James",
    "Kemal", "Laura", "Mohammed", "Nadia", "Oliver", "Priya", "Quentin", "Rosa", "Samuel", "Tara",
    "Umar", "Victoria", "William", "Xavier", "Yuki", "Zoe", "Margaret", "Peter", "Anna", "George",
]
SURNAMES = [
    "Smith", "Johnson", "Garcia", "Nguyen", "Okafor", "Kowalski", "Murphy", "Fischer", "Rossi",
    "Tanaka", "Brown", "Patel", "Andersson", "Dubois", "Hernandez", "Clarke", "Walsh", "Moreau",
]
PLACES = [
    "Boston", "Chicago", "London", "Edinburgh", "Dublin", "Toronto", "Sydney", "Cape Town", "Denver",
    "the library", "the station", "the old harbour", "the market", "the museum", "the north gate",
    "the village hall", "the river bank", "the top floor", "the kitchen", "the garden",
]
NOUNS = [
    "book", "letter", "bicycle", "window", "garden", "engine", "violin", "map", "lantern", "coat",
    "bridge", "ticket", "kettle", "painting", "umbrella", "report", "parcel", "computer", "river",
    "mountain", "candle", "clock", "horse", "ship", "key", "basket", "photograph", "recipe",
]
ADJECTIVES = [
    "old", "bright", "quiet", "heavy", "small", "strange", "beautiful", "broken", "narrow", "warm",
    "golden", "careful", "sudden", "empty", "famous", "gentle", "curious", "distant", "simple",
]
VERBS_PAST = [
    "found", "carried", "painted", "repaired", "forgot", "opened", "described", "borrowed",
    "noticed", "sold", "cleaned", "measured", "hid", "returned", "photographed", "lost",
]
VERBS_BASE = [
    "find", "carry", "paint", "repair", "open", "describe", "borrow", "clean", "measure", "move",
    "check", "finish", "explain", "follow", "visit", "order", "cancel", "change",
]
ADVERBS = ["slowly", "quickly", "carefully", "quietly", "suddenly", "happily", "almost", "gladly"]
TIME_WORDS = [
    "yesterday", "this morning", "last winter", "on Tuesday", "after dinner", "before sunrise",
    "next week", "every Sunday", "in the evening", "at midnight", "later today",
]
WEATHER = ["raining", "snowing", "windy", "foggy", "sunny", "cold", "unusually warm"]
MONTHS = [
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
CONNECTIVES = ["but", "and", "so", "because", "although", "while", "until", "unless"]
SHORT_PHRASES = [
    "Yes, of course.", "No, thank you.", "Good morning!", "Wait a moment.", "Really?",
    "I think so.", "Not yet.", "See you tomorrow.", "That's fine.", "Absolutely not!",
    "Please sit down.", "Hello there.", "Excuse me?", "Well done!", "Never mind.",
]


def _name(r: random.Random) -> str:
    return r.choice(FIRST_NAMES) if r.random() < 0.6 else f"{r.choice(FIRST_NAMES)} {r.choice(SURNAMES)}"


def _thing(r: random.Random) -> str:
    return f"the {r.choice(ADJECTIVES)} {r.choice(NOUNS)}" if r.random() < 0.7 else f"the {r.choice(NOUNS)}"


def _clause(r: random.Random) -> str:
    return f"{_name(r)} {r.choice(VERBS_PAST)} {_thing(r)} {r.choice(TIME_WORDS)}"


def _statement(r: random.Random) -> str:
    return f"{_clause(r)}."


def _choice_of(words: list[str]) -> Callable[[random.Random], str]:
    return lambda r: r.choice(words)


# How each ``{slot}`` of a template is filled; ``{int:LOW:HIGH}`` is ``r.randint(LOW, HIGH)``.
_SLOTS: dict[str, Callable[[random.Random], str]] = {
    "name": _name,
    "thing": _thing,
    "noun": _choice_of(NOUNS),
    "adjective": _choice_of(ADJECTIVES),
    "verb_base": _choice_of(VERBS_BASE),
    "verb_past": _choice_of(VERBS_PAST),
    "time": _choice_of(TIME_WORDS),
    "weather": _choice_of(WEATHER),
    "place": _choice_of(PLACES),
    "station": _choice_of(PLACES[:9]),
    "weekday": _choice_of(WEEKDAYS),
    "month": _choice_of(MONTHS),
    "quarter": _choice_of(["00", "15", "30", "45"]),
}

QUESTIONS = (
    "Did {name} {verb_base} {thing} {time}?",
    "Where did you put {thing}?",
    "Is it {weather} in {place}?",
    "How many {noun}s are there in {place}?",
    "Why would {name} want to {verb_base} {thing}?",
    "Could you {verb_base} {thing} before {weekday}?",
    "What time does the train to {station} leave?",
)
EXCLAMATIONS = (
    "What a {adjective} {noun} that was!",
    "Don't touch {thing}!",
    "{name}, come and look at this!",
    "Oh no, I {verb_past} {thing} again!",
)
NUMBERS = (
    "The meeting is at {int:1:12}:{quarter} on {weekday}.",
    "{name} was born on {month} {int:1:28}, {int:1921:2015}.",
    "It costs {int:2:950} dollars and {int:1:99} cents.",
    "Please call me back at {int:200:999} {int:100:999} {int:1000:9999}.",
    "There were {int:3:4000} people waiting outside {place}.",
    "Turn left after {int:2:900} metres and take exit number {int:1:40}.",
    "The temperature dropped to minus {int:1:30} degrees {time}.",
    "Chapter {int:1:60} begins on page {int:10:700}.",
    "About {int:2:99} percent of the {noun}s were {adjective}.",
)


def _fill(r: random.Random, template: str) -> str:
    """``template`` with its slots filled from ``r``, left to right (so a seed always gives the same text)."""
    parts = []
    for literal, slot, spec, _ in string.Formatter().parse(template):
        parts.append(literal)
        if slot == "int":
            low, high = (int(bound) for bound in spec.split(":"))
            parts.append(str(r.randint(low, high)))
        elif slot is not None:
            parts.append(_SLOTS[slot](r))
    return "".join(parts)


def _one_of(templates: tuple[str, ...]) -> Callable[[random.Random], str]:
    """A sentence kind: one of ``templates``, drawn from ``r``, then filled."""
    return lambda r: _fill(r, r.choice(templates))


def _long(r: random.Random) -> str:
    first = _clause(r)
    second = f"{r.choice(['she', 'he', 'they', 'we', 'I'])} {r.choice(ADVERBS)} {r.choice(VERBS_PAST)} {_thing(r)}"
    tail = r.choice([
        f", and then everyone walked back to {r.choice(PLACES)} together",
        f", which nobody in {r.choice(PLACES)} had expected",
        "",
        f" while it was {r.choice(WEATHER)} outside",
    ])
    return f"{first}, {r.choice(CONNECTIVES)} {second}{tail}."


def _list(r: random.Random) -> str:
    items = r.sample(NOUNS, r.randint(3, 5))
    return f"We need a {', a '.join(items[:-1])} and a {items[-1]}."


def _short(r: random.Random) -> str:
    return r.choice(SHORT_PHRASES)


# (generator, weight): statements and long sentences dominate, as in read speech.
_KINDS: list[tuple[Callable[[random.Random], str], float]] = [
    (_statement, 3.0), (_one_of(QUESTIONS), 2.0), (_one_of(EXCLAMATIONS), 1.0), (_one_of(NUMBERS), 2.0),
    (_long, 2.5), (_list, 0.7), (_short, 0.8),
]


def random_sentence(rng: random.Random) -> str:
    """One sentence drawn from ``rng`` (templates weighted by ``_KINDS``)."""
    funcs, weights = zip(*_KINDS)
    text = rng.choices(funcs, weights=weights, k=1)[0](rng)
    return text[0].upper() + text[1:]


def sentence_for(seed: int, key: str, index: int) -> str:
    """Deterministic sentence for utterance ``index`` of voice ``key`` (independent of run order)."""
    return random_sentence(random.Random(f"{seed}|{key}|{index}"))


def make_sentences(n: int, seed: int = 0) -> list[str]:
    """``n`` distinct sentences, deterministic in ``seed``.

    Raises:
        ValueError: if the templates cannot produce ``n`` distinct sentences.
    """
    rng = random.Random(seed)
    out: list[str] = []
    seen: set[str] = set()
    attempts = 0
    while len(out) < n:
        attempts += 1
        if attempts > 50 * n + 1000:
            raise ValueError(f"could only generate {len(out)} distinct sentences, {n} requested")
        s = random_sentence(rng)
        if s not in seen:
            seen.add(s)
            out.append(s)
    return out
