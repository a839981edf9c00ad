import csv
import json

import pytest

from conftest import XQUAD, need
from dpr_nb.cli import main
from dpr_nb.data.dpr_file import load_dpr_file
from dpr_nb.data.matching import has_answer
from dpr_nb.tools.squad import SPLITS, convert_squad


@pytest.fixture(scope="module", params=["en", "de", "zh"])
def xquad(request, tmp_path_factory):
    source = need(XQUAD / f"xquad.{request.param}.json")
    out = tmp_path_factory.mktemp(f"xquad-{request.param}")
    return request.param, out, convert_squad(source, out)


def _ids(context_list):
    return {c["passage_id"] for c in context_list}


def test_xquad_files_load_and_count(xquad):
    _, out, counts = xquad
    examples = {split: load_dpr_file(out / f"{split}.json") for split in SPLITS}
    assert sum(len(e) for e in examples.values()) == 1190  # XQuAD has no unanswerable questions
    assert all(len(examples[s]) == counts[s]["questions"] for s in SPLITS)
    assert all(counts[s]["unanswerable"] == 0 for s in SPLITS)
    with open(out / "passages.tsv", encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f, delimiter="\t"))
    assert rows[0] == ["id", "text", "title"] and len(rows) == 241
    assert len({row[0] for row in rows[1:]}) == 240
    assert sum(counts[s]["passages"] for s in SPLITS) == 240


def test_xquad_splits_are_by_article_and_disjoint(xquad):
    _, out, counts = xquad
    records = {split: json.loads((out / f"{split}.json").read_text(encoding="utf-8")) for split in SPLITS}
    ids = {
        s: set().union(*(_ids(r["positive_ctxs"]) | _ids(r["hard_negative_ctxs"]) for r in records[s])) for s in SPLITS
    }
    for i, a in enumerate(SPLITS):
        for b in SPLITS[i + 1 :]:
            assert not ids[a] & ids[b], f"passages in both {a} and {b}"
    articles = {s: {pid.split("-")[0] for pid in ids[s]} for s in SPLITS}
    assert {s: len(articles[s]) for s in SPLITS} == {"train": 38, "dev": 5, "test": 5}
    assert {s: counts[s]["articles"] for s in SPLITS} == {"train": 38, "dev": 5, "test": 5}


def test_xquad_positives_hold_the_answer_and_hard_negatives_do_not(xquad):
    _, out, counts = xquad
    with_negatives = 0
    for split in SPLITS:
        for record in json.loads((out / f"{split}.json").read_text(encoding="utf-8")):
            answers = [a.casefold() for a in record["answers"]]
            assert any(a in record["positive_ctxs"][0]["text"].casefold() for a in answers)
            own = record["positive_ctxs"][0]["passage_id"]
            for ctx in record["hard_negative_ctxs"]:
                assert ctx["passage_id"] != own
                assert not any(a in ctx["text"].casefold() for a in answers)
                assert not has_answer(ctx["text"], record["answers"])  # nor after DPR's normalisation
            scores = [c["score"] for c in record["hard_negative_ctxs"]]
            assert scores == sorted(scores, reverse=True) and all(s > 0 for s in scores)
            with_negatives += bool(record["hard_negative_ctxs"])
    assert with_negatives > 1100  # BM25 finds negatives for nearly every question


def test_char_level_is_detected_for_chinese_only(xquad):
    language, _, counts = xquad
    assert counts["char_level"] is (language == "zh")


def _squad_v2(tmp_path):
    def qa(qid, question, answer=None, impossible=False):
        answers = [] if answer is None else [{"text": answer, "answer_start": 0}]
        return {"id": qid, "question": question, "answers": answers, "is_impossible": impossible}

    data = {
        "version": "v2.0",
        "data": [
            {
                "title": "Cities",
                "paragraphs": [
                    {
                        "context": "Paris is the capital of France and sits on the river Seine.",
                        "qas": [
                            qa("q1", "Which city is the capital of France on the Seine?", "Paris"),
                            qa("q2", "What is the capital of Atlantis?", impossible=True),
                            qa("q3", "Who founded the Seine?"),
                        ],
                    },  # no answers at all: also unanswerable
                    {"context": "The capital of France, paris, has many bridges over the Seine river.", "qas": []},
                    {"context": "A French capital city on the Seine river was once Rouen, in Normandy.", "qas": []},
                    {
                        "context": "Zeppelin airships flew over the aurora borealis near Tromso.",
                        "qas": [qa("q4", "Which airships flew over the aurora borealis?", "Zeppelin")],
                    },
                    {"context": "The aurora borealis is seen from Tromso; airships are rare there.", "qas": []},
                    {"context": "Bananas grow in warm places.", "qas": []},
                ],
            }
        ],
    }
    path = tmp_path / "tiny-v2.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_squad_v2_skips_unanswerable_and_answer_bearing_negatives(tmp_path):
    counts = convert_squad(_squad_v2(tmp_path), tmp_path / "out", dev_fraction=0, test_fraction=0)
    assert counts["train"]["unanswerable"] == 2 and counts["train"]["questions"] == 2
    assert counts["char_level"] is False
    records = {r["question"]: r for r in json.loads((tmp_path / "out" / "train.json").read_text())}
    paris = records["Which city is the capital of France on the Seine?"]
    negatives = [c["passage_id"] for c in paris["hard_negative_ctxs"]]
    assert "0-1" not in negatives  # it mentions "paris": a false negative
    assert negatives[0] == "0-2"  # shares "city", "capital", "on", "seine": the best answer-free hit
    assert "0-5" not in negatives  # no word in common with the question: not a BM25 hit
    assert paris["dataset"] == "tiny-v2" and paris["answers"] == ["Paris"]
    assert paris["positive_ctxs"][0]["passage_id"] == "0-0" and paris["positive_ctxs"][0]["score"] == 1000


def test_half_a_surrogate_pair_in_a_squad_file_is_written_as_a_question_mark(tmp_path):
    # The passages TSV is UTF-8, which cannot hold "\\ud83d" alone (an emoji cut in two): it failed with a traceback.
    path = _squad_v2(tmp_path)
    path.write_text(path.read_text().replace("Bananas grow", "Bananas \\ud83d grow"))
    convert_squad(path, tmp_path / "out", dev_fraction=0, test_fraction=0)
    with open(tmp_path / "out" / "passages.tsv", encoding="utf-8") as f:
        assert "Bananas ? grow in warm places." in [row[1] for row in csv.reader(f, delimiter="\t")]


def test_bm25_ranks_the_passage_with_the_rare_words_first(tmp_path):
    convert_squad(_squad_v2(tmp_path), tmp_path / "out", dev_fraction=0, test_fraction=0)
    records = {r["question"]: r for r in json.loads((tmp_path / "out" / "train.json").read_text())}
    negatives = records["Which airships flew over the aurora borealis?"]["hard_negative_ctxs"]
    # 0-4 shares the rare "airships", "aurora" and "borealis"; the others share only "the".
    assert [c["passage_id"] for c in negatives][0] == "0-4"
    assert negatives[0]["score"] > negatives[-1]["score"] and negatives[0]["title_score"] == 1


def test_char_level_can_be_forced(tmp_path):
    counts = convert_squad(_squad_v2(tmp_path), tmp_path / "out", dev_fraction=0, test_fraction=0, char_level=True)
    assert counts["char_level"] is True


def test_bad_fractions_raise(tmp_path):
    with pytest.raises(ValueError, match="sum"):
        convert_squad(_squad_v2(tmp_path), tmp_path / "out", dev_fraction=0.5, test_fraction=0.5)


def test_cli_convert_squad(tmp_path, capsys):
    out = tmp_path / "out"
    assert (
        main(
            [
                "data",
                "convert-squad",
                str(_squad_v2(tmp_path)),
                str(out),
                "--dev-fraction",
                "0",
                "--test-fraction",
                "0",
                "--num-hard-negatives",
                "1",
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "questions=2" in printed and "unanswerable=2" in printed and "tokenisation: words" in printed
    records = json.loads((out / "train.json").read_text())
    assert all(len(r["hard_negative_ctxs"]) == 1 for r in records)
    assert main(["data", "convert-squad", str(tmp_path / "missing.json"), str(out)]) == 1
