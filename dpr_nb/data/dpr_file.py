"""Reading DPR training files, and sampling their questions into batches (dpr_nb.data.batches makes the tensors).

The original DPR format is one record per question:

    {"dataset": ..., "question": "who sings does he love me with reba", "answers": ["Linda Davis"],
     "positive_ctxs": [{"title": ..., "text": ..., "score": ..., "title_score": ..., "passage_id": ...}],
     "negative_ctxs": [...],        # random passages
     "hard_negative_ctxs": [...]}   # BM25 top hits that do not contain the answer

Files are a JSON list (DPR's biencoder-*.json) or JSON Lines, either optionally gzipped, or Parquet (the Hub's
format; read with pyarrow, which `datasets` installs). Records already in memory, a `datasets.Dataset` among them,
are read by `parse_records`. A record may also be in the dense-retrieval layout of Tevatron's files (`query`,
`positive_passages`, `negative_passages`: TEVATRON_FIELDS). A bad record fails with a `DPRDataError` naming the file,
the record, the field and the fix, never with a traceback from inside torch.

A batch of B questions holds B queries and B * (num_positives + num_hard_negatives) passages. Every question
scores every passage of the batch: the other questions' passages are its "in-batch negatives".

This module needs neither torch nor transformers, so the data tools (`dpr-nb data stats`, `subset`, `records`,
`convert-squad`) start in a fraction of a second and stream in little memory.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import itertools
import json
import random
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import ijson

from ..core.errors import DPRNBError, MissingDependencyError


class DPRDataError(DPRNBError, ValueError):
    """A DPR file or record that cannot be used, with where it is and how to fix it."""


@dataclass(frozen=True)
class Passage:
    """A passage: its title, its text and its id, if it has one.

    A blank id is no id: Haystack v1's `squad_to_dpr` writes `"passage_id": ""` on every context, and treated as an
    id it would make every passage of a file the same passage. An id's surrounding spaces are not part of it.

    >>> Passage("Velmora", "Velmora lies on the river Osk.", " ").passage_id is None
    True
    """

    title: str
    text: str
    passage_id: str | None = None

    def __post_init__(self) -> None:
        pid = self.passage_id
        # Tested cheaply first: a file's 150 contexts per question nearly all carry a clean string id already.
        if pid is not None and (type(pid) is not str or not pid or pid[0].isspace() or pid[-1].isspace()):
            object.__setattr__(self, "passage_id", str(pid).strip() or None)

    @property
    def key(self) -> str:
        """The passage's identity where passages are matched: its id (NQ repeats its gold passage with another score),
        or without one the id its title and text give it (`stable_id`), which a passages TSV written from it keeps."""
        return f"id:{self.stable_id}"

    @property
    def text_key(self) -> str:
        """Its title and text: two entries with the same are the same input to an encoder, whatever their ids (a
        Haystack file's gold paragraph without an id, and the same paragraph under its id in a corpus)."""
        return f"text:{self.title}\n{self.text}"

    @property
    def stable_id(self) -> str:
        """The passage's id, or for a passage without one an id made from its title and text: the same passage
        gets the same id in every file and store it is written to, and two different passages never share one.

        >>> Passage("Velmora", "Velmora lies on the river Osk.", "17").stable_id
        '17'
        >>> Passage("Velmora", "Velmora lies on the river Osk.").stable_id
        'md5-c3e3f8ec82b1810266ae98b855edeb6a'
        """
        if self.passage_id is not None:
            return self.passage_id
        return "md5-" + hashlib.md5(json.dumps([self.title, self.text], ensure_ascii=False).encode()).hexdigest()


@dataclass
class DPRExample:
    question: str
    answers: list[str]
    positives: list[Passage]
    hard_negatives: list[Passage] = field(default_factory=list)
    negatives: list[Passage] = field(default_factory=list)
    # Graded relevance of positives by `Passage.key`, where the source grades them (BEIR's qrels: 1 relevant, 2 highly
    # relevant, ...); a positive not listed here has grade 1. nDCG weighs the gain by it; the other measures do not.
    # A key no positive has is a passage judged relevant that the corpus lacks (`unavailable_grades`).
    relevance: dict[str, int] = field(default_factory=dict)
    question_id: str | None = None  # where the source names its questions (BEIR's query ids): a TREC run's ids

    def unavailable_grades(self) -> list[int]:
        """The grades of the passages judged relevant that are not among the positives (BEIR's qrels may judge a
        document its corpus does not hold). BEIR's evaluation keeps them in recall's denominator and in nDCG's ideal
        ranking, where nothing can find them; so does ours."""
        positives = {p.key for p in self.positives}
        return [grade for key, grade in self.relevance.items() if key not in positives and grade > 0]


# ---------------------------------------------------------------------------------------------------------------
# Reading and validating


def _open_binary(path: Path):
    with open(path, "rb") as raw:
        gzipped = raw.read(2) == b"\x1f\x8b"  # the gzip magic number, whatever the file is called
    stream = gzip.open(path, "rb") if gzipped else open(path, "rb")
    if stream.read(3) != b"\xef\xbb\xbf":  # a UTF-8 byte-order mark (Windows editors write one) is skipped
        stream.seek(0)
    return stream


def _first_character(path: Path) -> str:
    """The first non-blank character: '[' for a JSON list, '{' for JSON Lines."""
    with _open_binary(path) as raw:
        while (byte := raw.read(1)) and byte.isspace():
            pass
    return byte.decode("utf-8", errors="replace")


def _parse_passage(value, where: Callable[[], str]) -> Passage:
    # The data tools and training read about 150 of these per question: the checks are written to allocate nothing
    # on a valid context (isspace, not strip), and `where` is made only for an error.
    if not isinstance(value, dict):
        raise DPRDataError(
            f"{where()}: expected an object with 'title' and 'text', got {type(value).__name__}. "
            'Each context must look like {"title": ..., "text": ..., "passage_id": ...}.'
        )
    text, title = value.get("text"), value.get("title", "")
    if not isinstance(text, str) or not text or text.isspace():
        raise DPRDataError(
            f"{where()}: field 'text' must be a non-empty string, got {text!r}. "
            "Remove this context or give it the passage text."
        )
    if title is None:
        title = ""
    if not isinstance(title, str):
        raise DPRDataError(f"{where()}: field 'title' must be a string, got {type(title).__name__}.")
    # NQ files call the id "passage_id", SQuAD-derived DPR files "psg_id", Tevatron's files "docid".
    passage_id = value.get("passage_id")
    for other in ("psg_id", "docid"):
        if passage_id is None or not str(passage_id).strip():
            passage_id = value.get(other)
    return Passage(title=title, text=text, passage_id=None if passage_id is None else str(passage_id))


def _parse_passages(
    record: dict, name: str, where: str, required: bool, positives: Sequence[Passage] = ()
) -> list[Passage]:
    """The contexts of record[name], each once; with `positives`, those that are not one of them (by key, or by
    title and text: a "negative" that is also listed as positive would teach the model to push the answer away)."""
    value = record.get(name)
    if value is None and not required:
        return []
    if not isinstance(value, list):
        fix = "give it a list of contexts" if required else "give it a list (it may be empty) or leave it out"
        raise DPRDataError(
            f"{where}: field '{name}' must be a list, got "
            f"{'nothing' if value is None else type(value).__name__}; {fix}."
        )
    passages, seen = [], {p.key for p in positives}
    # By (title, text), the pair text_key joins, looked up only for a text of a positive's length: no copy of a
    # negative's text is made, and most are never hashed.
    positive_texts = {(p.title, p.text) for p in positives}
    positive_lengths = {len(p.text) for p in positives}
    for i, ctx in enumerate(value):
        passage = _parse_passage(ctx, lambda: f"{where}, {name}[{i}]")  # noqa: B023 (called at once, if at all)
        key = passage.key
        if key in seen or (len(passage.text) in positive_lengths and (passage.title, passage.text) in positive_texts):
            continue  # a positive, or a repeat (NQ lists its gold passage twice)
        seen.add(key)
        passages.append(passage)
    if required and not passages:
        raise DPRDataError(
            f"{where}: field '{name}' is empty. A question needs at least one positive passage "
            "to train on; remove this record or add its gold passage."
        )
    return passages


# The fields of a record in DPR's layout, and in the dense-retrieval layout of Tevatron's files and its copies of DPR's
# data on the Hugging Face Hub ({"query_id", "query", "answers", "positive_passages": [{"docid", "title", "text"}],
# "negative_passages": [...]}, whose negatives are BM25's hard negatives).
DPR_FIELDS = {
    "question": "question",
    "positives": "positive_ctxs",
    "hard": "hard_negative_ctxs",
    "random": "negative_ctxs",
}
TEVATRON_FIELDS = {"question": "query", "positives": "positive_passages", "hard": "negative_passages", "random": None}


def parse_record(record, where: str) -> DPRExample:
    """Validate one record, in DPR's layout or Tevatron's; `where` names it in errors (file and record number)."""
    if not isinstance(record, dict):
        raise DPRDataError(f"{where}: expected a JSON object, got {type(record).__name__}.")
    fields = TEVATRON_FIELDS if "query" in record and "question" not in record else DPR_FIELDS
    question = record.get(fields["question"])
    if not isinstance(question, str) or not question.strip():
        raise DPRDataError(
            f"{where}: field '{fields['question']}' must be a non-empty string, got {question!r}. "
            "Every record needs the question text."
        )
    answers = record.get("answers") or []
    if not isinstance(answers, list) or not all(isinstance(a, str) for a in answers):
        raise DPRDataError(f"{where}: field 'answers' must be a list of strings, got {answers!r}.")
    positives = _parse_passages(record, fields["positives"], where, required=True)
    # A "negative" that is also listed as positive (by id, or by its text under another id or none) is left out.
    hard_negatives, negatives = (
        _parse_passages(record, name, where, False, positives) if name else []
        for name in (fields["hard"], fields["random"])
    )
    question_id = record.get("query_id")
    question_id = None if question_id is None or not str(question_id).strip() else str(question_id).strip()
    return DPRExample(question.strip(), answers, positives, hard_negatives, negatives, question_id=question_id)


def _is_parquet(path: Path) -> bool:
    with open(path, "rb") as raw:
        return raw.read(4) == b"PAR1"  # Parquet's magic number (the Hub's converted datasets, `Dataset.to_parquet`)


def _parquet_records(path: Path) -> Iterator[tuple[object, str]]:
    """The rows of a Parquet file as records, a row group's slice at a time: a Hub dataset's Parquet shard streams
    as its JSON Lines copy would."""
    try:
        import pyarrow
        import pyarrow.parquet as pq
    except ImportError:
        raise MissingDependencyError(
            f"{path} is a Parquet file; reading it needs pyarrow: pip install pyarrow (or give the file as JSON Lines)."
        ) from None
    try:
        table = pq.ParquetFile(path)
        number = 0
        for batch in table.iter_batches(batch_size=64):
            for record in batch.to_pylist():
                number += 1
                yield record, f"record {number}"
    except (OSError, pyarrow.ArrowException) as e:  # a truncated or damaged file
        raise DPRDataError(f"{path}: cannot be read as Parquet ({e}); download it again.") from None


def raw_records(path: Path) -> Iterator[tuple[object, str]]:
    """Yield (record, position) pairs from a JSON list, a JSON Lines or a Parquet file, one record (or, for Parquet,
    a slice of 64) in memory at a time."""
    if _is_parquet(path):
        yield from _parquet_records(path)
        return
    try:
        head = _first_character(path)
        with _open_binary(path) as raw:
            if head == "[":
                # ijson parses the list incrementally: memory stays flat whatever the file's size (DPR's NQ training
                # file is a single 7.4 GB list, which json.load would hold as Python objects several times its size:
                # docs/benchmarks.md, "Data tools").
                records, number = ijson.items(raw, "item", use_float=True), 0
                checks_surrogates = ijson.backend != "yajl2_c"
                while True:
                    try:
                        record = next(records)
                    except StopIteration:
                        return
                    except ijson.JSONError as e:
                        raise _json_error(path, str(e), f"record {number + 1}", "premature EOF" in str(e)) from None
                    except UnicodeDecodeError:  # ijson's reading of an escaped second half alone, or broken bytes
                        raise DPRDataError(
                            f"{path}, record {number + 1}: text that is not UTF-8: half of a surrogate pair (an escape "
                            'from "\\udc00" to "\\udfff" alone, which JSON Lines read as "?") or broken bytes. Fix '
                            "that record or regenerate the file."
                        ) from None
                    number += 1
                    if checks_surrogates:  # ijson's Python parser keeps half a pair as it is
                        record = _replace_lone_surrogates(record)
                    yield record, f"record {number}"
            elif head == "{":
                number = 0
                lines = io.TextIOWrapper(raw, encoding="utf-8")
                for line_number, line in enumerate(lines, start=1):
                    if not line.strip():
                        continue
                    try:
                        record = json.loads(line)
                    except json.JSONDecodeError as e:
                        # The last line, not closing its record: the writer stopped early. A broken line with
                        # more after it is a damaged record, which downloading again would not fix.
                        last = not any(rest.strip() for rest in lines)
                        truncated = last and not line.rstrip().endswith("}")
                        raise _json_error(path, e.msg, f"line {line_number}, column {e.colno}", truncated) from None
                    number += 1
                    yield without_lone_surrogates(record, line), f"record {number} (line {line_number})"
            elif head == "":
                raise DPRDataError(f"{path}: the file is empty. Expected a JSON list of DPR records or JSON Lines.")
            else:
                raise DPRDataError(
                    f"{path}: starts with {head!r}; expected a JSON list ('[') or JSON Lines "
                    "(one object '{' per line) of DPR records."
                )
    except (EOFError, gzip.BadGzipFile, UnicodeDecodeError) as e:
        raise DPRDataError(
            f"{path}: cannot be read ({e}). The file is truncated or corrupt: download it again."
        ) from None


# Half of a surrogate pair ("\\ud83d" alone: an emoji cut in two) is valid JSON, which json keeps as it is and which
# UTF-8, the tokenizers and every file written from the text refuse, far from the record that holds it. It is read as
# "?", as ijson's C parser reads a first half in a JSON list (a second half alone, it cannot read: the file is refused).
_ESCAPE = re.compile(r"\\(?:\\|u[dD]([89a-fA-F])[0-9a-fA-F]{2})")  # an escaped backslash, or a surrogate's escape
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")  # looked for first: most lines have none, and it is quicker


def _escapes_half_a_pair(text: str) -> bool:
    """Whether JSON text escapes a surrogate that is not half of a pair: a first half (\\ud800-\\udbff) not followed
    at once by a second (\\udc00-\\udfff), or a second alone. An emoji written as escapes is a whole pair; an escaped
    backslash before "ud83d" makes it text, not an escape."""
    second_half_at = None  # where the escape after a first half must be
    for escape in _ESCAPE.finditer(text):
        half = escape.group(1)  # None for an escaped backslash
        is_second = half is not None and half not in "89abAB"
        if second_half_at is not None:
            if escape.start() != second_half_at or not is_second:
                return True
            second_half_at = None
        elif is_second:
            return True
        elif half is not None:
            second_half_at = escape.end()
    return second_half_at is not None


def without_lone_surrogates(value, text: str):
    """`value`, parsed by json from `text`, with each half of a surrogate pair in its strings read as "?"; its strings
    are looked through only where `text` escapes half of a pair."""
    if _SURROGATE_ESCAPE.search(text) is None or not _escapes_half_a_pair(text):
        return value
    return _replace_lone_surrogates(value)


def _replace_lone_surrogates(value):
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return value.encode("utf-8", "replace").decode("utf-8")  # "replace" writes "?" for what it cannot
        return value
    if isinstance(value, dict):
        return {_replace_lone_surrogates(k): _replace_lone_surrogates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_lone_surrogates(item) for item in value]
    return value


def _json_error(path: Path, message: str, location: str, truncated: bool) -> DPRDataError:
    cause = (
        "the file ends in the middle of a record, so it is probably truncated: download it again"
        if truncated
        else "fix the JSON there or regenerate the file"
    )
    return DPRDataError(f"{path}: invalid JSON at {location} ({message.splitlines()[0]}); {cause}.")


def read_dpr_file(path: str | Path, max_samples: int | None = None) -> Iterator[DPRExample]:
    """Yield validated `DPRExample`s from a DPR file, stopping after `max_samples` questions."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"DPR data file not found: {path}. Check data_dir and the file name.")
    # islice stops before asking the parser for record max_samples + 1: nothing after it is ever read or checked.
    for record, position in itertools.islice(raw_records(path), max_samples):
        yield parse_record(record, f"{path}, {position}")


def load_dpr_file(path: str | Path, max_samples: int | None = None) -> list[DPRExample]:
    return list(read_dpr_file(path, max_samples))


def parse_records(records: Iterable, source: str = "records", max_samples: int | None = None) -> list[DPRExample]:
    """Validated `DPRExample`s from records already in memory or streamed: a list of dicts, or a Hugging Face
    `datasets.Dataset` or `IterableDataset` (each row a dict) in DPR's layout or Tevatron's; a `DPRExample` among them
    is taken as it is. `source` names them in errors ("records[3]: ...")."""
    if isinstance(records, (str, bytes, dict)) or not isinstance(records, Iterable):
        raise DPRDataError(
            f"{source}: expected a file path or an iterable of records (dicts, or a datasets.Dataset), "
            f"got {type(records).__name__}."
        )
    records = itertools.islice(records, max_samples)
    return [
        record if isinstance(record, DPRExample) else parse_record(record, f"{source}[{index}]")
        for index, record in enumerate(records)
    ]


# ---------------------------------------------------------------------------------------------------------------
# Sampling: which passages each question brings to a batch


class BatchSampler:
    """Shuffles questions and picks each one's positives and hard negatives, anew every epoch.

    A question with fewer hard negatives than asked for tops up from its random `negative_ctxs`, then from other
    questions' passages, so every question brings the same number of passages and none is an empty string.
    """

    def __init__(
        self,
        examples: Sequence[DPRExample],
        batch_size: int,
        num_positives: int = 1,
        num_hard_negatives: int = 1,
        shuffle: bool = True,
        seed: int = 42,
        min_last_batch: int = 1,
    ):
        if not examples:
            raise DPRDataError("No training questions: the data file holds no records.")
        self.examples, self.batch_size, self.shuffle = examples, batch_size, shuffle
        self.num_positives, self.num_hard_negatives = num_positives, num_hard_negatives
        # The questions an epoch uses: a last batch with fewer than min_last_batch questions is left out.
        self.epoch_size = len(examples)
        if 0 < len(examples) % batch_size < min_last_batch:
            self.epoch_size -= len(examples) % batch_size
        self.rng = random.Random(seed)
        self.order: list[int] | None = None  # this epoch's question order, while an epoch is under way
        self.position = 0  # questions of `order` already handed out

    def __len__(self) -> int:
        return -(-self.epoch_size // self.batch_size)

    def _pick(self, example: DPRExample) -> tuple[list[Passage], list[Passage]]:
        rng = self.rng
        positives = example.positives if not self.shuffle else rng.sample(example.positives, len(example.positives))
        # With fewer positives than num_positives a question repeats one rather than invent a passage.
        positives = [positives[i % len(positives)] for i in range(self.num_positives)]
        candidates = list(example.hard_negatives)
        if self.shuffle:
            rng.shuffle(candidates)
        negatives = candidates[: self.num_hard_negatives]
        if len(negatives) < self.num_hard_negatives:
            taken = {p.text_key for p in (*example.positives, *negatives)}  # a batch's identity: the text
            extra = [p for p in example.negatives if p.text_key not in taken]
            if self.shuffle:
                rng.shuffle(extra)
            negatives += extra[: self.num_hard_negatives - len(negatives)]
            negatives += self._borrow(taken, self.num_hard_negatives - len(negatives))
        return positives, negatives

    def _borrow(self, taken: set[str], count: int) -> list[Passage]:
        """Up to `count` passages of other random questions (their positives and hard negatives), none in `taken`.

        Drawn a question at a time rather than from a list of every passage, which for NQ would be millions of
        passages in memory (and would read every question of an on-disk file). A small dataset may not have
        `count` more distinct passages: the attempts are bounded, and the question then brings fewer.
        """
        borrowed = []
        for _ in range(20 * count):
            if len(borrowed) == count:
                break
            other = self.examples[self.rng.randrange(len(self.examples))]
            candidate = self.rng.choice((*other.positives, *other.hard_negatives))
            if candidate.text_key not in taken:
                taken.add(candidate.text_key)
                borrowed.append(candidate)
        return borrowed

    def __iter__(self) -> Iterator[list[tuple[DPRExample, list[Passage], list[Passage]]]]:
        """One epoch of batches; an epoch restored by `load_state_dict` continues where it stopped."""
        if self.order is None or self.epoch_finished:
            self.order = list(range(len(self.examples)))
            if self.shuffle:
                self.rng.shuffle(self.order)
            self.position = 0
        while self.position < self.epoch_size:
            chosen = self.order[self.position : min(self.position + self.batch_size, self.epoch_size)]
            # Advanced before yielding: a checkpoint taken while the caller trains on this batch resumes after it.
            self.position += len(chosen)
            yield [(self.examples[i], *self._pick(self.examples[i])) for i in chosen]

    @property
    def epoch_finished(self) -> bool:
        return self.order is not None and self.position >= self.epoch_size

    @property
    def batches_done(self) -> int:
        """Batches of the current epoch already handed out (0 before an epoch starts)."""
        return 0 if self.order is None or self.epoch_finished else -(-self.position // self.batch_size)

    def state_dict(self) -> dict:
        finished = self.order is None or self.epoch_finished
        return {"rng": self.rng.getstate(), "order": None if finished else self.order, "position": self.position}

    def load_state_dict(self, state: dict) -> None:
        self.rng.setstate(state["rng"])
        self.order, self.position = state["order"], state["position"]
