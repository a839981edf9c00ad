"""dpr_nb.data.beir: BEIR folders as BEIR's own loader reads them (a header line in each qrels file, `_id` fields,
metadata, graded scores), evaluated and trained on, with one-line errors; nDCG's graded gain against ir_measures
reading the dataset's own qrels and our TREC run."""

import json
import math

import numpy as np
import pytest

from dpr_nb.data.beir import beir_split, load_beir_questions, read_beir_corpus
from dpr_nb.data.builtin_data import builtin_passages, make_builtin_dataset
from dpr_nb.data.dpr_file import DPRDataError, DPRExample, Passage
from dpr_nb.data.splits import load_questions
from dpr_nb.evaluation.corpus_eval import load_corpus, score_ranking

# The toy folder's q3 has only a passage judged 0: each load says it is left out (one test checks that warning).
pytestmark = pytest.mark.filterwarnings("ignore:.*have no passage judged relevant:UserWarning")


def write_beir(folder, corpus, queries, qrels_by_split):
    """A BEIR folder as the benchmark's zip files hold it."""
    (folder / "qrels").mkdir(parents=True)
    with open(folder / "corpus.jsonl", "w", encoding="utf-8") as out:
        for doc_id, title, text in corpus:
            out.write(json.dumps({"_id": doc_id, "title": title, "text": text, "metadata": {}}) + "\n")
    with open(folder / "queries.jsonl", "w", encoding="utf-8") as out:
        for query_id, text in queries:
            out.write(json.dumps({"_id": query_id, "text": text, "metadata": {}}) + "\n")
    for split, rows in qrels_by_split.items():
        lines = ["query-id\tcorpus-id\tscore"] + [f"{q}\t{d}\t{s}" for q, d, s in rows]
        (folder / "qrels" / f"{split}.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


@pytest.fixture
def toy(tmp_path):
    corpus = [("d1", "Alpha", "alpha text"), ("d2", "Beta", "beta text"), ("d3", "", "gamma text"), ("d4", "D", "")]
    queries = [("q1", "which is beta"), ("q2", "alpha or gamma"), ("q3", "nothing relevant"), ("q4", "unused")]
    qrels = {
        "test": [("q1", "d2", 1), ("q2", "d3", 1), ("q2", "d1", 2), ("q2", "d4", 0), ("q3", "d1", 0)],
        "dev": [("q1", "d2", 1)],
    }
    return write_beir(tmp_path / "toy", corpus, queries, qrels)


def test_a_split_becomes_questions_with_their_graded_positives_best_first(toy):
    left_out = r"1 query\(ies\) have no passage judged relevant and are left out \(BEIR's own"
    with pytest.warns(UserWarning, match=left_out):
        examples = load_beir_questions(toy, "test")
    # q3 has no passage judged relevant (only a 0): nothing to find, left out. q4 is in no qrels.
    assert [(e.question_id, e.question) for e in examples] == [("q1", "which is beta"), ("q2", "alpha or gamma")]
    assert [p.passage_id for p in examples[1].positives] == ["d1", "d3"]  # grade 2 before grade 1
    assert examples[1].relevance == {"id:d1": 2, "id:d3": 1}
    assert examples[0].answers == [] and examples[0].hard_negatives == []
    assert [e.question_id for e in load_questions(toy / "qrels" / "dev.tsv")] == ["q1"]
    assert [e.question_id for e in load_questions(toy, max_samples=1)] == ["q1"]


def test_the_corpus_is_every_document_in_file_order_titles_and_blank_texts_kept(toy):
    expected = [Passage("Alpha", "alpha text", "d1"), Passage("Beta", "beta text", "d2")]
    expected += [Passage("", "gamma text", "d3"), Passage("D", "", "d4")]
    assert list(read_beir_corpus(toy)) == expected
    assert load_corpus(toy) == load_corpus(toy / "corpus.jsonl") == load_corpus(toy / "qrels" / "test.tsv") == expected


def test_half_a_surrogate_pair_in_a_beir_file_reads_as_a_question_mark(tmp_path):
    folder = write_beir(
        tmp_path / "cut", [("d1", "T", "a cut \ud83d emoji")], [("q1", "cut \ud83d?")], {"test": [("q1", "d1", 1)]}
    )
    assert list(read_beir_corpus(folder)) == [Passage("T", "a cut ? emoji", "d1")]
    assert load_beir_questions(folder, "test")[0].question == "cut ??"


def test_what_is_and_is_not_a_beir_source(toy, tmp_path):
    assert beir_split(toy) == (toy, "test") and beir_split(toy / "qrels" / "dev.tsv") == (toy, "dev")
    (tmp_path / "file.json").write_text("[]")
    assert beir_split(tmp_path / "file.json") is None and beir_split(tmp_path) is None
    # A TSV in a folder named qrels is not a BEIR split without a corpus beside it; a corpus without qrels is no folder.
    (tmp_path / "other" / "qrels").mkdir(parents=True)
    (tmp_path / "other" / "qrels" / "passages.tsv").write_text("id\ttext\ttitle\n")
    assert beir_split(tmp_path / "other" / "qrels" / "passages.tsv") is None
    (tmp_path / "no_qrels").mkdir()
    (tmp_path / "no_qrels" / "corpus.jsonl").write_text((toy / "corpus.jsonl").read_text())
    assert beir_split(tmp_path / "no_qrels") is None


def test_a_gzipped_folder_with_numeric_ids_reads_as_the_plain_one(toy):
    import gzip

    expected_questions, expected_corpus = load_beir_questions(toy), load_corpus(toy)
    for name in ("corpus.jsonl", "queries.jsonl"):
        with gzip.open(toy / f"{name}.gz", "wt", encoding="utf-8") as out:
            out.write((toy / name).read_text(encoding="utf-8"))
        (toy / name).unlink()
    assert load_beir_questions(toy) == expected_questions and load_corpus(toy) == expected_corpus
    with gzip.open(toy / "corpus.jsonl.gz", "at", encoding="utf-8") as out:
        out.write(json.dumps({"_id": 17, "title": "N", "text": "numbered"}) + "\n")  # some corpora write numbers
    (toy / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\t17\t1\n", encoding="utf-8")
    assert [p.passage_id for p in load_beir_questions(toy)[0].positives] == ["17"]


def test_a_split_not_there_names_the_ones_that_are(toy):
    with pytest.raises(DPRDataError, match=r"qrels/train.tsv: no such split in .* Its splits: dev, test\.$"):
        load_beir_questions(toy, "train")


def test_max_samples_counts_only_questions_with_a_relevant_passage(toy):
    rows = "query-id\tcorpus-id\tscore\nq3\td1\t0\nq1\td2\t1\nq2\td3\t1\n"  # q3 first, judged 0 only
    (toy / "qrels" / "test.tsv").write_text(rows, encoding="utf-8")
    assert [e.question_id for e in load_beir_questions(toy, max_samples=1)] == ["q1"]


def test_graded_ndcg_equals_ir_measures_on_the_datasets_own_qrels_and_our_run_file(toy, tmp_path):
    ir_measures = pytest.importorskip("ir_measures")
    from dpr_nb.evaluation.trec import standard_measures, write_trec_run

    examples, corpus = load_beir_questions(toy), load_corpus(toy)
    scores = np.array([[0.1, 0.9, 0.3, 0.2], [0.8, 0.1, 0.9, 0.5]], dtype=np.float32)  # q2 ranks d3 over d1
    result = score_ranking("model", examples, corpus, scores, ks=(4,))
    ours = standard_measures(result, examples, corpus, ["nDCG@10", "AP@4"])
    gain = lambda rank: 1 / math.log2(rank + 1)  # noqa: E731  (rank from 1)
    # q2: d3 (grade 1) at rank 1, d1 (grade 2) at rank 2; ideally d1 first.
    expected = np.mean([1.0, (1 * gain(1) + 2 * gain(2)) / (2 * gain(1) + 1 * gain(2))])
    assert ours["ndcg_at_10"] == pytest.approx(expected)

    run = write_trec_run(tmp_path / "run.trec", result, corpus, examples=examples)
    assert run.read_text().splitlines()[0] == "q1 Q0 d2 1 0.900000 model"  # BEIR's own ids
    rows = [line.split("\t") for line in (toy / "qrels" / "test.tsv").read_text().splitlines()[1:]]
    judged = {q for q, _, s in rows if int(s) > 0}
    qrels = [ir_measures.Qrel(q, d, int(s)) for q, d, s in rows if q in judged]
    theirs = ir_measures.calc_aggregate(
        [ir_measures.parse_measure("nDCG@10"), ir_measures.parse_measure("AP@4")],
        qrels,
        list(ir_measures.read_trec_run(str(run))),
    )
    assert ours == pytest.approx({"ndcg_at_10": theirs[ir_measures.nDCG @ 10], "map_at_4": theirs[ir_measures.AP @ 4]})


@pytest.mark.parametrize(
    "damage, message",
    [
        (("qrels/test.tsv", "q1\td2\n"), r"qrels/test.tsv, line 2: expected 3 fields separated by tabs"),
        (("qrels/test.tsv", "q1\td2\thigh\n"), r"qrels/test.tsv, line 2: field 'score' must be an integer"),
        (("qrels/test.tsv", "q9\td2\t1\n"), r"query-id 'q9' \(1 in all\) is not in queries.jsonl"),
        (("corpus.jsonl", '{"_id": "d1", "text": "a"}\n{"_id": "d2", "te'), r"corpus.jsonl, line 2: invalid JSON"),
        (("corpus.jsonl", '{"title": "A", "text": "a"}\n'), r"corpus.jsonl, line 1: field '_id' must be a non-empty"),
        (("queries.jsonl", '{"_id": "q1"}\n'), r"queries.jsonl, line 1: field 'text' must be a non-empty string"),
    ],
    ids=["two fields", "score", "unknown query", "broken line", "no id", "no text"],
)
def test_a_damaged_folder_is_one_line_naming_file_line_and_field(toy, damage, message):
    name, content = damage
    if name.startswith("qrels"):
        content = "query-id\tcorpus-id\tscore\n" + content
    (toy / name).write_text(content, encoding="utf-8")
    with pytest.raises(DPRDataError, match=message) as error:
        load_beir_questions(toy)
    # One line, and no chained traceback under it.
    assert "\n" not in str(error.value) and (error.value.__context__ is None or error.value.__suppress_context__)


def test_judged_passages_missing_from_the_corpus_are_said_and_a_question_with_none_left_is_left_out(toy):
    rows = "query-id\tcorpus-id\tscore\nq1\td2\t1\nq2\tgone\t1\n"
    (toy / "qrels" / "test.tsv").write_text(rows, encoding="utf-8")
    said = r"1 passage\(s\) judged relevant are not in corpus.jsonl \(they count as never found.*\); 1 question"
    with pytest.warns(UserWarning, match=said):
        assert [e.question_id for e in load_beir_questions(toy)] == ["q1"]


def test_a_judged_passage_the_corpus_lacks_counts_as_never_found_as_in_beirs_evaluation(toy, tmp_path):
    """BEIR's evaluation (pytrec_eval on the dataset's qrels) keeps a judged document its corpus lacks in recall's
    denominator and nDCG's ideal ranking: ours equals ir_measures on the whole qrels file and our run."""
    ir_measures = pytest.importorskip("ir_measures")
    from dpr_nb.evaluation.trec import standard_measures, write_trec_run

    rows = "query-id\tcorpus-id\tscore\nq1\td2\t1\nq2\td3\t1\nq2\tgone\t2\nq2\td1\t2\n"
    (toy / "qrels" / "test.tsv").write_text(rows, encoding="utf-8")
    with pytest.warns(UserWarning, match="not in corpus.jsonl"):
        examples = load_beir_questions(toy)
    assert [e.unavailable_grades() for e in examples] == [[], [2]]
    corpus = load_corpus(toy)
    scores = np.array([[0.1, 0.9, 0.3, 0.2], [0.8, 0.1, 0.9, 0.5]], dtype=np.float32)  # q2: d3, d1, d4, d2
    result = score_ranking("model", examples, corpus, scores, ks=(1, 4))
    # By hand: q1 finds its one passage at rank 1; q2 finds d3 (1) at rank 1 and d1 (2) at rank 2 of three judged.
    assert result.metrics["recall_at_1"] == pytest.approx((1 + 1 / 3) / 2)
    assert result.metrics["recall_at_4"] == pytest.approx((1 + 2 / 3) / 2)
    gain = lambda rank: 1 / math.log2(rank + 1)  # noqa: E731  (rank from 1)
    ideal = 2 * gain(1) + 2 * gain(2) + 1 * gain(3)
    ours = standard_measures(result, examples, corpus, ["nDCG@10", "AP@4"])
    assert ours["ndcg_at_10"] == pytest.approx((1 + (gain(1) + 2 * gain(2)) / ideal) / 2)

    run = write_trec_run(tmp_path / "run.trec", result, corpus, examples=examples)
    qrels = [ir_measures.Qrel(*line.split("\t")[:2], int(line.split("\t")[2])) for line in rows.splitlines()[1:]]
    measures = [ir_measures.nDCG @ 10, ir_measures.AP @ 4, ir_measures.R @ 1, ir_measures.R @ 4]
    theirs = ir_measures.calc_aggregate(measures, qrels, list(ir_measures.read_trec_run(str(run))))
    assert ours == pytest.approx({"ndcg_at_10": theirs[ir_measures.nDCG @ 10], "map_at_4": theirs[ir_measures.AP @ 4]})
    recall = {k: result.metrics[f"recall_at_{k}"] for k in (1, 4)}
    assert recall == pytest.approx({1: theirs[ir_measures.R @ 1], 4: theirs[ir_measures.R @ 4]})


@pytest.fixture
def builtin_beir(tmp_path):
    """The built-in dataset as a BEIR folder: its 280 passages, its train and test questions, each judging its gold
    passage 2 and its first hard negative 1 (a passage about the right town)."""
    data, corpus = make_builtin_dataset(), builtin_passages()
    queries, qrels = [], {}
    for split in ("train", "test"):
        qrels[split] = []
        for number, record in enumerate(data[split]):
            query_id = f"{split}-{number}"
            queries.append((query_id, record["question"]))
            qrels[split].append((query_id, record["positive_ctxs"][0]["passage_id"], 2))
            qrels[split].append((query_id, record["hard_negative_ctxs"][0]["passage_id"], 1))
    rows = [(p["passage_id"], p["title"], p["text"]) for p in corpus]
    return write_beir(tmp_path / "builtin-beir", rows, queries, qrels)


def test_dpr_nb_eval_on_a_beir_folder_ranks_its_corpus_with_graded_ndcg(builtin_beir, tmp_path, capsys):
    pytest.importorskip("ir_measures")
    from dpr_nb import DensePassageRetriever
    from dpr_nb.cli import main
    from dpr_nb.model.encoders import BiEncoder, tiny_encoder

    DensePassageRetriever(model=BiEncoder(tiny_encoder(seed=1), tiny_encoder(seed=2)), use_gpu=False).save(
        tmp_path / "model"
    )
    command = ["eval", "--model", str(tmp_path / "model"), "--questions", str(builtin_beir)]
    assert main([*command, "--json", str(tmp_path / "out.json"), "--trec-run", str(tmp_path / "run.trec")]) == 0
    printed = capsys.readouterr().out
    assert "100 questions" in printed and "all 280 passages" in printed and "ndcg_at_10" in printed
    saved = json.loads((tmp_path / "out.json").read_text())
    assert saved["corpus"] == str(builtin_beir)
    assert set(saved["results"]) == {str(tmp_path / "model"), "BM25"}
    # BM25's figures are deterministic: they equal its ranking scored here directly, graded nDCG included.
    from dpr_nb.evaluation.corpus_eval import evaluate_corpus_bm25
    from dpr_nb.evaluation.trec import standard_measures

    examples, corpus = load_beir_questions(builtin_beir), load_corpus(builtin_beir)
    bm25 = evaluate_corpus_bm25(examples, corpus, ks=(1, 5, 20, 100))  # the command's default ks
    direct = standard_measures(bm25, examples, corpus, ["nDCG@10"])
    assert saved["results"]["BM25"]["ndcg_at_10"] == pytest.approx(direct["ndcg_at_10"])
    assert saved["results"]["BM25"]["recall_at_100"] == pytest.approx(bm25.metrics["recall_at_100"])
    # The run file is the model's ranking (its name in the last column), 100 passages for each of the 100 queries.
    lines = [line.split() for line in (tmp_path / "run.trec").read_text().splitlines()]
    assert {line[0] for line in lines} == {f"test-{n}" for n in range(100)} and len(lines) == 100 * 100
    assert {line[5] for line in lines} == {str(tmp_path / "model").replace(" ", "_")}


def test_a_model_trains_on_a_beir_folders_train_split(builtin_beir, tmp_path):
    from dpr_nb import TrainConfig
    from dpr_nb.data.splits import load_training_data
    from dpr_nb.training.train import train_model

    config = TrainConfig.preset(
        "smoke", data_dir=str(builtin_beir), train_filename="qrels/train.tsv", test_filename="qrels/test.tsv"
    )
    splits = load_training_data(config.replace(dev_split=0.1))
    assert (len(splits["train"]), len(splits["dev"]), len(splits["test"])) == (450, 50, 100)
    example = splits["train"][0]
    assert isinstance(example, DPRExample) and len(example.positives) == 2
    assert example.relevance == {example.positives[0].key: 2, example.positives[1].key: 1}  # the gold passage first
    trained = train_model(config.replace(n_epochs=1, max_samples=64, save_dir=None))
    assert len(trained.history.steps) == 64 // config.batch_size
    assert trained.reports["test"]["num_questions"] == 100


def test_the_qrels_are_read_as_beirs_loader_reads_them(toy):
    """The first line is the header whatever its names; fields past the third are ignored; ids are matched without
    the spaces around them, in the queries as in the qrels."""
    (toy / "qrels" / "test.tsv").write_text("query_id\tdoc_id\trelevance\n q1 \t d2 \t1\textra\n", encoding="utf-8")
    (toy / "queries.jsonl").write_text(json.dumps({"_id": "q1 ", "text": "which is beta"}) + "\n", encoding="utf-8")
    assert [(e.question_id, [p.passage_id for p in e.positives]) for e in load_beir_questions(toy)] == [("q1", ["d2"])]


def test_two_judged_ids_of_one_text_are_one_document_with_the_better_grade(tmp_path):
    """Two ids, one title and text: the corpus holds one document to find twice. Ranked first, it is a perfect
    ranking (nDCG 1, AP 1), graded by the better of its two grades."""
    pytest.importorskip("ir_measures")
    from dpr_nb.evaluation.trec import _judged, standard_measures

    corpus = [("d1", "Same", "same text"), ("d2", "Same", "same text"), ("d3", "Other", "other text")]
    folder = write_beir(tmp_path / "dup", corpus, [("q1", "same")], {"test": [("q1", "d1", 2), ("q1", "d2", 1)]})
    examples, passages = load_beir_questions(folder), load_corpus(folder)
    result = score_ranking("m", examples, passages, np.array([[0.9, 0.8, 0.1]], dtype=np.float32), ks=(3,))
    assert standard_measures(result, examples, passages, ["nDCG@10", "AP@3"]) == {"ndcg_at_10": 1.0, "map_at_3": 1.0}
    qrels, _ = _judged(result, examples, passages)
    assert [(q.doc_id, q.relevance) for q in qrels] == [("gold-0", 2)]
    assert result.metrics["recall_at_3"] == 1.0


def test_a_float64_ranking_keeps_its_precision():
    corpus = [Passage("A", "a", "a"), Passage("B", "b", "b")]
    examples = [DPRExample("q", [], [corpus[1]])]
    result = score_ranking("m", examples, corpus, np.array([[1.0, 1.0 + 1e-9]]), ks=(2,))
    assert result.top_indices.tolist() == [[1, 0]] and result.top_scores.dtype == np.float64
