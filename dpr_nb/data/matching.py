"""Matching words, not vectors: whether a passage contains an answer (DPR's `has_answer`), and tokens for BM25.

`has_answer` is the rule the DPR paper and code (`dpr/data/qa_validation.py`) use to say that a retrieved passage
answers a question, and to keep answers out of BM25 hard negatives:

1. both texts in Unicode NFD (an accent becomes a letter plus a combining mark);
2. tokens, as DPR's SimpleTokenizer cuts them: a run of letters, numbers and combining marks, or any single other
   character that is not a space or a control character; lowercased;
3. the answer's token sequence occurs somewhere in the passage's.

So punctuation is a token of its own and must match: "2002" is found in "(1987–2002)" and "South Bend" in "Ft.
Wayne-South Bend", but "U.S." is not found in "us" nor "3.5" in "35". Accents are kept ("Café" is not "Cafe"),
articles are not dropped. An empty answer matches nothing (DPR's code would match it everywhere).

Chinese, Japanese and Thai are written without spaces, so to DPR's tokenizer a whole clause is one "word" there and
an answer would almost never be found, neither a Chinese word nor a year or a Latin name written inside the clause.
So wherever these scripts occur, in the passage or in the answer, each of their characters is a token of its own (as
convert-squad and BM25 cut such text); a run of other letters and digits among them stays one whole DPR token. Text
without these scripts gets exactly DPR's tokens, so which side is written in which script does not matter.

    >>> has_answer("Ft. Wayne-South Bend is a media market.", ["South Bend"])
    True
    >>> has_answer("The US economy grew.", ["U.S."])
    False
    >>> has_answer("北京是中国的首都。", ["北京"])
    True
    >>> has_answer("北京2008年奥运会", ["2008"])
    True
    >>> has_answer("東京タワーは333mです", ["333m"])
    True
    >>> has_answer("北京20089年", ["2008"])
    False
"""

from __future__ import annotations

import functools
import re
import sys
import unicodedata
from collections.abc import Iterable

import regex

# DPR's SimpleTokenizer: a run of letters, numbers and combining marks, or one non-space, non-control character.
_DPR_TOKEN = regex.compile(r"[\p{L}\p{N}\p{M}]+|[^\p{Z}\p{C}]", flags=regex.UNICODE)
# Chinese, Japanese and Thai do not separate words with spaces: word tokens there would be whole clauses.
_NO_SPACE_SCRIPTS = re.compile(r"[\u0e00-\u0e7f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
# One such character, or a run of anything else: how a DPR token holding those scripts is cut further.
_UNSPACED_CHARACTER_OR_RUN = re.compile(rf"{_NO_SPACE_SCRIPTS.pattern}|(?:(?!{_NO_SPACE_SCRIPTS.pattern}).)+", re.S)
_WORD = re.compile(r"\w+")


def dpr_tokens(text: str) -> list[str]:
    """DPR's tokens of `text`: NFD, then runs of letters/numbers/marks or single other characters, lowercased.

    >>> dpr_tokens("Ft. Wayne-South Bend (1987–2002)")
    ['ft', '.', 'wayne', '-', 'south', 'bend', '(', '1987', '–', '2002', ')']
    """
    return [token.lower() for token in _DPR_TOKEN.findall(unicodedata.normalize("NFD", text))]


def character_tokens(text: str) -> list[str]:
    """Every character but spaces, lowercased: the tokens of text written without spaces between words."""
    return [c for c in unicodedata.normalize("NFD", text).lower() if not c.isspace()]


def is_unspaced(text: str) -> bool:
    """Whether `text` holds Chinese, Japanese or Thai characters."""
    return bool(_NO_SPACE_SCRIPTS.search(text))


def match_tokens(text: str) -> list[str]:
    """The tokens `has_answer` compares: DPR's, with each Chinese, Japanese or Thai character cut out as its own.

    >>> match_tokens("北京2008年, Beijing")
    ['北', '京', '2008', '年', ',', 'beijing']
    """
    tokens = dpr_tokens(text)
    if not is_unspaced(text):
        return tokens  # the common case, and exactly DPR's
    return [part for token in tokens for part in _UNSPACED_CHARACTER_OR_RUN.findall(token)]


def _contains(tokens: list[str], sequence: list[str]) -> bool:
    n = len(sequence)
    return n > 0 and any(tokens[i : i + n] == sequence for i in range(len(tokens) - n + 1))


@functools.lru_cache(maxsize=4096)
def _passage_tokens(text: str) -> list[str]:
    # Cached: evaluation asks about the same top passages for many answers and questions.
    return match_tokens(text)


def has_answer(passage_text: str, answers: Iterable[str]) -> bool:
    """Whether any answer's tokens occur, in order and adjacent, among the passage's (DPR's string match).

    Tokens are `match_tokens`: DPR's own where words are separated by spaces, single characters of Chinese,
    Japanese and Thai, in whichever of the two texts they occur.
    """
    passage_tokens = _passage_tokens(passage_text)
    return any(_contains(passage_tokens, match_tokens(answer)) for answer in answers)


# ---------------------------------------------------------------------------------------------------------------
# Tokens for BM25


def looks_unspaced(texts: list[str], threshold: float = 0.3) -> bool:
    """True when more than `threshold` of the non-space characters are CJK or Thai."""
    characters = sum(len(t) - sum(c.isspace() for c in t) for t in texts)
    script = sum(len(_NO_SPACE_SCRIPTS.findall(t)) for t in texts)
    return characters > 0 and script / characters > threshold


def tokenize(text: str, char_level: bool) -> list[str]:
    """Lowercased word tokens (or characters, for text without spaces), as BM25 indexes them."""
    # Our own token lists go to bm25s as they are: its default tokenizer would apply English stopwords and split
    # Chinese only on spaces.
    text = text.lower()
    tokens = [c for c in text if not c.isspace()] if char_level else _WORD.findall(text)
    # Interned: a corpus repeats a small vocabulary, and a string object for every token made the token lists of
    # 200,000 passages of 60 words take 850 MB instead of 115 MB (BM25 over a million: docs/scale.md).
    return [sys.intern(token) for token in tokens]


# Function words that every question shares with every passage; left out when counting the words two texts share.
STOPWORDS = frozenset(
    "a an the of in on at to for by with from and or is was are were be who what which when where how does do did "
    "its it this that as".split()
)


def content_words(text: str) -> set[str]:
    """The lowercased words of `text` other than STOPWORDS: what a question and a passage visibly share.

    >>> sorted(content_words("Who founded the town of Velmora?"))
    ['founded', 'town', 'velmora']
    """
    return {w for w in _WORD.findall(text.lower()) if w not in STOPWORDS}
