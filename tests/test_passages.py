import gzip
import json

import pytest

from conftest import XQUAD, need
from dpr_nb.data.dpr_file import DPRDataError, Passage
from dpr_nb.data.passages import read_passage_rows, read_passages_tsv, write_passages_tsv
from dpr_nb.evaluation.corpus_eval import load_corpus

# The first rows of DPR's psgs_w100.tsv, byte for byte as DPR's csv writer wrote them.
PSGS_W100 = (
    "id\ttext\ttitle\n"
    '1\t"Aaron Aaron ( or ; ""Ahärôn"") is a prophet, high priest, and the brother of Moses."\tAaron\n'
    "2\tSo Moses and Aaron went in to Pharaoh\tAaron\n"
    '3\t"He said ""go"""\t"A ""quoted"" title"\n'
)


def test_a_quoted_row_reads_as_dpr_reads_it(tmp_path):
    path = tmp_path / "psgs_w100.tsv"
    path.write_text(PSGS_W100, encoding="utf-8")
    passages = read_passages_tsv(path)
    assert passages[0] == Passage(
        "Aaron", 'Aaron Aaron ( or ; "Ahärôn") is a prophet, high priest, and the brother of Moses.', "1"
    )
    assert passages[2] == Passage('A "quoted" title', 'He said "go"', "3")
    # Every tool reads it the same way: corpus evaluation, indexing and mining all go through load_corpus or this.
    assert load_corpus(path) == passages


def test_gzipped_tsv_reads_the_same(tmp_path):
    path = tmp_path / "psgs_w100.tsv.gz"
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write(PSGS_W100)
    plain = tmp_path / "plain.tsv"
    plain.write_text(PSGS_W100, encoding="utf-8")
    assert load_corpus(path) == read_passages_tsv(plain)


def test_row_offsets_point_at_each_row_even_when_a_quoted_field_spans_lines(tmp_path):
    passages = [
        Passage("T1", "one", "1"),
        Passage("T2", "two lines\nin one field", "2"),
        Passage("T\t3", 'tab and "quote"', "3"),
        Passage("T4", "four", "4"),
    ]
    path = tmp_path / "p.tsv"
    write_passages_tsv(path, passages)
    rows = list(read_passage_rows(path))
    assert [p for _, p in rows] == passages
    for index, (offset, _) in enumerate(rows):  # starting at a row's offset reads from that row on
        assert [p for _, p in read_passage_rows(path, offset)] == passages[index:]


def test_write_then_read_round_trips_every_xquad_paragraph(tmp_path):
    """convert-squad's own TSV: 76 of XQuAD-en's 240 paragraphs hold a quote, which a tab split kept doubled."""
    squad = json.loads((need(XQUAD) / "xquad.en.json").read_text(encoding="utf-8"))
    passages = [
        Passage(a["title"], p["context"], f"{i}-{j}")
        for i, a in enumerate(squad["data"])
        for j, p in enumerate(a["paragraphs"])
    ]
    assert sum('"' in p.text for p in passages) == 76
    write_passages_tsv(tmp_path / "passages.tsv", passages)
    assert read_passages_tsv(tmp_path / "passages.tsv") == passages


def test_convert_squad_tsv_and_json_agree_on_every_text(tmp_path):
    from dpr_nb.tools.squad import convert_squad

    convert_squad(need(XQUAD) / "xquad.en.json", tmp_path, num_hard_negatives=2)
    by_id = {p.passage_id: p for p in read_passages_tsv(tmp_path / "passages.tsv")}
    records = json.loads((tmp_path / "train.json").read_text(encoding="utf-8"))
    contexts = [c for r in records for c in (*r["positive_ctxs"], *r["hard_negative_ctxs"])]
    assert any('"' in c["text"] for c in contexts)
    assert all(by_id[c["passage_id"]] == Passage(c["title"], c["text"], c["passage_id"]) for c in contexts)


def test_a_missing_header_is_one_clear_error(tmp_path):
    bad = tmp_path / "bad.tsv"
    bad.write_text("1\tsome text\tA title\n")
    with pytest.raises(DPRDataError, match=r"bad.tsv: expected a header row 'id<TAB>text<TAB>title'"):
        read_passages_tsv(bad)


def test_saved_files_get_ordinary_permissions(tmp_path):
    from dpr_nb.core.files import current_umask

    write_passages_tsv(tmp_path / "p.tsv", [Passage("T", "x", "1")])
    assert (tmp_path / "p.tsv").stat().st_mode & 0o777 == 0o666 & ~current_umask()
