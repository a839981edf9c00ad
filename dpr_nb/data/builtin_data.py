"""A tiny fictional encyclopedia, generated offline, in the original DPR JSON format.

Real DPR data (Natural Questions, 21M Wikipedia passages) is far too big for a first
experiment, so the package generates a small but real retrieval task from a seed:

* 70 invented towns, each with 10 facts (country, founder, mayor, river, ...) and
  4 passages (history, geography, culture, economy) stating a few facts each.
* A question asks for one fact about one town. Finding its passage needs BOTH the
  town name (shared with the town's other passages) AND the kind of fact, e.g.
  "mayor" (shared with the same passage of every other town). Those two groups are
  the hard negatives: matching only one of the two signals is not enough.
* Towns, not questions, are split into train / dev / test, so evaluation asks about
  towns the model never saw during training.
"""

from __future__ import annotations

import functools
import json
import os
import pathlib
import random
import re

from ..core.files import write_text_atomic

BUILTIN_SEED = 0
DATASET_NAME = "dpr_nb_builtin"
N_TOWNS = 70
SPLIT_FRACTIONS = {"dev": 0.15, "test": 0.15}  # the rest of the towns go to train
N_HARD_NEGATIVES = 5  # per question: 2 from the same town, the rest from other towns
N_SAME_TOWN_NEGATIVES = 2
N_NEGATIVES = 2
GOLD_SCORE = 1000.0  # DPR's files give every gold passage this score

# Invented names are built from syllables so they sound plausible but exist nowhere.
_ONSETS = [
    "b",
    "d",
    "f",
    "g",
    "h",
    "k",
    "l",
    "m",
    "n",
    "p",
    "r",
    "s",
    "t",
    "v",
    "z",
    "br",
    "dr",
    "gr",
    "kr",
    "tr",
    "th",
    "st",
]
_VOWELS = ["a", "e", "i", "o", "u", "ai", "ea", "or"]
_CODAS = ["", "", "", "n", "l", "r", "s", "th"]

# Words that start town names; none of them occurs in the passage templates.
_PREFIXES = ["port", "fort", "saint", "little", "great", "high", "lake", "glen", "upper", "lower"]
# Shared, plain-English values: several towns share them, which makes answers ambiguous
# on their own and forces the model to use the town name as well.
_TRADES = [
    "weaving",
    "fishing",
    "salt mining",
    "glass making",
    "wine making",
    "pottery",
    "shipbuilding",
    "sheep farming",
    "paper making",
    "clock making",
    "bee keeping",
]
_DISH_ADJECTIVES = ["smoked", "baked", "spiced", "sweet", "salted", "roasted", "fried"]
_DISH_FOODS = [
    "eel pie",
    "river fish",
    "mushroom soup",
    "barley bread",
    "plum cake",
    "goat cheese",
    "bean stew",
    "onion tart",
    "rice pudding",
]
_FESTIVALS = ["lantern", "harvest", "kite", "bell", "candle", "apple", "snow", "boat", "flower", "drum", "mask", "star"]

# Each section has two wordings, so passages of one kind are not all identical.
_SECTIONS = {
    "history": [
        (
            "{town} was founded in {founded} by {founder}. the old stone bridge and the town"
            " walls were built soon after, and the first market opened a few years later."
        ),
        (
            "the history of {town} begins in {founded}, when {founder} founded a small"
            " village there. over the centuries it grew slowly into a busy market town."
        ),
    ],
    "geography": [
        (
            "{town} is a town in {country}. it lies on the banks of the {river} river, in a"
            " green valley below the {mountain} mountains, and the winters there are long."
        ),
        (
            "{town} lies in the north of {country}, where the {river} river flows down from"
            " the {mountain} mountains into the wide and fertile lowlands."
        ),
    ],
    "culture": [
        (
            "the people of {town} are proud of their food, and the best known dish is {dish}."
            " every year the town holds the {festival} in its main square."
        ),
        (
            "visitors to {town} come for the {festival} each summer, and few leave"
            " without trying {dish}, the dish the town is famous for."
        ),
    ],
    "economy": [
        (
            "{town} has a population of {population}. its mayor is {mayor}, and most people"
            " there work in {trade}, the main trade of the town for generations."
        ),
        (
            "about {population} people live in {town} today. the current mayor, {mayor},"
            " was elected last spring, and the main trade of the town is {trade}."
        ),
    ],
}

# fact -> (the section whose passage states it, *ways to ask for it)
_QUESTIONS = {
    "country": (
        "geography",
        "in which country is {town} located?",
        "what country is {town} in?",
        "{town} is a town in which country?",
    ),
    "river": ("geography", "which river flows through {town}?", "on which river is {town}?"),
    "mountain": ("geography", "near which mountains is {town}?", "what mountains are near {town}?"),
    "founded": ("history", "in what year was {town} founded?", "when was {town} founded?"),
    "founder": ("history", "who founded {town}?", "who was the founder of {town}?"),
    "dish": ("culture", "what is the best known dish of {town}?", "what dish is {town} known for?"),
    "festival": ("culture", "which festival is held in {town}?", "what festival does {town} hold?"),
    "mayor": ("economy", "who is the mayor of {town}?", "who serves as mayor of {town}?"),
    "trade": ("economy", "what is the main trade of {town}?", "what do most people in {town} work in?"),
    "population": ("economy", "what is the population of {town}?", "how many people live in {town}?"),
}


def _tokenize(text: str) -> list[str]:
    """Lowercase and split like BERT's BasicTokenizer does for ASCII text: runs of letters
    and digits, and every other non-space character ("_" too) as a token of its own."""
    return re.findall(r"[a-z0-9]+|[^a-z0-9\s]", text.lower())


def _generate(seed: int) -> tuple[list[dict], dict[str, list[dict]]]:
    """Build the towns (facts + passages by section) and split them into train/dev/test.
    One seeded generator, drawn in a fixed order (no set is ever iterated), so the same
    seed gives the same data on every machine."""
    rng = random.Random(seed)
    used = set(_PREFIXES)

    def new_name(syllables: int) -> str:
        while True:
            name = "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) + rng.choice(_CODAS) for _ in range(syllables))
            if name not in used and 4 <= len(name) <= 10:  # unique, and easy to read
                used.add(name)
                return name

    # Few countries and rivers, so many towns share them (more answer-bearing confusers).
    countries = [new_name(3) for _ in range(6)]
    rivers, mountains = [new_name(2) for _ in range(25)], [new_name(2) for _ in range(30)]
    first_names, last_names = [new_name(2) for _ in range(30)], [new_name(3) for _ in range(40)]
    n_dev, n_test = (round(N_TOWNS * SPLIT_FRACTIONS[s]) for s in ("dev", "test"))
    n_train = N_TOWNS - n_dev - n_test

    # Town names are "prefix root" pairs ("port velmo"). The first train towns use every
    # prefix and root once, so with a word-level vocabulary every name word gets trained and
    # a dev/test town is a new combination of known words. As many roots as prefixes keeps
    # both words equally frequent, so neither alone identifies a town: a model must match
    # both, and towns sharing one word ("port velmo", "lake velmo") are natural confusers.
    roots = [new_name(2) for _ in _PREFIXES]
    covering = list(zip(_PREFIXES, roots))
    pairs = [(p, r) for p in _PREFIXES for r in roots if (p, r) not in covering]
    rng.shuffle(pairs)
    names = [f"{p} {r}" for p, r in (covering + pairs)[:N_TOWNS]]

    towns = []
    for name in names:
        facts = {
            "town": name,
            "country": rng.choice(countries),
            "river": rng.choice(rivers),
            "mountain": rng.choice(mountains),
            "founded": str(rng.randint(1100, 1899)),
            "founder": f"{rng.choice(first_names)} {rng.choice(last_names)}",
            "dish": f"{rng.choice(_DISH_ADJECTIVES)} {rng.choice(_DISH_FOODS)}",
            "festival": f"{rng.choice(_FESTIVALS)} festival",
            "mayor": f"{rng.choice(first_names)} {rng.choice(last_names)}",
            "trade": rng.choice(_TRADES),
            "population": str(rng.randint(800, 90000)),
        }
        # Numeric string ids ("1", "2", ...), like DPR's Wikipedia passages.
        sections = {
            section: {
                "passage_id": str(len(towns) * len(_SECTIONS) + k + 1),
                "title": name,
                "text": rng.choice(wordings).format(**facts),
            }
            for k, (section, wordings) in enumerate(_SECTIONS.items())
        }
        towns.append({"facts": facts, "passages": sections})
    return towns, {"train": towns[:n_train], "dev": towns[n_train : n_train + n_dev], "test": towns[n_train + n_dev :]}


@functools.cache  # the same few hundred texts are compared many times
def _words(text: str) -> frozenset[str]:
    return frozenset(w for w in _tokenize(text) if w.isalnum())


def _overlap(question: str, passage: dict) -> int:
    """How many distinct question words the passage (title + text) contains: our stand-in
    for the BM25 score DPR used to mine its hard negatives."""
    return len(_words(question) & _words(passage["title"] + " " + passage["text"]))


def _ctx(passage: dict, question: str, town: str, gold: bool = False) -> dict:
    """One DPR context dict; title_score is 1 when the passage is about the asked town."""
    return {
        "title": passage["title"],
        "text": passage["text"],
        "score": GOLD_SCORE if gold else float(_overlap(question, passage)),
        "title_score": int(passage["title"] == town),
        "passage_id": passage["passage_id"],
    }


def _record(town: dict, fact: str, split_towns: list[dict], rng: random.Random) -> dict:
    """One DPR record: a question about one fact of `town`, with its negatives. Negatives
    come only from towns of the same split (dev and test passages never appear in training)
    and never contain the answer string."""
    section, *phrasings = _QUESTIONS[fact]
    name = town["facts"]["town"]
    question = rng.choice(phrasings).format(town=name)
    answer = town["facts"][fact]
    positive = town["passages"][section]
    others = [t for t in split_towns if t is not town]

    def usable(p: dict) -> bool:
        return p is not positive and answer not in p["text"]

    # Hard negatives 1: the town's other passages (right name, wrong kind of fact).
    same_town = [p for p in town["passages"].values() if usable(p)]
    hard = rng.sample(same_town, min(N_SAME_TOWN_NEGATIVES, len(same_town)))
    # Hard negatives 2: the same section of other towns (right kind of fact, wrong town),
    # those sharing the most question words first (e.g. a town with a similar name).
    same_section = [t["passages"][section] for t in others]
    rng.shuffle(same_section)  # random order among equally good confusers
    same_section.sort(key=lambda p: -_overlap(question, p))
    hard += [p for p in same_section if usable(p)][: N_HARD_NEGATIVES - len(hard)]
    # Plain negatives: random passages of other towns, like DPR's "negative_ctxs".
    pool = [p for t in others for p in t["passages"].values()]
    negatives = [p for p in rng.sample(pool, 10) if usable(p) and p not in hard][:N_NEGATIVES]
    return {
        "dataset": DATASET_NAME,
        "question": question,
        "answers": [answer],
        "positive_ctxs": [_ctx(positive, question, name, gold=True)],
        "negative_ctxs": [_ctx(p, question, name) for p in negatives],
        "hard_negative_ctxs": [_ctx(p, question, name) for p in hard],
    }


def make_builtin_dataset(seed: int = BUILTIN_SEED) -> dict[str, list[dict]]:
    """Return {"train", "dev", "test"} -> lists of DPR biencoder records, one question per
    fact per town (10 per town). The same seed always gives identical output."""
    # Mining the hard negatives by word overlap is most of the cost of building the data, and a sweep loads it once
    # per run: built once per seed, kept as JSON, and each caller gets records of its own to change.
    return json.loads(_dataset_as_json(seed))


@functools.lru_cache(maxsize=4)
def _dataset_as_json(seed: int) -> str:
    _, splits = _generate(seed)
    rng = random.Random(f"questions-{seed}")  # own stream: rewording questions keeps the towns
    dataset = {}
    for name, split_towns in splits.items():
        records = [_record(town, fact, split_towns, rng) for town in split_towns for fact in _QUESTIONS]
        rng.shuffle(records)  # DPR files are not grouped by topic; neither are ours
        dataset[name] = records
    return json.dumps(dataset)


def builtin_passages(seed: int = BUILTIN_SEED) -> list[dict]:
    """Every passage of every town, once each, in passage_id order, as
    {"passage_id", "title", "text"}: the corpus a retriever indexes."""
    return [dict(p) for town in _generate(seed)[0] for p in town["passages"].values()]


def write_builtin_dataset(out_dir: str | os.PathLike, seed: int = BUILTIN_SEED) -> dict[str, pathlib.Path]:
    """Write train.json, dev.json and test.json (JSON lists, like DPR's biencoder files)
    into out_dir and return their paths by split name.

    Each file goes to a temporary file in the same folder first and is then renamed with
    os.replace, so a reader never sees a half-written file, even after a crash."""
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for split_name, records in make_builtin_dataset(seed).items():
        path = out / f"{split_name}.json"
        write_text_atomic(path, json.dumps(records, indent=2))
        paths[split_name] = path
    return paths


def builtin_vocabulary(seed: int = BUILTIN_SEED) -> list[str]:
    """Every distinct token of all questions, answers, titles and passage texts, sorted.
    Tokens are split as BERT's BasicTokenizer would, so a word-level WordPiece vocabulary
    built from this list never needs [UNK] on this data."""
    return list(_vocabulary(seed))


@functools.lru_cache(maxsize=4)  # every tiny model built (a sweep builds one per run) asks for it
def _vocabulary(seed: int) -> tuple[str, ...]:
    texts = [p["title"] + " " + p["text"] for p in builtin_passages(seed)]
    for records in make_builtin_dataset(seed).values():
        texts += [r["question"] + " " + " ".join(r["answers"]) for r in records]
    return tuple(sorted({token for text in texts for token in _tokenize(text)}))


def _example_questions(seed: int = BUILTIN_SEED) -> list[str]:
    """Three test questions about three different towns and three different sections."""
    questions, seen = [], set()
    for record in make_builtin_dataset(seed)["test"]:
        positive = record["positive_ctxs"][0]
        section = (int(positive["passage_id"]) - 1) % len(_SECTIONS)  # ids go town by town, section by section
        if positive["title"] not in seen and section not in seen:
            questions.append(record["question"])
            seen |= {positive["title"], section}
    return questions[:3]


# Questions about unseen (test) towns, for the demo to answer after training.
EXAMPLE_QUESTIONS: list[str] = _example_questions()
