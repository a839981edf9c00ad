"""DPR's passages TSV (`psgs_w100.tsv`): one reader and one writer of the format, used everywhere.

    id<TAB>text<TAB>title
    1<TAB>"Aaron Aaron ( or ; ""Ahärôn"") is a prophet, ..."<TAB>Aaron

DPR writes and reads the file with Python's csv module (tab-delimited, default quoting): a field that holds a `"`
(or a tab or a line break) is quoted, with its own quotes doubled. Read with that same rule, the first row of
Wikipedia's file is `Aaron ( or ; "Ahärôn") is a prophet, ...`; split on tabs, it keeps the outer and the doubled
quotes, and every tool built on it (indexing, evaluation, mining, gold matching by text) sees altered text.

The reader streams (21 million passages never sit in memory) and reports where each row starts in the file, so the
corpus encoder can resume at any row. A `.gz` file is read through gzip (not seekable: unpack it to resume).

    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "passages.tsv"
    >>> write_passages_tsv(path, [Passage("Aaron", 'Aaron ( or ; "Ahärôn") is a prophet', "1")])
    >>> path.read_text(encoding="utf-8").splitlines()[1]
    '1\\t"Aaron ( or ; ""Ahärôn"") is a prophet"\\tAaron'
    >>> read_passages_tsv(path)[0].text
    'Aaron ( or ; "Ahärôn") is a prophet'
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Iterable, Iterator
from pathlib import Path

from ..core.errors import SettingsError
from ..core.files import write_text_atomic
from .dpr_file import DPRDataError, Passage

HEADER = ["id", "text", "title"]


def is_gzipped(path: Path) -> bool:
    with open(path, "rb") as raw:
        return raw.read(2) == b"\x1f\x8b"


def read_passage_rows(path: str | Path, start_byte: int = 0) -> Iterator[tuple[int, Passage]]:
    """(byte offset where the row starts, Passage) for every row of a passages TSV, from `start_byte` (a row start).

    Blank lines are skipped; a row with other than three fields is an error naming its line; a quoted field may
    span lines.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Passages file not found: {path}. Give a DPR passages TSV (id, text, title).")
    gzipped = is_gzipped(path)
    if gzipped and start_byte:
        raise SettingsError(f"{path} is gzipped, so reading cannot start in the middle: unpack it first (gunzip).")
    with gzip.open(path, "rb") if gzipped else open(path, "rb") as f:
        f.seek(start_byte)
        starts: list[int] = []  # where each line handed to the csv reader starts; csv may take several for a row
        lines_read = [0]  # for errors: the line being read (counted from start_byte)

        def lines() -> Iterator[str]:
            position = start_byte
            for line in f:
                starts.append(position)
                position += len(line)
                lines_read[0] += 1
                yield line.decode("utf-8")

        reader = csv.reader(lines(), delimiter="\t")
        used = 0  # lines the rows so far took
        try:
            if start_byte == 0:
                header = next(reader, None)
                used = reader.line_num
                del starts[:used]
                if header is None or [h.strip() for h in header[:3]] != HEADER:
                    raise DPRDataError(
                        f"{path}: expected a header row 'id<TAB>text<TAB>title' (DPR's passages TSV), got {header!r}."
                    )
            for row in reader:
                offset = starts[0]
                del starts[: reader.line_num - used]  # keep only lines not yet part of a row
                used = reader.line_num
                if not row:  # a blank line
                    continue
                if len(row) != 3:  # a stray or missing tab would shift text into title, or drop the passage
                    raise DPRDataError(
                        f"{path}, line {reader.line_num}: {len(row)} field(s) where a passage has 3 "
                        "(id<TAB>text<TAB>title). Quote a field that holds a tab (as csv does), or "
                        "fix the row."
                    )
                yield offset, Passage(title=row[2], text=row[1], passage_id=row[0])
        except UnicodeDecodeError as e:
            raise DPRDataError(
                f"{path}, line {lines_read[0]}: not UTF-8 text ({e.reason} at byte {e.start}). Save "
                "the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)."
            ) from None
        except (csv.Error, EOFError, gzip.BadGzipFile) as e:
            raise DPRDataError(
                f"{path}, line {lines_read[0]}: cannot be read as a passages TSV ({e}). The file "
                "is truncated or not DPR's format: download it again."
            ) from None


def read_passages_tsv(path: str | Path) -> list[Passage]:
    """Every passage of a DPR passages TSV (plain or gzipped), in file order."""
    return [passage for _, passage in read_passage_rows(path)]


def write_passages_tsv(path: str | Path, passages: Iterable[Passage]) -> None:
    """Write passages as DPR does (csv quoting), atomically. A passage without an id is written with its
    `Passage.stable_id`: DPR's tools key passages by id, and blank ids would make them all one passage."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter="\t", lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows([p.stable_id, p.text, p.title] for p in passages)
    write_text_atomic(path, buffer.getvalue())
