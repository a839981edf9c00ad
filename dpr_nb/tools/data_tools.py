"""Looking at DPR files and cutting them down, streaming, whatever their size.

dpr-nb data stats biencoder-nq-dev.json            counts and text lengths, one record in memory at a time
dpr-nb data subset IN OUT --n 1000 [--seed 0]      the first (or a seeded random) 1000 questions in a small file
"""

from __future__ import annotations

import gzip
import json
import random
import tempfile
from array import array
from pathlib import Path

from ..core.errors import SettingsError
from ..core.files import write_atomic
from ..data.dpr_file import parse_record, raw_records

PERCENTILES = (5, 50, 95, 100)


def _percentiles(values: array) -> dict[str, int]:
    ordered = sorted(values)
    if not ordered:
        return {f"p{p}": 0 for p in PERCENTILES}
    return {f"p{p}": ordered[min(len(ordered) - 1, (len(ordered) - 1) * p // 100)] for p in PERCENTILES}


def word_count(text: str) -> int:
    """len(text.split()), without making the words: most passages are ASCII words between single spaces, and
    counting their spaces is a memchr-speed scan (stats reads about 150 passages per question).

    >>> [word_count(t) for t in ("one two  three", " a\tb ", "naïve café", "x\u00a0y", "word", "a\x1cb")]
    [3, 2, 2, 2, 1, 2]
    """
    # The whitespace str.split() splits at in ASCII text, besides single spaces, tested one by one: faster than a
    # regular expression or a loop, each test being one memchr over the text.
    if (
        text.isascii()
        and text
        and text[0] != " "
        and text[-1] != " "
        and "  " not in text
        and "\n" not in text
        and "\t" not in text
        and "\r" not in text
        and "\x0b" not in text
        and "\x0c" not in text
        and "\x1c" not in text
        and "\x1d" not in text
        and "\x1e" not in text
        and "\x1f" not in text
    ):
        return text.count(" ") + 1
    return len(text.split())


def file_stats(path: str | Path) -> dict:
    """Counts of questions and (distinct) passages per kind, and word-length percentiles of questions and passages.

    Every record is validated as training would, so a bad record fails here with the same message.
    """
    path = Path(path)
    counts = {
        "questions": 0,
        "positives": 0,
        "hard_negatives": 0,
        "negatives": 0,
        "questions_without_hard_negatives": 0,
    }
    # Word counts as 32-bit integers: 4 bytes a passage, about 35 MB for the 8.8 million contexts of NQ train.
    question_words, passage_words = array("I"), array("I")
    for record, position in raw_records(path):
        example = parse_record(record, f"{path}, {position}")
        counts["questions"] += 1
        counts["positives"] += len(example.positives)
        counts["hard_negatives"] += len(example.hard_negatives)
        counts["negatives"] += len(example.negatives)
        counts["questions_without_hard_negatives"] += not example.hard_negatives
        question_words.append(len(example.question.split()))
        for passages in (example.positives, example.hard_negatives, example.negatives):
            passage_words.extend([word_count(passage.text) for passage in passages])
    return {**counts, "question_words": _percentiles(question_words), "passage_words": _percentiles(passage_words)}


def format_stats(path: str | Path, stats: dict) -> str:
    questions = max(stats["questions"], 1)
    lines = [f"{path}: {stats['questions']} questions"]
    for kind in ("positives", "hard_negatives", "negatives"):
        lines.append(f"  {kind:<16}{stats[kind]:>10}  ({stats[kind] / questions:.1f} per question, distinct)")
    lines.append(f"  questions without hard negatives: {stats['questions_without_hard_negatives']}")
    for kind in ("question_words", "passage_words"):
        lines.append(f"  {kind:<16}" + "  ".join(f"{k}={v}" for k, v in stats[kind].items()))
    return "\n".join(lines)


def write_subset(source: str | Path, target: str | Path, n: int, seed: int | None = None) -> int:
    """Write the first `n` records of `source` (or, with a seed, `n` drawn uniformly at random) to `target`.

    Records are copied as they are, after validation, in their original order. The target is JSON Lines if its name
    ends in .jsonl (or .jsonl.gz), a JSON list otherwise, gzipped if it ends in .gz; it is written to a temporary
    file first and renamed, so it is never half-written. Returns the number of records written.
    """
    source, target = Path(source), Path(target)
    if n < 1:
        raise SettingsError(f"--n {n}: a subset needs at least 1 question.")
    if target.exists() and source.exists() and target.resolve() == source.resolve():
        raise SettingsError(
            f"{target} is the source file itself: writing the subset there would replace the data. "
            "Give another target file."
        )
    rng = random.Random(seed)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Each record kept is spooled as JSON text to an unnamed temporary file beside the target, and only where it lies
    # is held: 1,000 of DPR's real records (110 KB each with their 150 contexts) held as text took 253 MB.
    with tempfile.TemporaryFile(dir=target.parent) as spool:
        kept: list[tuple[int, int, int]] = []  # (index in the source, offset in the spool, length)

        def spooled(index: int, record) -> tuple[int, int, int]:
            data = json.dumps(record, ensure_ascii=False).encode("utf-8")
            return index, spool.tell(), spool.write(data)

        for index, (record, position) in enumerate(raw_records(source)):
            parse_record(record, f"{source}, {position}")
            if seed is None:
                if index >= n:
                    break
                kept.append(spooled(index, record))
            elif len(kept) < n:  # reservoir sampling: every record has the same chance, in one pass
                kept.append(spooled(index, record))
            elif (slot := rng.randint(0, index)) < n:
                kept[slot] = spooled(index, record)
        name = target.name[:-3] if target.name.endswith(".gz") else target.name
        json_lines = name.endswith(".jsonl")

        def write(temporary: Path) -> None:
            opener = gzip.open if target.name.endswith(".gz") else open
            with opener(temporary, "wt", encoding="utf-8") as out:
                out.write("" if json_lines else "[\n")  # a JSON list has one record per line
                for number, (_, offset, length) in enumerate(sorted(kept)):
                    spool.seek(offset)
                    separator = "" if json_lines or number == 0 else ",\n"
                    out.write(separator + spool.read(length).decode("utf-8") + ("\n" if json_lines else ""))
                out.write("" if json_lines else "\n]\n")

        write_atomic(target, write)
    return len(kept)
