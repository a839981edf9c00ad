"""BEIR's folders: the layout of the BEIR benchmark (and of MTEB's retrieval tasks), read as DPR questions.

A BEIR dataset is a folder:

    corpus.jsonl      {"_id": "d1", "title": "...", "text": "...", "metadata": {...}} a line
    queries.jsonl     {"_id": "q1", "text": "...", "metadata": {...}} a line
    qrels/test.tsv    query-id <TAB> corpus-id <TAB> score, after a header line (also train.tsv, dev.tsv)

Each query of a split with a passage judged relevant (score > 0) becomes a `DPRExample`: its relevant passages are
the positives, best first, and their grades are kept (`DPRExample.relevance`) for nDCG's graded gain. BEIR has no
answers and no hard negatives: a hit is the judged passage (`match="id"`), and training tops each question up with
other questions' passages (dpr_file.BatchSampler). Passages judged 0 (seen and found not relevant) add no gain, as in
BEIR's own evaluation. A judged passage the corpus lacks stays in recall's denominator and nDCG's ideal ranking, as
in BEIR's. One thing differs, said in a warning where it happens: a query with no passage judged relevant that the
corpus holds is left out (BEIR counts it as 0 in every measure; a training question needs a positive).

    >>> beir_split("scifact/qrels/dev.tsv", must_exist=False)
    (PosixPath('scifact'), 'dev')

This module needs neither torch nor transformers (as dpr_file).
"""

from __future__ import annotations

import csv
import io
import json
import warnings
from collections.abc import Iterator
from pathlib import Path

from .dpr_file import DPRDataError, DPRExample, Passage, _open_binary, without_lone_surrogates

CORPUS, QUERIES, QRELS = "corpus.jsonl", "queries.jsonl", "qrels"


def is_beir_folder(path: str | Path) -> bool:
    """A folder with a corpus.jsonl (plain or gzipped) and a qrels folder."""
    path = Path(path)
    return path.is_dir() and (path / QRELS).is_dir() and any(path.glob(f"{CORPUS}*"))


def beir_split(path: str | Path, must_exist: bool = True) -> tuple[Path, str] | None:
    """(folder, split) when `path` is a BEIR folder (its test split) or a qrels file in one (`FOLDER/qrels/dev.tsv`:
    the dev split); None for anything else (a DPR file)."""
    path = Path(path)
    if path.name.endswith(".tsv") and path.parent.name == QRELS:
        folder = path.parent.parent
        if not must_exist or is_beir_folder(folder):
            return folder, path.name[: -len(".tsv")]
    if is_beir_folder(path):
        return path, "test"
    return None


def _file(folder: Path, name: str) -> Path:
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    raise DPRDataError(f"{folder}: no {name} here. A BEIR folder holds {CORPUS}, {QUERIES} and {QRELS}/SPLIT.tsv.")


def _json_lines(path: Path) -> Iterator[tuple[dict, str]]:
    """(object, "FILE, line N") for each line of a JSON Lines file, plain or gzipped."""
    with _open_binary(path) as raw:
        for number, line in enumerate(raw, start=1):
            if not line.strip():
                continue
            where = f"{path}, line {number}"
            try:
                text = line.decode("utf-8")
                value = json.loads(text)
            except (json.JSONDecodeError, UnicodeDecodeError) as error:
                raise DPRDataError(
                    f"{where}: invalid JSON ({error}); fix that line or download the dataset again."
                ) from None
            if not isinstance(value, dict):
                raise DPRDataError(f"{where}: expected a JSON object, got {type(value).__name__}.")
            yield without_lone_surrogates(value, text), where


def _field(value: dict, name: str, where: str) -> str:
    found = value.get(name)
    if name == "_id" and isinstance(found, int):  # some BEIR corpora write numeric ids
        found = str(found)
    if not isinstance(found, str) or not found.strip():
        raise DPRDataError(f"{where}: field {name!r} must be a non-empty string, got {found!r}. Each line needs it.")
    return found


def read_beir_corpus(source: str | Path) -> Iterator[Passage]:
    """The passages of a BEIR folder's corpus.jsonl (or of that file), in file order, streamed: `_id` is the passage
    id. A passage may have a title and no text (BEIR keeps them; nothing is dropped from a corpus)."""
    source = Path(source)
    for value, where in _json_lines(source if source.is_file() else _file(source, CORPUS)):
        title = value.get("title") or ""
        if not isinstance(title, str):
            raise DPRDataError(f"{where}: field 'title' must be a string, got {type(title).__name__}.")
        text = value.get("text") or ""  # BEIR keeps a document without text (its title may be all it has)
        if not isinstance(text, str):
            raise DPRDataError(f"{where}: field 'text' must be a string, got {type(text).__name__}.")
        yield Passage(title, text, _field(value, "_id", where))


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    """{query id: {corpus id: score}} from a qrels TSV, in file order, read as BEIR's loader reads it (the csv
    module, tab-separated, the first three fields); the first line is the header whatever it names its columns."""
    qrels: dict[str, dict[str, int]] = {}
    with _open_binary(path) as raw:
        rows = csv.reader(io.TextIOWrapper(raw, encoding="utf-8", newline=""), delimiter="\t")
        for number, fields in enumerate(rows, start=1):
            if not fields or not "".join(fields).strip():
                continue
            where = f"{path}, line {number}"
            if len(fields) < 3:
                raise DPRDataError(
                    f"{where}: expected 3 fields separated by tabs (query-id, corpus-id, score), got {len(fields)}."
                )
            try:
                score = int(fields[2])
            except ValueError:
                if number == 1:  # the header
                    continue
                raise DPRDataError(f"{where}: field 'score' must be an integer grade, got {fields[2]!r}.") from None
            qrels.setdefault(fields[0].strip(), {})[fields[1].strip()] = score
    return qrels


def load_beir_questions(folder: str | Path, split: str = "test", max_samples: int | None = None) -> list[DPRExample]:
    """The questions of a BEIR split with at least one passage judged relevant, in the qrels' order, each with its
    relevant passages (best grade first) and their grades. One pass over the corpus, keeping only judged passages,
    so a corpus of millions of passages is never held."""
    folder = Path(folder)
    qrels_file = folder / QRELS / f"{split}.tsv"
    if not qrels_file.is_file():
        splits = sorted(p.stem for p in (folder / QRELS).glob("*.tsv"))
        raise DPRDataError(f"{qrels_file}: no such split in {folder}. Its splits: {', '.join(splits) or 'none'}.")
    judged = {q: {d: s for d, s in docs.items() if s > 0} for q, docs in read_qrels(qrels_file).items()}
    unjudged = sum(not docs for docs in judged.values())
    if unjudged:
        warnings.warn(
            f"{qrels_file}: {unjudged} query(ies) have no passage judged relevant and are left out (BEIR's own "
            "evaluation counts each as 0).",
            stacklevel=2,
        )
    judged = dict(list(((q, docs) for q, docs in judged.items() if docs))[:max_samples])
    queries: dict[str, str] = {}
    for value, where in _json_lines(_file(folder, QUERIES)):
        query_id = _field(value, "_id", where).strip()  # as the qrels' ids are read
        if query_id in judged:
            queries[query_id] = _field(value, "text", where)
    missing = [q for q in judged if q not in queries]
    if missing:
        raise DPRDataError(
            f"{qrels_file}: query-id {missing[0]!r} ({len(missing)} in all) is not in {QUERIES}. The qrels and the "
            "queries come from different datasets or versions: download the dataset again."
        )
    wanted = {d for docs in judged.values() for d in docs}
    passages = {p.passage_id: p for p in read_beir_corpus(folder) if p.passage_id in wanted}
    examples, absent = [], 0
    for query_id, docs in judged.items():
        found = sorted((d for d in docs if d in passages), key=lambda d: -docs[d])
        absent += len(docs) - len(found)
        if not found:
            continue
        positives = [passages[d] for d in found]
        # The judged passages the corpus lacks keep their grades (under the key their id gives): as in BEIR's
        # evaluation, they stay in recall's denominator and nDCG's ideal ranking (DPRExample.unavailable_grades).
        relevance = {Passage("", "absent", d).key: docs[d] for d in docs if d not in passages}
        relevance |= {p.key: docs[p.passage_id] for p in positives}
        examples.append(DPRExample(queries[query_id].strip(), [], positives, relevance=relevance, question_id=query_id))
    if absent:
        warnings.warn(
            f"{qrels_file}: {absent} passage(s) judged relevant are not in {CORPUS} (they count as never found, as in "
            f"BEIR's evaluation); {len(judged) - len(examples)} question(s) kept none and are left out.",
            stacklevel=2,
        )
    return examples
