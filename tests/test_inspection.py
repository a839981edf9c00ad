import re

import numpy as np
import pytest

from dpr_nb.data.dpr_file import DPRExample, Passage
from dpr_nb.evaluation.corpus_eval import evaluate_corpus
from dpr_nb.evaluation.inspection import answer_spans, compare_rankings, inspect_question, worst_questions

CORPUS = [
    Passage("Velmora", "Velmora lies on the river Osk.", "v"),
    Passage("Dorvan", "Dorvan is famous for its Salt & Iron mines.", "d"),
    Passage("Osk", "The OSK flows north to the <b>Pale</b> Sea.", "o"),
    Passage("Kestria", "Kestria's capital is Velmora.", "k"),
]
QUESTIONS = [
    DPRExample("river of velmora", ["Osk"], [CORPUS[0]]),
    DPRExample("what is dorvan known for", ["salt & iron"], [CORPUS[1]]),
    DPRExample("capital of kestria", ["Velmora"], [CORPUS[3]]),
    DPRExample("where does the osk flow", ["Pale Sea"], [Passage("Elsewhere", "Not in the corpus.", "zz")]),
]


class FixedRetriever:
    """Each passage is a one-hot vector, so a query's vector *is* its scores for v, d, o, k: rankings by hand."""

    similarity_function = "dot_product"
    passages = {"v": [1, 0, 0, 0], "d": [0, 1, 0, 0], "o": [0, 0, 1, 0], "k": [0, 0, 0, 1]}

    def __init__(self, scores: dict[str, list[float]]):
        self.scores = scores

    def embed_documents(self, documents, batch_size=None):
        return np.array([self.passages[d.id] for d in documents], dtype=np.float32)

    def embed_queries(self, queries, batch_size=None):
        return np.array([self.scores[q] for q in queries], dtype=np.float32)


#                                         v    d    o    k
BEFORE = FixedRetriever(
    {
        "river of velmora": [0.5, 0.0, 0.6, 1.0],  # k, o, v, d: gold v at rank 2
        "what is dorvan known for": [0.1, 0.9, 0.0, 0.2],  # d, k, v, o: gold d at rank 0
        "capital of kestria": [1.0, 0.0, 0.2, 0.8],  # v, k, o, d: gold k at rank 1
        "where does the osk flow": [0.0, 0.0, 1.0, 0.0],
    }
)  # o first; gold not in the corpus
AFTER = FixedRetriever(
    {
        "river of velmora": [1.0, 0.0, 0.6, 0.5],  # v first: rank 2 -> 0, improved by 2
        "what is dorvan known for": [0.3, 0.0, 0.2, 0.1],  # v, o, k, d: rank 0 -> 3, worse by 3
        "capital of kestria": [0.9, 0.0, 0.1, 0.5],  # v, k, o, d: rank 1 -> 1, unchanged
        "where does the osk flow": [0.0, 0.0, 1.0, 0.0],
    }
)


@pytest.fixture(scope="module")
def before():
    return evaluate_corpus(BEFORE, QUESTIONS, CORPUS, ks=(1, 4), name="before")


@pytest.fixture(scope="module")
def after():
    return evaluate_corpus(AFTER, QUESTIONS, CORPUS, ks=(1, 4), name="after")


def html_rows(html: str) -> list[str]:
    """The body rows of the view's table, in order."""
    body = html.split("<tbody>")[1].split("</tbody>")[0]
    return re.findall(r"<tr[^>]*>.*?</tr>", body, flags=re.DOTALL)


def cells(row: str) -> list[str]:
    return re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.DOTALL)


def test_the_toy_rankings_are_the_ones_written_down(before, after):
    assert before.top_indices.tolist() == [[3, 2, 0, 1], [1, 3, 0, 2], [0, 3, 2, 1], [2, 0, 1, 3]]
    assert before.gold_ranks.tolist() == [2, 0, 1, -1]
    assert after.gold_ranks.tolist() == [0, 3, 1, -1]


def test_view_lists_the_top_k_with_scores_gold_and_answers(before):
    view = inspect_question(before, QUESTIONS, CORPUS, 0, top_k=3)
    assert [p.passage.title for p in view.passages] == ["Kestria", "Osk", "Velmora"]
    assert [p.rank for p in view.passages] == [0, 1, 2]
    assert [p.score for p in view.passages] == pytest.approx([1.0, 0.6, 0.5])
    assert [p.is_gold for p in view.passages] == [False, False, True]
    assert [p.has_answer for p in view.passages] == [False, True, True]  # "OSK" and "Osk"
    assert view.gold_rank == 2 and view.question == "river of velmora" and view.answers == ["Osk"]


def test_a_question_can_be_found_by_its_text(before):
    assert inspect_question(before, QUESTIONS, CORPUS, "capital of kestria").index == 2
    assert inspect_question(before, QUESTIONS, CORPUS, "  Capital of  KESTRIA ").index == 2  # case and spaces
    with pytest.raises(ValueError, match="No question"):
        inspect_question(before, QUESTIONS, CORPUS, "who rules dorvan")
    with pytest.raises(IndexError):
        inspect_question(before, QUESTIONS, CORPUS, 4)


def test_text_marks_the_gold_row_and_the_answers(before):
    text = str(inspect_question(before, QUESTIONS, CORPUS, 0, top_k=3))
    rows = [line for line in text.splitlines() if re.match(r"\s+\*?\s+\d+\s+\d\.\d{4}", line)]
    assert len(rows) == 3
    assert [row.lstrip().startswith("*") for row in rows] == [False, False, True]
    assert "Velmora: Velmora lies on the river [[Osk]]." in rows[2]
    assert "The [[OSK]] flows north" in rows[1]  # case-insensitive, the passage's own spelling kept


def test_html_marks_the_gold_row_highlights_and_escapes(before):
    html = inspect_question(before, QUESTIONS, CORPUS, 0, top_k=3)._repr_html_()
    rows = html_rows(html)
    assert len(rows) == 3
    assert ["background-color" in row for row in rows] == [False, False, True]
    assert [cells(row)[0] for row in rows] == ["", "", "✓"]  # the "gold" column
    assert [cells(row)[3] for row in rows] == ["", "✓", "✓"]  # the "answer" column
    assert "The <mark>OSK</mark> flows north to the &lt;b&gt;Pale&lt;/b&gt; Sea." in rows[1]
    assert "<b>Pale" not in html  # the passage's markup is shown, never interpreted


def test_answers_with_markup_characters_are_escaped_inside_the_mark(before):
    view = inspect_question(before, QUESTIONS, CORPUS, 1, top_k=1)
    html = view._repr_html_()
    assert "its <mark>Salt &amp; Iron</mark> mines" in html_rows(html)[0]
    assert "answers: salt &amp; iron" in html
    assert "its [[Salt & Iron]] mines" in str(view)


def test_the_gold_rank_is_given_when_below_the_rows_shown(before):
    below = inspect_question(before, QUESTIONS, CORPUS, 0, top_k=2)
    assert not any(p.is_gold for p in below.passages)
    assert "gold at rank 2, below the top 2" in str(below) and "gold at rank 2, below the top 2" in below._repr_html_()
    missing = inspect_question(before, QUESTIONS, CORPUS, 3, top_k=2)
    assert "gold passage not in the corpus" in str(missing)


def test_answer_spans_are_whole_words_and_merged():
    assert answer_spans("Oskar crossed the Osk", ["osk"]) == [(18, 21)]  # not inside "Oskar"
    assert answer_spans("the Pale  Sea", ["pale sea", "Sea"]) == [(4, 13)]  # spaces flexible, overlaps merged
    assert answer_spans("anything", ["", "   "]) == []


def test_worst_questions_puts_missing_gold_first_then_lowest_rank(before):
    table = worst_questions(before, QUESTIONS, CORPUS, n=None)
    assert table.index.tolist() == [3, 0, 2, 1]
    assert table["gold_rank"].tolist() == [-1, 2, 1, 0]
    assert table.columns.tolist() == [
        "question",
        "answers",
        "gold_rank",
        "gold_title",
        "top_title",
        "top_text",
        "top_has_answer",
    ]
    first = table.loc[0]
    assert (first["gold_title"], first["top_title"], first["top_has_answer"]) == ("Velmora", "Kestria", False)
    assert table.loc[2, "top_has_answer"]  # Velmora's passage names the capital without being the gold passage
    assert worst_questions(before, QUESTIONS, CORPUS, n=2).index.tolist() == [3, 0]


def test_worst_questions_shortens_long_passages(before):
    long_corpus = [Passage(p.title, p.text + " filler" * 100, p.passage_id) for p in CORPUS]
    table = worst_questions(before, QUESTIONS, long_corpus, n=1)
    assert len(table["top_text"].iloc[0]) <= 100 and table["top_text"].iloc[0].endswith("…")


def test_compare_rankings_sorts_by_improvement_and_counts(before, after):
    table = compare_rankings(before, after, QUESTIONS, CORPUS)
    assert table.index.tolist() == [0, 2, 1, 3]  # +2, 0, -3, then the question without a gold passage
    assert table["gold_rank_before"].tolist() == [2, 1, 0, -1]
    assert table["gold_rank_after"].tolist() == [0, 1, 3, -1]
    assert table["change"].iloc[:3].tolist() == [2, 0, -3] and table["change"].isna().tolist()[3]
    assert table.loc[1, ["top_title_before", "top_title_after"]].tolist() == ["Dorvan", "Velmora"]
    assert table.attrs["summary"] == {"improved": 1, "worsened": 1, "unchanged": 1, "missing": 1, "questions": 4}
    top = compare_rankings(before, after, QUESTIONS, CORPUS, n=1)
    assert top.index.tolist() == [0] and top.attrs["summary"]["questions"] == 4  # counted over all questions


def test_a_result_from_other_questions_or_corpus_is_refused(before):
    with pytest.raises(ValueError, match="examples it was evaluated on"):
        worst_questions(before, QUESTIONS[:2], CORPUS)
    with pytest.raises(ValueError, match="corpus it was evaluated on"):
        inspect_question(before, QUESTIONS, CORPUS[:2], 0)
