import json

import numpy as np
import pytest

from dpr_nb import DensePassageRetriever, Document
from dpr_nb.data.builtin_data import write_builtin_dataset
from dpr_nb.data.dpr_file import load_dpr_file
from dpr_nb.data.matching import has_answer
from dpr_nb.data.passages import read_passages_tsv
from dpr_nb.tools.mining import mine_hard_negatives


def test_mined_negatives_are_the_models_top_passages_without_answers(tmp_path):
    paths = write_builtin_dataset(tmp_path)
    retriever = DensePassageRetriever(
        query_embedding_model="dpr-nb/tiny-bert",
        passage_embedding_model="dpr-nb/tiny-bert",
        use_gpu=False,
        progress_bar=False,
    )
    counts = mine_hard_negatives(retriever, paths["dev"], tmp_path / "mined.json", num_hard_negatives=5)
    mined = load_dpr_file(tmp_path / "mined.json")
    original = load_dpr_file(paths["dev"])
    assert counts["questions"] == len(mined) == len(original)

    corpus = list({p.key: p for e in original for p in (*e.positives, *e.hard_negatives, *e.negatives)}.values())
    embeddings = retriever.embed_documents([Document(content=p.text, meta={"name": p.title}) for p in corpus])
    for before, after in zip(original[:10], mined[:10]):
        assert [p.key for p in after.positives] == [p.key for p in before.positives]  # the rest is unchanged
        scores = embeddings @ retriever.embed_queries([before.question])[0]
        allowed = [
            corpus[i].key
            for i in np.argsort(-scores, kind="stable")
            if corpus[i].key not in {p.key for p in before.positives} and not has_answer(corpus[i].text, before.answers)
        ]
        assert [p.key for p in after.hard_negatives] == allowed[:5]
    raw = json.loads((tmp_path / "mined.json").read_text())
    assert (
        raw[0]["dataset"] == "dpr_nb_builtin"
        and raw[0]["hard_negative_ctxs"][0]["score"] >= raw[0]["hard_negative_ctxs"][1]["score"]
    )


def test_passages_tsv_needs_its_header(tmp_path):
    good = tmp_path / "passages.tsv"
    good.write_text("id\ttext\ttitle\n1\tsome text\tA title\n")
    assert [(p.passage_id, p.text, p.title) for p in read_passages_tsv(good)] == [("1", "some text", "A title")]
    bad = tmp_path / "bad.tsv"
    bad.write_text("1\tsome text\tA title\n")
    with pytest.raises(ValueError, match="header row"):
        read_passages_tsv(bad)


def test_mine_command(tmp_path, capsys):
    from dpr_nb.cli import main as cli_main
    from dpr_nb.model.encoders import BiEncoder, tiny_encoder

    paths = write_builtin_dataset(tmp_path / "data")
    DensePassageRetriever(model=BiEncoder(tiny_encoder(), tiny_encoder()), use_gpu=False).save(tmp_path / "model")
    assert (
        cli_main(
            [
                "data",
                "mine",
                "--model",
                str(tmp_path / "model"),
                str(paths["test"]),
                str(tmp_path / "mined.json"),
                "--num-hard-negatives",
                "3",
            ]
        )
        == 0
    )
    assert "questions_short_of_negatives" in capsys.readouterr().out
    assert all(len(e.hard_negatives) == 3 for e in load_dpr_file(tmp_path / "mined.json"))
