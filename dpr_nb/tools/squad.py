"""Turn a SQuAD-format file (v1.1 or v2.0, e.g. XQuAD in any of its languages) into DPR training files.

    dpr-nb data convert-squad xquad.de.json data/xquad-de      # passages.tsv, train.json, dev.json, test.json

Each paragraph becomes a passage (id "<article>-<paragraph>"), each answerable question a DPR record whose positive is
its paragraph and whose hard negatives are the paragraphs BM25 ranks highest for it that do not contain an answer.
Articles, not questions, are split into train / dev / test: questions about one paragraph are near-paraphrases of
each other, so a question split would put the test set's passages in the training set. In Python:

>>> import json, tempfile
>>> folder = Path(tempfile.mkdtemp())
>>> qa = {"id": "q1", "question": "What is the capital of France?", "answers": [{"text": "Paris", "answer_start": 0}]}
>>> squad = {"data": [{"title": "France", "paragraphs": [{"context": "Paris is the capital of France.", "qas": [qa]},
...     {"context": "The capital of Italy is Rome.", "qas": []}]}]}
>>> _ = (folder / "tiny.json").write_text(json.dumps(squad))
>>> counts = convert_squad(folder / "tiny.json", folder / "out", dev_fraction=0, test_fraction=0)
>>> counts["train"]
{'articles': 1, 'questions': 1, 'passages': 2, 'unanswerable': 0, 'without_hard_negatives': 0}
>>> json.loads((folder / "out" / "train.json").read_text())[0]["hard_negative_ctxs"][0]["text"]
'The capital of Italy is Rome.'
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import bm25s
import numpy as np

from ..core.errors import SettingsError
from ..core.files import write_text_atomic
from ..data.dpr_file import Passage, without_lone_surrogates
from ..data.matching import has_answer, looks_unspaced, tokenize
from ..data.passages import write_passages_tsv

SPLITS = ("train", "dev", "test")


def _clean(text: str) -> str:
    # A tab or a newline would break a row of passages.tsv; keep the JSON text identical to the TSV's.
    return re.sub(r"[\t\r\n]", " ", text).strip()


def _split_articles(n_articles: int, dev_fraction: float, test_fraction: float, seed: int) -> dict[int, str]:
    if not (0 <= dev_fraction and 0 <= test_fraction and dev_fraction + test_fraction < 1):
        raise SettingsError(
            f"dev_fraction ({dev_fraction}) and test_fraction ({test_fraction}) must be >= 0 and sum "
            "to less than 1: the rest of the articles is the training set."
        )
    order = random.Random(seed).sample(range(n_articles), n_articles)
    n_dev, n_test = round(dev_fraction * n_articles), round(test_fraction * n_articles)
    counts = {
        "dev": (dev_fraction, n_dev),
        "test": (test_fraction, n_test),
        "train": (1 - dev_fraction - test_fraction, n_articles - n_dev - n_test),
    }
    empty = [split for split, (fraction, count) in counts.items() if fraction > 0 and count < 1]
    if empty:
        raise SettingsError(
            f"{n_articles} article(s) are too few for dev_fraction={dev_fraction} and "
            f"test_fraction={test_fraction}: {' and '.join(empty)} would get none, and splits are made "
            "of whole articles. Use a file with more articles, or set that fraction to 0."
        )
    return {a: "dev" if i < n_dev else "test" if i < n_dev + n_test else "train" for i, a in enumerate(order)}


def _hard_negatives(scores: np.ndarray, passages: list[dict], own: int, answers: list[str], k: int) -> list[dict]:
    """The top-`k` BM25 passages that are not the question's own paragraph and contain none of its answers."""
    folded = [a.casefold() for a in answers]
    chosen = []
    # Passages that share no token with the question (score 0) are not BM25 hits, so they never count as "hard".
    for index in np.argsort(-scores, kind="stable"):
        if len(chosen) == k or scores[index] <= 0:
            break
        passage = passages[index]
        # A passage holding the answer is a false negative: training would push a right answer away. Two tests, so
        # that either catches it: a plain substring ("Osk" inside "Osken") and DPR's has_answer, which also finds
        # an answer whose accents or case differ.
        text = passage["text"]
        if index == own or any(a in text.casefold() for a in folded) or has_answer(text, answers):
            continue
        chosen.append(
            {
                "title": passage["title"],
                "text": passage["text"],
                "score": float(scores[index]),
                "title_score": int(passage["title"] == passages[own]["title"]),
                "passage_id": passage["passage_id"],
            }
        )
    return chosen


def convert_squad(
    squad_path: str | Path,
    out_dir: str | Path,
    dev_fraction: float = 0.1,
    test_fraction: float = 0.1,
    num_hard_negatives: int = 30,
    char_level: bool | None = None,
    seed: int = 0,
) -> dict:
    """Write passages.tsv, train.json, dev.json and test.json to `out_dir`; return the counts per split.

    `char_level=None` tokenises by characters when the contexts look Chinese, Japanese or Thai, by words otherwise.
    The returned dict has "char_level" and, per split, articles, questions, passages, unanswerable (questions
    skipped) and without_hard_negatives.
    """
    squad_path, out_dir = Path(squad_path), Path(out_dir)
    shape = '{"data": [{"title", "paragraphs": [{"context", "qas": [...]}]}]}'
    try:
        text = squad_path.read_text(encoding="utf-8-sig")
        squad = without_lone_surrogates(json.loads(text), text)
    except json.JSONDecodeError as e:
        raise SettingsError(
            f"{squad_path}: not a SQuAD file: invalid JSON at line {e.lineno}, column {e.colno} "
            f"({e.msg}). A SQuAD file is one JSON object, {shape}, not JSON Lines."
        ) from None
    except UnicodeDecodeError as e:  # a ValueError too: a binary or gzipped file
        raise SettingsError(
            f"{squad_path}: not a SQuAD file: not UTF-8 text ({e.reason} at byte {e.start}); unpack it if it is "
            f"compressed. A SQuAD file is one JSON object, {shape}."
        ) from None
    if not isinstance(squad, dict) or not isinstance(squad.get("data"), list):
        raise SettingsError(
            f"{squad_path}: not a SQuAD file: expected an object with a 'data' list of articles ({shape})."
        )
    articles = squad["data"]
    if not articles:
        raise SettingsError(f"{squad_path}: its 'data' list holds no articles: nothing to convert (nothing written).")
    for number, article in enumerate(articles, start=1):
        if not isinstance(article, dict) or not isinstance(article.get("paragraphs"), list):
            raise SettingsError(
                f"{squad_path}, article {number}: field 'paragraphs' must be a list of "
                "{'context', 'qas'} objects; is this a SQuAD file?"
            )
    if char_level is None:
        char_level = looks_unspaced([p["context"] for a in articles for p in a["paragraphs"]])
    split_of = _split_articles(len(articles), dev_fraction, test_fraction, seed)
    dataset = squad_path.stem
    counts = {"char_level": char_level}
    rows = []
    out_dir.mkdir(parents=True, exist_ok=True)
    for split in SPLITS:
        passages, questions, unanswerable = [], [], 0  # questions: (index of its passage, question, answers)
        for a, article in enumerate(articles):
            if split_of[a] != split:
                continue
            # SQuAD titles are Wikipedia page names ("Super_Bowl_50"); DPR's titles have spaces.
            title = _clean(article.get("title", "").replace("_", " "))
            for p, paragraph in enumerate(article["paragraphs"]):
                passages.append({"title": title, "text": _clean(paragraph["context"]), "passage_id": f"{a}-{p}"})
                for qa in paragraph["qas"]:
                    answers = list(dict.fromkeys(x["text"].strip() for x in qa.get("answers") or []))
                    answers = [x for x in answers if x]
                    if qa.get("is_impossible") or not answers:
                        unanswerable += 1  # SQuAD v2's unanswerable questions have no passage to retrieve
                        continue
                    questions.append((len(passages) - 1, qa["question"].strip(), answers))
        # Only this split's paragraphs are searched, so no passage of dev or test shows up in train as a negative.
        records = []
        if passages:
            retriever = bm25s.BM25()
            retriever.index([tokenize(p["text"], char_level) for p in passages], show_progress=False)
        for own, question, answers in questions:
            scores = retriever.get_scores(tokenize(question, char_level))
            records.append(
                {
                    "dataset": dataset,
                    "question": question,
                    "answers": answers,
                    "positive_ctxs": [{**passages[own], "score": 1000, "title_score": 1}],
                    "negative_ctxs": [],
                    "hard_negative_ctxs": _hard_negatives(scores, passages, own, answers, num_hard_negatives),
                }
            )
        write_text_atomic(out_dir / f"{split}.json", json.dumps(records, ensure_ascii=False, indent=1) + "\n")
        rows += passages
        counts[split] = {
            "articles": sum(s == split for s in split_of.values()),
            "questions": len(records),
            "passages": len(passages),
            "unanswerable": unanswerable,
            "without_hard_negatives": sum(not r["hard_negative_ctxs"] for r in records),
        }
    # DPR's psgs_w100.tsv layout (id, text, title), quoted as DPR's csv writer quotes it.
    write_passages_tsv(
        out_dir / "passages.tsv",
        [Passage(p["title"], p["text"], p["passage_id"]) for p in sorted(rows, key=_passage_order)],
    )
    return counts


def _passage_order(passage: dict) -> tuple[int, int]:
    # The corpus in file order, whatever split each article went to.
    article, paragraph = passage["passage_id"].split("-")
    return int(article), int(paragraph)


def format_counts(counts: dict) -> str:
    lines = [f"tokenisation: {'characters' if counts['char_level'] else 'words'}"]
    for split in SPLITS:
        lines.append(f"  {split:<6}" + "  ".join(f"{k}={v}" for k, v in counts[split].items()))
    return "\n".join(lines)
