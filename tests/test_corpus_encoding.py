"""Streaming corpus encoding: rows in corpus order, SIGKILL then resume gives the same file, torchrun shards, and
`dpr-nb index` / `dpr-nb eval --index` give the in-memory metrics with an exact index."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from dpr_nb import DensePassageRetriever, Document
from dpr_nb.cli import main
from dpr_nb.core.messages import show_messages
from dpr_nb.data.builtin_data import builtin_passages, write_builtin_dataset
from dpr_nb.data.passages import read_passage_rows
from dpr_nb.evaluation.corpus_eval import load_corpus
from dpr_nb.model.encoders import BiEncoder, tiny_encoder
from dpr_nb.search.corpus_encoding import EncodedCorpus, encode_corpus

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = {"batch_size": 8, "shard_size": 64, "commit_rows": 24}  # 280 rows: shards of 64, a record every 3 batches
ENVIRONMENT = {**os.environ, "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo", "PYTHONPATH": str(ROOT)}

# Encodes in a fresh process, one thread (as the reference run), and kills itself with SIGKILL (no cleanup, as a
# Colab disconnect) right after shard 0 has `die_at` rows written.
WORKER = """
import os, signal, sys
import torch
from dpr_nb.search.corpus_encoding import encode_corpus
from dpr_nb.retriever import DensePassageRetriever

torch.set_num_threads(1)
model, corpus, out, die_at = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
retriever = DensePassageRetriever.load(model, use_gpu=False, progress_bar=False)

def die(info):
    if info["shard"] == 0 and info["written"] == die_at:
        os.kill(os.getpid(), signal.SIGKILL)

encode_corpus(retriever, corpus, out, batch_size=8, shard_size=64, commit_rows=24, callback=die)
"""


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A passages TSV of the built-in corpus (with a blank line, which readers skip), a saved tiny
    retriever, and the reference encoding: one process, one thread, never interrupted."""
    folder = tmp_path_factory.mktemp("encoding")
    rows = [f"{p['passage_id']}\t{p['text']}\t{p['title']}\n" for p in builtin_passages()]
    rows[100:100] = ["\n"]
    corpus = folder / "passages.tsv"
    corpus.write_text("id\ttext\ttitle\n" + "".join(rows), encoding="utf-8")
    model = BiEncoder(tiny_encoder(seed=1), tiny_encoder(seed=2))
    retriever = DensePassageRetriever(
        model=model, use_gpu=False, progress_bar=False, max_seq_len_query=32, max_seq_len_passage=64
    )
    retriever.save(folder / "model")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        reference = encode_corpus(retriever, corpus, folder / "reference", progress_bar=False, **SETTINGS)
    finally:
        torch.set_num_threads(threads)
    return {
        "folder": folder,
        "corpus": corpus,
        "model": folder / "model",
        "retriever": retriever,
        "reference": reference,
    }


def run_worker(setup, out, die_at):
    command = [sys.executable, "-c", WORKER, str(setup["model"]), str(setup["corpus"]), str(out), str(die_at)]
    return subprocess.run(command, capture_output=True, text=True, env=ENVIRONMENT, timeout=300)


def test_rows_are_the_corpus_passages_in_order(setup):
    passages = load_corpus(setup["corpus"])  # what evaluation reads, in its order
    assert [p for _, p in read_passage_rows(setup["corpus"])] == passages
    reference = setup["reference"]
    assert reference.complete and reference.rows == 280 == len(passages)
    embeddings = reference.embeddings
    assert embeddings.dtype == np.float16 and embeddings.shape == (280, 64)
    documents = [Document(content=p.text, meta={"name": p.title}, id=p.passage_id) for p in passages]
    in_memory = setup["retriever"].embed_documents(documents)  # (280, 64) float32, other batches
    np.testing.assert_allclose(embeddings.astype(np.float32), in_memory, rtol=2e-3, atol=2e-3)
    assert [s["done"] for s in reference.shard_progress()] == [64, 64, 64, 64, 24]


def test_a_killed_encoding_resumes_to_the_same_file(setup, tmp_path, capsys):
    out = tmp_path / "encoding"
    killed = run_worker(setup, out, die_at=56)  # rows 0-47 recorded (two records of 24), 48-55 written only
    assert killed.returncode == -9, killed.stderr[-3000:]
    interrupted = EncodedCorpus(out)
    assert interrupted.rows_done() == 48 and not interrupted.complete
    rows = interrupted.embeddings
    assert np.abs(rows[48:56]).sum() > 0 and not rows[56:].any()  # written past the record, then nothing

    faiss_store = pytest.importorskip("dpr_nb.search.faiss_store")
    pytest.importorskip("faiss")
    with pytest.raises(ValueError, match="48 of 280 passages are encoded. Run the encoding again"):
        faiss_store.FAISSDocumentStore.build_from_encoding(out, tmp_path / "index")

    # Resumed here, as a notebook's next session would, on one thread as the reference: the saved model, reloaded.
    retriever = DensePassageRetriever.load(setup["model"], use_gpu=False, progress_bar=False)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    show_messages()  # as the command line and the notebooks do: the library's messages on standard output
    try:
        encode_corpus(retriever, setup["corpus"], out, progress_bar=False, **SETTINGS)
    finally:
        torch.set_num_threads(threads)
    printed = capsys.readouterr().out
    assert "Resuming" in printed and "48 of 280 passages are already encoded" in printed
    assert EncodedCorpus(out).complete
    reference = setup["reference"].folder / "embeddings.npy"
    assert (out / "embeddings.npy").read_bytes() == reference.read_bytes()


def test_resuming_with_other_settings_is_refused(setup):
    with pytest.raises(ValueError, match="batch_size=8, not 16. Resume with the same corpus, model and settings"):
        encode_corpus(
            setup["retriever"],
            setup["corpus"],
            setup["reference"].folder,
            progress_bar=False,
            **{**SETTINGS, "batch_size": 16},
        )


def test_index_command_under_torchrun_and_eval_against_the_index(setup, tmp_path, capsys):
    pytest.importorskip("faiss")
    index = tmp_path / "index"
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "dpr_nb.cli",
        "index",
        "--model",
        str(setup["model"]),
        "--corpus",
        str(setup["corpus"]),
        "--out",
        str(index),
        "--index",
        "flat",
        "--batch-size",
        "8",
        "--shard-size",
        "64",
        "--commit-rows",
        "24",
        "--dtype",
        "float32",
    ]
    finished = subprocess.run(command, capture_output=True, text=True, env=ENVIRONMENT, timeout=300)
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert "2 process(es)" in finished.stdout and finished.stdout.count("280 passages in a flat index") == 1
    # Process 0 encoded shards 0, 2, 4 and process 1 shards 1, 3, with the reference's batches: the same numbers
    # (float32 here; the reference's float16 is their rounding).
    encoded = EncodedCorpus(tmp_path / "index.embeddings")
    assert [s["done"] for s in encoded.shard_progress()] == [64, 64, 64, 64, 24]
    assert np.array_equal(encoded.embeddings.astype(np.float16), setup["reference"].embeddings)

    questions = write_builtin_dataset(tmp_path / "data")["test"]
    base = ["eval", "--model", str(setup["model"]), "--questions", str(questions), "--no-bm25"]
    runs = ("index", "memory")
    assert (
        main(
            [
                *base,
                "--index",
                str(index),
                "--json",
                str(tmp_path / "index.json"),
                "--trec-run",
                str(tmp_path / "index.trec"),
            ]
        )
        == 0
    )
    assert "ranking the 280 passages of the flat index" in capsys.readouterr().out
    assert (
        main(
            [
                *base,
                "--corpus",
                str(setup["corpus"]),
                "--json",
                str(tmp_path / "memory.json"),
                "--trec-run",
                str(tmp_path / "memory.trec"),
            ]
        )
        == 0
    )
    # The same run file either way, passages by their corpus ids: the same passage first for every question (deeper
    # down, passages whose scores differ by less than the float16 the index stores may swap places).
    index_run, memory_run = ([line.split() for line in (tmp_path / f"{w}.trec").read_text().splitlines()] for w in runs)
    assert len(index_run) == len(memory_run) == 100 * 100
    assert [r[:3] for r in index_run if r[3] == "1"] == [r[:3] for r in memory_run if r[3] == "1"]
    from_index = json.loads((tmp_path / "index.json").read_text())["results"][str(setup["model"])]
    in_memory = json.loads((tmp_path / "memory.json").read_text())["results"][str(setup["model"])]
    assert from_index == pytest.approx(in_memory, abs=1e-12) and from_index["questions"] == 100
    assert 0 < from_index["top_20_accuracy"] < 1  # a ranking with hits and misses: the comparison means something
