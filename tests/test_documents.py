"""A Passage and a Document are the same passage in two shapes: the one way between them keeps title, text and id."""

from dpr_nb.data.documents import Document, document_passage, passage_document
from dpr_nb.data.dpr_file import Passage


def test_a_passage_round_trips_through_its_document():
    passage = Passage("Velmora", "Velmora lies on the river Osk.", "17")
    document = passage_document(passage)
    assert (document.content, document.meta, document.id) == (passage.text, {"name": "Velmora"}, "17")
    assert document_passage(document) == passage


def test_a_passage_without_an_id_gets_its_stable_id_in_every_store():
    passage = Passage("Velmora", "Velmora lies on the river Osk.")
    document = passage_document(passage)
    assert document.id == passage.stable_id  # not Document's own id from the text alone
    back = document_passage(document)
    assert (back.title, back.text, back.stable_id, back.key) == (
        passage.title,
        passage.text,
        passage.stable_id,
        passage.key,
    )


def test_the_same_text_under_two_titles_is_two_documents():
    velmora, dorvan = Passage("Velmora", "A town on a river."), Passage("Dorvan", "A town on a river.")
    assert passage_document(velmora).id != passage_document(dorvan).id


def test_a_document_without_a_title_is_a_passage_with_an_empty_one():
    for meta in ({}, {"name": None}):
        assert document_passage(Document("A passage without a title.", meta, id="x")) == Passage(
            "", "A passage without a title.", "x"
        )
