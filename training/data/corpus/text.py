"""Varied English sentences for the offline synthetic speech corpus.

Sentences come from word lists and templates: statements, questions, exclamations, numbers, times,
dates, money, names, places, lists and long compound sentences. Everything is drawn from a
``random.Random`` so that the same seed gives the same text on every machine (no hash randomisation,
no global RNG).
"""

from __future__ import annotations

import random
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


def _question(r: random.Random) -> str:
    forms = [
        lambda: f"Did {_name(r)} {r.choice(VERBS_BASE)} {_thing(r)} {r.choice(TIME_WORDS)}?",
        lambda: f"Where did you put {_thing(r)}?",
        lambda: f"Is it {r.choice(WEATHER)} in {r.choice(PLACES)}?",
        lambda: f"How many {r.choice(NOUNS)}s are there in {r.choice(PLACES)}?",
        lambda: f"Why would {_name(r)} want to {r.choice(VERBS_BASE)} {_thing(r)}?",
        lambda: f"Could you {r.choice(VERBS_BASE)} {_thing(r)} before {r.choice(WEEKDAYS)}?",
        lambda: f"What time does the train to {r.choice(PLACES[:9])} leave?",
    ]
    return r.choice(forms)()


def _exclamation(r: random.Random) -> str:
    forms = [
        lambda: f"What a {r.choice(ADJECTIVES)} {r.choice(NOUNS)} that was!",
        lambda: f"Don't touch {_thing(r)}!",
        lambda: f"{_name(r)}, come and look at this!",
        lambda: f"Oh no, I {r.choice(VERBS_PAST)} {_thing(r)} again!",
    ]
    return r.choice(forms)()


def _numbers(r: random.Random) -> str:
    forms = [
        lambda: f"The meeting is at {r.randint(1, 12)}:{r.choice(['00', '15', '30', '45'])} on {r.choice(WEEKDAYS)}.",
        lambda: f"{_name(r)} was born on {r.choice(MONTHS)} {r.randint(1, 28)}, {r.randint(1921, 2015)}.",
        lambda: f"It costs {r.randint(2, 950)} dollars and {r.randint(1, 99)} cents.",
        lambda: f"Please call me back at {r.randint(200, 999)} {r.randint(100, 999)} {r.randint(1000, 9999)}.",
        lambda: f"There were {r.randint(3, 4000)} people waiting outside {r.choice(PLACES)}.",
        lambda: f"Turn left after {r.randint(2, 900)} metres and take exit number {r.randint(1, 40)}.",
        lambda: f"The temperature dropped to minus {r.randint(1, 30)} degrees {r.choice(TIME_WORDS)}.",
        lambda: f"Chapter {r.randint(1, 60)} begins on page {r.randint(10, 700)}.",
        lambda: f"About {r.randint(2, 99)} percent of the {r.choice(NOUNS)}s were {r.choice(ADJECTIVES)}.",
    ]
    return r.choice(forms)()


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
    (_statement, 3.0), (_question, 2.0), (_exclamation, 1.0), (_numbers, 2.0),
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
