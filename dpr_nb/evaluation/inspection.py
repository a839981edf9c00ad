"""Look at what a retriever actually retrieved: one question's top passages, the worst questions, two models compared.

The metrics of dpr_nb.evaluation.corpus_eval say *how often* the gold passage is found; these views say *what* was found
instead, which is where a model's mistakes become understandable. All three read a `CorpusResult` together with
the questions and the corpus it was computed on.

- `inspect_question`: one question's top-k passages with their scores, the gold passage marked and the answers
  highlighted; a notebook shows it as an HTML table, `print()` as text.
- `worst_questions`: the questions whose gold passage ranks lowest (missing from the corpus first).
- `compare_rankings`: two models on the same questions, sorted by how much the gold passage moved up.
- `passages_side_by_side`: a question's passages (a positive and a hard negative) with its words and answers marked.

Ranks are 0-based, as everywhere in dpr_nb (`CorpusResult.gold_ranks`, the report's `average_rank`): rank 0 is
the passage ranked first, and -1 means the gold passage is not in the corpus.

    >>> from dpr_nb.data.dpr_file import DPRExample, Passage
    >>> corpus = [Passage("Velmora", "Velmora lies on the river Osk.", "1"),
    ...           Passage("Kestria", "Kestria's capital is Velmora.", "2")]
    >>> questions = [DPRExample("which river flows through velmora", ["Osk"], [corpus[0]])]
    >>> # What evaluate_corpus returns; written out here: passage 1 ranked first, the gold passage 0 second.
    >>> result = CorpusResult("dense", {}, top_indices=np.array([[1, 0]]), top_scores=np.array([[0.9, 0.4]]),
    ...                       hits=np.array([[False, True]]), gold_ranks=np.array([1]))
    >>> view = inspect_question(result, questions, corpus, "which river flows through velmora", top_k=2)
    >>> [(p.rank, p.is_gold, p.has_answer) for p in view.passages]
    [(0, False, False), (1, True, True)]
    >>> print(view)
    which river flows through velmora
    answers: Osk | dense | gold passage at rank 1
      gold  rank     score  answer  passage
               0    0.9000          Kestria: Kestria's capital is Velmora.
         *     1    0.4000     yes  Velmora: Velmora lies on the river [[Osk]].
    (* the gold passage, [[...]] an answer)
"""

from __future__ import annotations

import html
import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..core.errors import SettingsError
from ..data.dpr_file import DPRExample, Passage
from ..data.matching import content_words, has_answer
from .corpus_eval import CorpusResult, is_gold, load_corpus

GOLD_BACKGROUND = "#d8f0d8"  # a light green that keeps black text readable
TEXT_WIDTH = 100  # characters of passage text per line in the plain-text view


@dataclass
class RankedPassage:
    """One passage of a question's ranking."""

    rank: int  # 0-based position in the ranking
    passage: Passage
    score: float
    is_gold: bool  # one of the question's positives (by id, or by title and text: corpus_eval's rule)
    has_answer: bool  # contains one of the answers (mining.has_answer: DPR's normalised whole-word match)


@dataclass
class QuestionView:
    """A question, its answers and the top passages one retriever ranked for it; displays itself.

    In a notebook a cell ending with the view shows an HTML table (gold rows ticked and shaded, answers marked);
    `print(view)` gives the same as text.
    """

    index: int  # the question's position in the examples
    question: str
    answers: list[str]
    passages: list[RankedPassage]  # best first
    gold_rank: int  # the best-ranked gold passage's 0-based rank in the whole corpus, -1: not in the corpus
    model_name: str = ""

    @property
    def gold_note(self) -> str:
        """Where the gold passage is, said so that a rank below the shown rows is not missed."""
        if self.gold_rank < 0:
            return "gold passage not in the corpus"
        if self.gold_rank >= len(self.passages):
            return f"gold at rank {self.gold_rank}, below the top {len(self.passages)} shown"
        return f"gold passage at rank {self.gold_rank}"

    def __str__(self) -> str:
        lines = [
            self.question,
            " | ".join(
                filter(None, [f"answers: {', '.join(self.answers) or '(none)'}", self.model_name, self.gold_note])
            ),
            f"  {'gold':>4}  {'rank':>4}  {'score':>8}  {'answer':>6}  passage",
        ]
        for ranked in self.passages:
            columns = (
                f"  {'*' if ranked.is_gold else '':>4}  {ranked.rank:>4}  {ranked.score:>8.4f}  "
                f"{'yes' if ranked.has_answer else '':>6}  "
            )
            passage = f"{ranked.passage.title}: {highlight_text(ranked.passage.text, self.answers)}"
            # Long passages wrap with their continuation lines under the "passage" column.
            lines += textwrap.wrap(
                passage,
                len(columns) + TEXT_WIDTH,
                initial_indent=columns,
                subsequent_indent=" " * len(columns),
                break_long_words=False,
            )
        lines.append("(* the gold passage, [[...]] an answer)")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        escape = html.escape
        header = (
            f"<p><b>{escape(self.question)}</b><br>answers: {escape(', '.join(self.answers)) or '(none)'}"
            + (f" &middot; {escape(self.model_name)}" if self.model_name else "")
            + f" &middot; {escape(self.gold_note)}</p>"
        )
        left = "text-align:left; vertical-align:top"  # notebooks right-align table cells by default
        head = "".join(
            f'<th style="{left}">{name}</th>' for name in ("gold", "rank", "score", "answer", "title", "text")
        )
        rows = []
        for ranked in self.passages:
            # The colour is inline: notebook front ends drop <style> blocks from outputs they do not trust.
            style = f' style="background-color:{GOLD_BACKGROUND}; color:black"' if ranked.is_gold else ""
            cells = [
                "✓" if ranked.is_gold else "",
                str(ranked.rank),
                f"{ranked.score:.4f}",
                "✓" if ranked.has_answer else "",
                escape(ranked.passage.title),
                highlight_html(ranked.passage.text, self.answers),
            ]
            rows.append(f"<tr{style}>" + "".join(f'<td style="{left}">{cell}</td>' for cell in cells) + "</tr>")
        return (
            f"<div>{header}<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
            "<p><small>✓ gold: the question's positive passage; answers are <mark>marked</mark>; "
            "rank 0 is ranked first.</small></p></div>"
        )


# ---------------------------------------------------------------------------------------------------------------
# Highlighting answers


def answer_spans(text: str, answers: Sequence[str]) -> list[tuple[int, int]]:
    """(start, end) of every occurrence of an answer in `text`: case-insensitive, whole words, overlaps merged.

    Matching is on the original text (so the marks land on what the reader sees), with any run of spaces in an
    answer matching any run in the text. It only marks what the reader sees; `RankedPassage.has_answer` (DPR's token
    match, dpr_nb.data.matching) is the authoritative flag.

    >>> answer_spans("The OSK joins the Osken and the osk.", ["Osk"])
    [(4, 7), (32, 35)]
    """
    spans = []
    for answer in answers:
        words = answer.split()
        if not words:
            continue
        # (?<!\\w) and (?!\\w) rather than \\b: an answer may itself begin or end with punctuation ("U.S.").
        pattern = r"(?<!\w)" + r"\s+".join(map(re.escape, words)) + r"(?!\w)"
        spans += [m.span() for m in re.finditer(pattern, text, flags=re.IGNORECASE)]
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _highlight(text: str, answers: Sequence[str], escape, opening: str, closing: str) -> str:
    """`text` with every answer wrapped in opening ... closing, each piece passed through `escape`."""
    pieces, position = [], 0
    for start, end in answer_spans(text, answers):
        pieces += [escape(text[position:start]), opening, escape(text[start:end]), closing]
        position = end
    pieces.append(escape(text[position:]))
    return "".join(pieces)


def highlight_html(text: str, answers: Sequence[str]) -> str:
    """HTML-escaped `text` with each answer in <mark>; escaping piece by piece keeps the marks the only tags.

    >>> highlight_html("The <b>Osk</b> & the OSK", ["osk"])
    'The &lt;b&gt;<mark>Osk</mark>&lt;/b&gt; &amp; the <mark>OSK</mark>'
    """
    return _highlight(text, answers, html.escape, "<mark>", "</mark>")


def highlight_text(text: str, answers: Sequence[str]) -> str:
    """`text` with each answer in [[...]], for terminals.

    >>> highlight_text("Velmora lies on the river Osk.", ["osk"])
    'Velmora lies on the river [[Osk]].'
    """
    return _highlight(text, answers, str, "[[", "]]")


def passages_side_by_side(example: DPRExample, passages: dict[str, Passage]) -> str:
    """HTML: the question, then each passage in a column, with the question's words in bold and the answers marked,
    the words it shares with the question, and whether it contains an answer (DPR's match). Shown for a positive
    and a hard negative, it makes plain why BM25 ranked the negative high and why it is still wrong.

    >>> html_table = passages_side_by_side(
    ...     DPRExample("who founded velmora", ["Aldo"], [Passage("Velmora", "Aldo founded Velmora.")]),
    ...     {"positive": Passage("Velmora", "Aldo founded Velmora."), "other": Passage("Osk", "A river.")})
    >>> "<b>founded</b>" in html_table, html_table.count("<mark>"), "shares 2 question words" in html_table
    (True, 1, True)
    """
    question_words = content_words(example.question)
    columns = []
    for passage in passages.values():
        in_answer = {i for start, end in answer_spans(passage.text, example.answers) for i in range(start, end)}
        pieces = []
        for match in re.finditer(r"\w+|\W+", passage.text):
            piece = html.escape(match.group())
            piece = f"<b>{piece}</b>" if match.group().lower() in question_words else piece
            pieces.append(f"<mark>{piece}</mark>" if match.start() in in_answer else piece)
        shared = sorted(question_words & content_words(passage.title + " " + passage.text))
        columns.append(
            (
                f"<i>{html.escape(passage.title)}</i><br>" + "".join(pieces),
                f"shares {len(shared)} question words: {html.escape(', '.join(shared))}",
                f"contains an answer: <b>{has_answer(passage.text, example.answers)}</b>",
            )
        )
    cell = '<td style="text-align:left; vertical-align:top; width:{}%">{}</td>'
    width = 100 // max(len(passages), 1)
    rows = ["<tr>" + "".join(f"<th>{html.escape(label)}</th>" for label in passages) + "</tr>"]
    rows += ["<tr>" + "".join(cell.format(width, column[i]) for column in columns) + "</tr>" for i in range(3)]
    answers = html.escape(", ".join(example.answers))
    return f"<p><b>{html.escape(example.question)}</b> &middot; answers: {answers}</p><table>{''.join(rows)}</table>"


# ---------------------------------------------------------------------------------------------------------------
# Reading a CorpusResult


def _checked(result: CorpusResult, examples: Sequence[DPRExample], corpus) -> list[Passage]:
    """The corpus as passages, after checking that `result` was computed on these questions and this corpus."""
    corpus = load_corpus(corpus)
    if len(examples) != len(result.gold_ranks):
        raise SettingsError(
            f"The result {result.name!r} ranks {len(result.gold_ranks)} questions but {len(examples)} "
            "examples were given: pass the examples it was evaluated on, in the same order."
        )
    if result.top_indices.size and result.top_indices.max() >= len(corpus):
        raise SettingsError(
            f"The result {result.name!r} ranks passages beyond the {len(corpus)} of this corpus: "
            "pass the corpus it was evaluated on."
        )
    return corpus


def _question_index(examples: Sequence[DPRExample], question: str | int) -> int:
    """The position of a question given by position or by text (exact first, then ignoring case and spaces)."""
    if isinstance(question, (int, np.integer)):
        if not -len(examples) <= question < len(examples):
            raise IndexError(f"Question {question} does not exist: there are {len(examples)} questions.")
        return int(question) % len(examples)
    texts = [e.question for e in examples]
    if question in texts:
        return texts.index(question)
    folded = [" ".join(t.lower().split()) for t in texts]
    wanted = " ".join(question.lower().split())
    if wanted in folded:
        return folded.index(wanted)
    raise SettingsError(
        f"No question {question!r} among the {len(examples)} examples; pass its text exactly or its position."
    )


def _shorten(text: str, width: int = 100) -> str:
    return textwrap.shorten(text, width, placeholder=" …")


def inspect_question(
    result: CorpusResult, examples: Sequence[DPRExample], corpus, question: str | int, top_k: int = 5
) -> QuestionView:
    """The top_k passages `result` ranked for one question (by position in `examples` or by its text).

    `examples` and `corpus` are those `result` was evaluated on (the corpus as a list of Passages, or anything
    corpus_eval.load_corpus reads). At most the result's own k passages can be shown: evaluate with a larger k to
    see more. A gold passage ranked below them is still reported, by its rank ("gold at rank 37, ...").

        >>> view = inspect_question(result, dev_examples, corpus, "who founded velmora", top_k=10)  # doctest: +SKIP
        >>> view            # a notebook shows the table; print(view) in a terminal             # doctest: +SKIP
    """
    corpus = _checked(result, examples, corpus)
    row = _question_index(examples, question)
    example = examples[row]
    gold_keys = {p.key for p in example.positives}
    gold_texts = {(p.title, p.text) for p in example.positives}
    passages = []
    for rank, (position, score) in enumerate(zip(result.top_indices[row, :top_k], result.top_scores[row, :top_k])):
        passage = corpus[position]
        passages.append(
            RankedPassage(
                rank,
                passage,
                float(score),
                is_gold(passage, gold_keys, gold_texts),
                has_answer(passage.text, example.answers),
            )
        )
    return QuestionView(
        row, example.question, list(example.answers), passages, int(result.gold_ranks[row]), result.name
    )


def _worst_first(gold_ranks: np.ndarray) -> np.ndarray:
    """Question positions, the gold passage missing from the corpus (-1) first, then by rank, lowest first."""
    sort_key = np.where(gold_ranks < 0, np.iinfo(np.int64).max, gold_ranks)
    return np.argsort(-sort_key, kind="stable")  # stable: equal ranks keep the questions' order


def worst_questions(result: CorpusResult, examples: Sequence[DPRExample], corpus, n: int | None = 10) -> pd.DataFrame:
    """The n questions whose gold passage `result` ranks worst (not in the corpus at all counts as worst).

    Indexed by the question's position, so `inspect_question(result, examples, corpus, index)` shows one in full.
    `top_has_answer` tells a passage that answers without being the gold one (a labelling gap, not a model error)
    from a real miss.

        >>> worst_questions(result, dev_examples, corpus, n=5)                              # doctest: +SKIP
    """
    corpus = _checked(result, examples, corpus)
    rows, positions = [], _worst_first(np.asarray(result.gold_ranks))[:n]
    for position in positions:
        example, top = examples[position], corpus[result.top_indices[position, 0]]
        rows.append(
            {
                "question": example.question,
                "answers": list(example.answers),
                "gold_rank": int(result.gold_ranks[position]),
                "gold_title": example.positives[0].title if example.positives else "",
                "top_title": top.title,
                "top_text": _shorten(top.text),
                "top_has_answer": has_answer(top.text, example.answers),
            }
        )
    columns = ["question", "answers", "gold_rank", "gold_title", "top_title", "top_text", "top_has_answer"]
    return pd.DataFrame(rows, index=pd.Index([int(p) for p in positions], name="question_index"), columns=columns)


def compare_rankings(
    before: CorpusResult, after: CorpusResult, examples: Sequence[DPRExample], corpus, n: int | None = None
) -> pd.DataFrame:
    """Two models' gold ranks side by side on the same questions, the biggest improvement first.

    `change` is gold_rank_before - gold_rank_after: positive when the gold passage moved up. It is <NA> when the
    gold passage is not in the corpus (no rank to compare); those rows come last. `n` keeps the first n rows;
    the table's `attrs["summary"]` counts over all questions: improved, worsened, unchanged, missing, questions.

        >>> table = compare_rankings(untrained, trained, dev_examples, corpus)             # doctest: +SKIP
        >>> table.attrs["summary"]                                                          # doctest: +SKIP
        {'improved': 31, 'worsened': 4, 'unchanged': 5, 'missing': 0, 'questions': 40}
        >>> table.tail()    # the worst regressions                                         # doctest: +SKIP
    """
    corpus = _checked(before, examples, corpus)
    _checked(after, examples, corpus)
    rank_before, rank_after = np.asarray(before.gold_ranks), np.asarray(after.gold_ranks)
    missing = (rank_before < 0) | (rank_after < 0)
    change = pd.array(np.where(missing, 0, rank_before - rank_after), dtype="Int64")
    change[missing] = pd.NA
    table = pd.DataFrame(
        {
            "question": [e.question for e in examples],
            "gold_rank_before": rank_before.astype(int),
            "gold_rank_after": rank_after.astype(int),
            "change": change,
            "top_title_before": [corpus[i].title for i in before.top_indices[:, 0]],
            "top_title_after": [corpus[i].title for i in after.top_indices[:, 0]],
        },
        index=pd.RangeIndex(len(examples), name="question_index"),
    )
    table = table.sort_values("change", ascending=False, na_position="last", kind="stable")
    known = change[~missing]
    table = table.head(n) if n is not None else table
    table.attrs["summary"] = {
        "improved": int((known > 0).sum()),
        "worsened": int((known < 0).sum()),
        "unchanged": int((known == 0).sum()),
        "missing": int(missing.sum()),
        "questions": len(examples),
    }
    table.attrs["models"] = (before.name, after.name)
    return table
