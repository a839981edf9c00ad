"""Blank passage ids, as Haystack v1's `squad_to_dpr` writes them (`"passage_id": ""` on every context), are no ids.

Before, every passage of such a file had the same key: parsing dropped every hard negative as a copy of the
positive, a batch folded into one passage (loss 0, no negatives), a corpus kept one passage, and BM25 and dense
evaluation reported top-1 = 1.0. The reference here is the same file with real ids: it must give the same results.
"""

import json

import pytest

from dpr_nb.data.batches import collate
from dpr_nb.data.dpr_file import BatchSampler, load_dpr_file
from dpr_nb.data.passages import read_passages_tsv, write_passages_tsv
from dpr_nb.evaluation.corpus_eval import evaluate_corpus, evaluate_corpus_bm25, load_corpus
from dpr_nb.model.embedding import TextEmbedder
from dpr_nb.model.encoders import BiEncoder, tiny_encoder
from dpr_nb.search.document_store import Document, InMemoryDocumentStore

PARAGRAPHS = [  # (title, text, question, answer)
    ("Velmora", "Velmora lies on the river Osk and was founded in 1120.", "When was Velmora founded?", "1120"),
    ("Dorvan", "Dorvan is known for the copper mines north of the town.", "What is Dorvan known for?", "copper"),
    ("Kelst", "Kelst holds a spring fair with music every April.", "When does Kelst hold its fair?", "April"),
    ("Ambry", "Ambry has a stone bridge built by monks.", "Who built the bridge in Ambry?", "monks"),
]


def haystack_records(blank_ids: bool = True) -> list[dict]:
    """Records as Haystack v1's squad_to_dpr writes them: the paragraph as the one positive, BM25 hits without the
    answer as hard negatives, no random negatives, and `"passage_id": ""` everywhere (or real ids, the reference)."""

    def context(i):
        title, text, _, _ = PARAGRAPHS[i]
        return {"title": title, "text": text, "passage_id": "" if blank_ids else f"p{i}"}

    return [
        {
            "question": question,
            "answers": [answer],
            "positive_ctxs": [context(i)],
            "negative_ctxs": [],
            "hard_negative_ctxs": [context(j) for j in range(len(PARAGRAPHS)) if j != i][:2],
        }
        for i, (_, _, question, answer) in enumerate(PARAGRAPHS)
    ]


@pytest.fixture
def files(tmp_path):
    paths = {}
    for name, blank in (("haystack", True), ("with_ids", False)):
        paths[name] = tmp_path / f"{name}.json"
        paths[name].write_text(json.dumps(haystack_records(blank), indent=4), encoding="utf-8")  # as Haystack dumps
    return paths


def test_a_haystack_file_keeps_every_hard_negative_and_every_passage(files):
    examples = load_dpr_file(files["haystack"])
    assert [len(e.hard_negatives) for e in examples] == [2, 2, 2, 2]
    assert all(p.passage_id is None for e in examples for p in (*e.positives, *e.hard_negatives))
    assert len(load_corpus(files["haystack"])) == len(load_corpus(files["with_ids"])) == 4


def test_a_batch_of_a_haystack_file_holds_distinct_passages(files):
    encoder = tiny_encoder()
    batches = {}
    for name, path in files.items():
        items = next(iter(BatchSampler(load_dpr_file(path), 4, num_hard_negatives=1, shuffle=False)))
        batches[name] = collate(items, encoder.tokenizer, encoder.tokenizer, 16, 32, embed_title=True)
    blank, reference = batches["haystack"], batches["with_ids"]
    assert len(blank.passage["input_ids"]) == len(reference.passage["input_ids"]) == 4  # 4 positives, 4 negatives
    assert blank.positive_mask.tolist() == reference.positive_mask.tolist()
    assert blank.positive_mask.sum(dim=1).tolist() == [1, 1, 1, 1]


def test_bm25_and_dense_evaluation_of_a_haystack_file_equal_those_with_ids(files):
    embedder = TextEmbedder(BiEncoder(tiny_encoder(seed=1), tiny_encoder(seed=2)), progress_bar=False)
    results = {}
    for name, path in files.items():
        examples = load_dpr_file(path)
        results[name] = (
            evaluate_corpus_bm25(examples, path, ks=(1, 2)).metrics,
            evaluate_corpus(embedder, examples, path, ks=(1, 2)).metrics,
        )
    assert results["haystack"] == results["with_ids"]
    assert results["haystack"][1]["top_1_accuracy"] < 1.0  # an untrained model does not rank every gold first


def test_passages_without_ids_are_written_with_distinct_ids_and_read_back(tmp_path, files):
    corpus = load_corpus(files["haystack"])
    write_passages_tsv(tmp_path / "passages.tsv", corpus)
    back = read_passages_tsv(tmp_path / "passages.tsv")
    assert [(p.title, p.text) for p in back] == [(p.title, p.text) for p in corpus]
    ids = [p.passage_id for p in back]
    assert all(ids) and len(set(ids)) == 4
    assert ids == [p.stable_id for p in corpus]  # the same passage gets the same id wherever it is written


@pytest.mark.parametrize("blank", ["", "  "])
def test_documents_with_blank_ids_stay_distinct_in_the_stores(blank):
    documents = [Document(content=text, meta={"name": title}, id=blank) for title, text, _, _ in PARAGRAPHS]
    store = InMemoryDocumentStore()
    store.write_documents(documents)
    assert store.get_document_count() == 4
    faiss_store = pytest.importorskip("dpr_nb.search.faiss_store").FAISSDocumentStore()
    faiss_store.write_documents([Document(content=d.content, meta=d.meta, id=blank) for d in documents])
    assert faiss_store.get_document_count() == 4
    assert len({d.id for d in faiss_store.get_all_documents()}) == 4
    assert all(d.id.strip() for d in store.get_all_documents())


def test_mining_from_a_corpus_never_makes_a_questions_own_paragraph_its_negative(tmp_path, files):
    """The corpus gives the paragraph an id (here the one write_passages_tsv makes), the Haystack file none: matched
    by key alone, the question's own positive came back as its first hard negative when its answer is not a literal
    substring (has_answer cannot catch it)."""
    from dpr_nb import DensePassageRetriever
    from dpr_nb.tools.mining import mine_hard_negatives

    records = haystack_records()
    for record in records:
        record["answers"] = ["an answer no passage holds"]
    (tmp_path / "no_answers.json").write_text(json.dumps(records), encoding="utf-8")
    write_passages_tsv(tmp_path / "corpus.tsv", load_corpus(files["with_ids"]))  # the same paragraphs, under ids
    retriever = DensePassageRetriever(model=BiEncoder(tiny_encoder(seed=1), tiny_encoder(seed=2)), use_gpu=False)
    retriever.progress_bar = False
    mine_hard_negatives(retriever, tmp_path / "no_answers.json", tmp_path / "mined.json", tmp_path / "corpus.tsv", 3)
    for example in load_dpr_file(tmp_path / "mined.json"):
        own = {(p.title, p.text) for p in example.positives}
        assert len(example.hard_negatives) == 3
        assert not own & {(p.title, p.text) for p in example.hard_negatives}


def test_a_paragraph_with_an_id_and_without_is_one_passage_in_a_batch():
    """Question a's gold paragraph has no id (a Haystack file); question b brings the same paragraph under an id
    as a negative. One input, positive for a: before, it was encoded twice and one copy was a's negative."""
    from dpr_nb.data.dpr_file import DPRExample, Passage

    title, text = PARAGRAPHS[0][:2]
    a = DPRExample("a?", [], [Passage(title, text)], [Passage("x", "x")])
    b = DPRExample("b?", [], [Passage("y", "y")], [Passage(title, text, "17")])
    encoder = tiny_encoder()
    items = next(iter(BatchSampler([a, b], 2, shuffle=False)))
    batch = collate(items, encoder.tokenizer, encoder.tokenizer, 16, 32, embed_title=True)
    assert len(batch.passage["input_ids"]) == 3
    assert batch.positive_mask.sum(dim=1).tolist() == [1, 1]


def test_stable_ids_differ_wherever_title_and_text_differ():
    from dpr_nb.data.dpr_file import Passage

    assert Passage("a\nb", "c").stable_id != Passage("a", "b\nc").stable_id
    assert Passage("a", "b", " 17 ").passage_id == "17" == Passage("a", "b", 17).passage_id
