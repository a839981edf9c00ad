"""Document, Haystack v1's unit of retrieval: a passage's text, its title in meta["name"], its id.

>>> Document(content="Velmora lies on the river Osk.", meta={"name": "Velmora"}, id="v").meta["name"]
'Velmora'

A DPR file's `Passage` and a `Document` are the same passage in two shapes; `passage_document` and
`document_passage` are the one way between them, so that a passage gets the same id in every store and file.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from ..core.errors import SettingsError
from .dpr_file import Passage


@dataclass
class Document:
    content: str
    meta: dict = field(default_factory=dict)  # meta["name"] is the title that DPR embeds with the text
    id: str | None = None
    score: float | None = None
    embedding: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.content, str):
            raise SettingsError(f"Document(content={self.content!r}): content must be the passage text, a string.")
        if self.id is None or not str(self.id).strip():  # as Haystack: the same content gets the same id
            self.id = hashlib.md5(self.content.encode("utf-8")).hexdigest()

    @classmethod
    def from_dict(cls, values: dict) -> Document:
        content = values.get("content", values.get("text"))
        if not isinstance(content, str):
            raise SettingsError(f"A document needs its text under 'content' (or 'text'); got keys {sorted(values)}.")
        meta = dict(values.get("meta") or {})
        if "title" in values and "name" not in meta:
            meta["name"] = values["title"]
        return cls(content=content, meta=meta, id=values.get("id"))


def passage_document(passage: Passage) -> Document:
    """The Document of a passage: its text, its title as meta["name"], and its `stable_id` as id, which a passage
    without an id also has (Document's own id from the text alone would make two titles' same text one document).

    >>> passage_document(Passage("Velmora", "Velmora lies on the river Osk.", "17"))
    Document(content='Velmora lies on the river Osk.', meta={'name': 'Velmora'}, id='17', score=None)
    """
    return Document(content=passage.text, meta={"name": passage.title}, id=passage.stable_id)


def document_passage(document: Document) -> Passage:
    """The Passage of a document: its title from meta["name"] ("" without one), its text and its id.

    >>> document_passage(Document("Velmora lies on the river Osk.", {"name": "Velmora"}, id="17")).title
    'Velmora'
    """
    return Passage(title=document.meta.get("name", "") or "", text=document.content, passage_id=document.id)
