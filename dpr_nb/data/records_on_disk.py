"""DPR records on disk, read one question at a time by position: shuffle 7.4 GB of NQ every epoch in flat memory.

Streaming (`data.read_dpr_file`) reads a file front to back; training wants the questions in a new random order
every epoch. Holding NQ's 58,880 parsed questions (with their 80 passages each) takes more RAM than Colab has, and
re-parsing the whole JSON list for every epoch is slow. So, once, the file's records are copied to a folder:

    biencoder-nq-train.json.records/
        records.jsonl   one validated record per line (title, text and id of each passage; scores dropped)
        offsets.npy     the byte offset where each line starts (8 bytes per question)
        meta.json       which source file (size, modification time) and how many records it holds

and `DPRFileOnDisk` is a `Sequence[DPRExample]` whose `examples[i]` seeks to line i and parses it. The trainer
takes it wherever it takes a list, so `TrainConfig(records_on_disk=True)` changes memory, not results.

    >>> import tempfile, json, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> record = {"question": "q?", "answers": ["a"], "positive_ctxs": [{"title": "T", "text": "a passage"}]}
    >>> _ = (folder / "train.jsonl").write_text(json.dumps(record) + "\\n" + json.dumps(record) + "\\n")
    >>> examples = DPRFileOnDisk.build(folder / "train.jsonl")
    >>> len(examples), examples[1].positives[0].text
    (2, 'a passage')
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from ..core import old_names
from ..core.files import replace_folder
from .dpr_file import DPRExample, Passage, parse_record, raw_records

FORMAT_VERSION = 1
SUFFIX = ".records"
OLD_SUFFIX = ".index"  # before 0.2; such a folder is renamed, not rebuilt, and silently: it is data, not code


def _ctx(passage: Passage) -> dict:
    ctx = {"title": passage.title, "text": passage.text}
    if passage.passage_id is not None:
        ctx["passage_id"] = passage.passage_id
    return ctx


def example_to_record(example: DPRExample) -> dict:
    """A DPR record holding exactly what training uses; `parse_record` turns it back into the same example."""
    record = {
        "question": example.question,
        "answers": example.answers,
        "positive_ctxs": [_ctx(p) for p in example.positives],
        "hard_negative_ctxs": [_ctx(p) for p in example.hard_negatives],
        "negative_ctxs": [_ctx(p) for p in example.negatives],
    }
    if example.question_id is not None:  # a source's own id (Tevatron's query_id), kept for TREC runs
        record["query_id"] = example.question_id
    return record


def _json_line(record: dict, utf8: bool) -> tuple[bytes, bool]:
    """The record as one line of JSON, and whether to write the next one as UTF-8 (`utf8`) rather than ASCII.

    For English text the escaping encoder and an ASCII string's copy to bytes write 1.3 to 1.4 times as fast as
    UTF-8; for Cyrillic or Chinese, escapes (6 bytes a character) make the folder two or three times the size and
    each epoch's reading 2.5 times as slow (docs/benchmarks.md, "Data tools"). So a record is written as ASCII unless
    escapes would hold most of it; the choice carries to the next record (text in one language follows text in it),
    and changes back once a UTF-8 line is nearly all one-byte characters. json.loads reads either.
    """
    if not utf8:
        line = json.dumps(record)
        if line.count("\\u") * 8 <= len(line):  # a third or less of the characters escaped
            return (line + "\n").encode("ascii"), False
    line = json.dumps(record, ensure_ascii=False)
    data = (line + "\n").encode("utf-8")  # no half surrogate pair reaches here: raw_records reads one as "?"
    return data, len(data) > 1.1 * len(line)


def _source_stamp(source: Path) -> dict:
    stat = source.stat()
    return {
        "source": str(source.resolve()),
        "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
        "format_version": FORMAT_VERSION,
    }


class DPRFileOnDisk(Sequence):
    """The questions of a records folder, by position; `indices` (optional) selects and orders a subset of them."""

    def __init__(self, folder: str | Path, indices: Sequence[int] | None = None):
        self.folder = Path(folder)
        meta_path = self.folder / "meta.json"
        if not meta_path.is_file():
            raise FileNotFoundError(
                f"{self.folder} is not a dpr_nb records folder (no meta.json). Build one with "
                "`dpr-nb data records FILE` or DPRFileOnDisk.build(FILE)."
            )
        self.meta = json.loads(meta_path.read_text(encoding="utf-8"))
        # Memory-mapped: the operating system pages in the offsets it needs, nothing is copied into Python.
        self.offsets = np.load(self.folder / "offsets.npy", mmap_mode="r")
        self.indices = None if indices is None else np.asarray(indices, dtype=np.int64)
        self._file = None  # opened on first read, so an instance can be pickled and sent to another process

    # -------------------------------------------------------------------------------------------------------------
    @classmethod
    def build(
        cls,
        source: str | Path,
        folder: str | Path | None = None,
        max_records: int | None = None,
        rebuild: bool = False,
    ) -> DPRFileOnDisk:
        """Index `source` (any DPR file: JSON list or Lines, gzipped or not) once; later calls reuse the folder.

        The folder (default: beside the source, named `<file>.records`) is rebuilt when the source has changed or
        when it holds fewer than the `max_records` asked for. It is written to a temporary folder and renamed, so
        an interrupted build leaves no folder behind, only a next build that starts over.
        """
        source = Path(source)
        if not source.is_file():
            raise FileNotFoundError(f"DPR data file not found: {source}. Check data_dir and the file name.")
        folder = Path(folder) if folder else _default_folder(source)
        if not rebuild and _usable(folder, source, max_records):
            return cls(folder)
        folder.parent.mkdir(parents=True, exist_ok=True)
        temporary = folder.with_name(f".{folder.name}.tmp-{os.getpid()}")
        shutil.rmtree(temporary, ignore_errors=True)
        temporary.mkdir()
        offsets, position, utf8 = [], 0, False
        records = raw_records(source)
        with open(temporary / "records.jsonl", "wb") as out:
            for record, where in itertools.islice(records, max_records):
                # Validated now, with the source's own record numbers in any error; stored as what training reads.
                example = parse_record(record, f"{source}, {where}")
                line, utf8 = _json_line(example_to_record(example), utf8)
                offsets.append(position)
                out.write(line)
                position += len(line)
            # The complete flag tells a later build asking for more records whether the source had more to give.
            complete = next(records, None) is None
        np.save(temporary / "offsets.npy", np.asarray(offsets, dtype=np.int64))
        meta = {**_source_stamp(source), "records": len(offsets), "complete": complete}
        (temporary / "meta.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        replace_folder(temporary, folder)
        return cls(folder)

    # -------------------------------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.offsets) if self.indices is None else len(self.indices)

    def __getitem__(self, item):
        if isinstance(item, slice):
            return self.subset(range(len(self))[item])
        if not -len(self) <= item < len(self):
            raise IndexError(f"question {item} of {len(self)}")
        item %= len(self)
        position = int(item if self.indices is None else self.indices[item])
        if self._file is None:
            self._file = open(self.folder / "records.jsonl", "rb")
        self._file.seek(int(self.offsets[position]))
        line = self._file.readline()
        return parse_record(json.loads(line), f"{self.folder / 'records.jsonl'}, record {position + 1}")

    def __iter__(self) -> Iterator[DPRExample]:
        return (self[i] for i in range(len(self)))

    def subset(self, indices: Sequence[int]) -> DPRFileOnDisk:
        """A view holding the given positions of this one (for a held-out dev split or max_samples)."""
        chosen = np.asarray(indices, dtype=np.int64)
        return DPRFileOnDisk(self.folder, chosen if self.indices is None else self.indices[chosen])

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_file": None, "offsets": None}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.offsets = np.load(self.folder / "offsets.npy", mmap_mode="r")

    index_dir = old_names.renamed_property(f"{__name__}.DPRFileOnDisk", "index_dir")

    def __repr__(self) -> str:
        return f"DPRFileOnDisk({str(self.folder)!r}, {len(self)} questions)"


def __getattr__(name: str):
    return old_names.renamed_attribute(__name__, name)  # IndexedDPRFile, DPRFileOnDisk's name before 0.2


def _default_folder(source: Path) -> Path:
    """`<file>.records` beside the source; a folder built before 0.2 (`<file>.index`) is renamed to it."""
    folder, old = source.with_name(source.name + SUFFIX), source.with_name(source.name + OLD_SUFFIX)
    if not folder.exists() and (old / "meta.json").is_file():
        try:
            old.rename(folder)  # NQ train's copy is gigabytes: keep it rather than build a second one
        except OSError:
            return old
    return folder


def _usable(folder: Path, source: Path, max_records: int | None) -> bool:
    try:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    same_source = all(meta.get(k) == v for k, v in _source_stamp(source).items() if k != "source")
    enough = meta.get("complete") or (max_records is not None and meta.get("records", 0) >= max_records)
    return bool(same_source and enough and (folder / "offsets.npy").is_file())


def take(examples: Sequence[DPRExample], indices: Sequence[int]) -> Sequence[DPRExample]:
    """`examples` at `indices`: a list for a list, a view (nothing read) for an DPRFileOnDisk."""
    if isinstance(examples, DPRFileOnDisk):
        return examples.subset(indices)
    return [examples[i] for i in indices]
