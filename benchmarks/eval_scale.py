"""Peak memory of `dpr-nb eval` at DPR's scale: NQ's 6,515 test questions against a corpus of a million passages.

    python benchmarks/eval_scale.py                      # 1,000,000 passages, 6,515 questions, 768 dimensions
    python benchmarks/eval_scale.py --passages 100000    # a quicker look

What is measured is evaluation, not encoding: the passages are synthetic (random words), their vectors random unit
vectors of the model's dimension, indexed flat as `dpr-nb index` would; each question's gold passage is one of them.
The model is a 2-layer BERT of BERT-base's width (768), so that the index and the question vectors have DPR's
size while the 6,515 questions embed in about a minute on a CPU. Each command runs in a fresh process under
`/usr/bin/time -v` (its "Maximum resident set size" is the peak), one at a time:

- `dpr-nb eval --index`: the dense ranking through the FAISS index (the index in memory, the passages on disk);
- `dpr-nb eval --index --corpus`: the same, and BM25 over the corpus's TSV in memory (bm25s), ranked a block of
  questions at a time (dpr_nb.evaluation.corpus_eval.question_blocks);
- what the in-memory ranking before blocks would have needed: a (questions, corpus) float32 matrix.

Results go to benchmarks/results/eval_scale.json; docs/scale.md quotes them.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import RESULTS, cpu_name, print_table, write_json

WORDS = [f"w{n}" for n in range(5000)]  # a vocabulary of BM25-matchable tokens


def build(folder: Path, passages: int, questions: int, dim: int, seed: int = 0) -> dict:
    """The model, the questions file, the corpus TSV and the flat index of `folder`; their paths."""
    import numpy as np
    import torch
    from transformers import BertConfig, BertModel

    from dpr_nb import DensePassageRetriever
    from dpr_nb.data.documents import Document
    from dpr_nb.model.encoders import BiEncoder, Encoder, tiny_encoder
    from dpr_nb.search.faiss_store import FAISSDocumentStore

    rng = random.Random(seed)
    tokenizer = tiny_encoder().tokenizer  # word-level: every synthetic word is one token or [UNK]
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=dim,
        num_hidden_layers=2,
        num_attention_heads=12,
        intermediate_size=4 * dim,
    )
    model = BiEncoder(*(Encoder(BertModel(config, add_pooling_layer=False), tokenizer, "cls", False) for _ in "qp"))
    DensePassageRetriever(model=model, use_gpu=False, progress_bar=False).save(folder / "model")

    texts = [" ".join(rng.choices(WORDS, k=60)) for _ in range(passages)]
    with open(folder / "passages.tsv", "w", encoding="utf-8") as out:
        out.write("id\ttext\ttitle\n")
        for number, text in enumerate(texts):
            out.write(f"{number}\t{text}\tpassage {number}\n")
    records = []
    for _ in range(questions):
        gold = rng.randrange(passages)
        words = texts[gold].split()
        ctx = {"title": f"passage {gold}", "text": texts[gold], "passage_id": str(gold)}
        records.append({"question": " ".join(rng.sample(words, 8)), "answers": [], "positive_ctxs": [ctx]})
    (folder / "questions.json").write_text(json.dumps(records), encoding="utf-8")

    store = FAISSDocumentStore(index_type="flat")
    store.write_documents(Document(content=t, meta={"name": f"passage {n}"}, id=str(n)) for n, t in enumerate(texts))
    vectors = np.random.default_rng(seed).standard_normal((passages, dim), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    store._build_index(vectors, "dot_product")  # what update_embeddings does after encoding: here, random vectors
    store.save(folder / "index")
    return {name: str(folder / name) for name in ("model", "questions.json", "passages.tsv", "index")}


def peak_of(command: list[str]) -> dict:
    """Run `command` under /usr/bin/time -v: its peak resident memory (MB) and seconds."""
    started = time.perf_counter()
    finished = subprocess.run(["/usr/bin/time", "-v", *command], capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if finished.returncode:
        sys.stderr.write(finished.stdout[-3000:] + finished.stderr[-3000:])
        raise SystemExit(f"{' '.join(command)}: exit {finished.returncode}")
    peak_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", finished.stderr)[1])
    return {"peak_mb": peak_kb / 1024, "seconds": seconds, "stdout": finished.stdout}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--passages", type=int, default=1_000_000)
    parser.add_argument("--questions", type=int, default=6515)
    parser.add_argument("--dim", type=int, default=768)
    parser.add_argument("--json", default=str(RESULTS / "eval_scale.json"))
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="eval-scale-") as work:
        started = time.perf_counter()
        paths = build(Path(work), args.passages, args.questions, args.dim)
        print(
            f"built {args.passages:,} passages, {args.questions:,} questions in {time.perf_counter() - started:.0f} s"
        )
        common = [sys.executable, "-m", "dpr_nb.cli", "eval", "--model", paths["model"]]
        common += ["--questions", paths["questions.json"], "--index", paths["index"], "--ks", "1,20,100"]
        for what, extra in (
            ("dense, FAISS flat index", ["--no-bm25"]),
            ("and BM25 in memory", ["--corpus", paths["passages.tsv"]]),
        ):
            measured = peak_of(common + extra + ["--measures", "nDCG@10"])
            rows.append({"what": what, "peak_mb": measured["peak_mb"], "seconds": measured["seconds"]})
            print(measured["stdout"][-1500:])
    matrix_mb = args.questions * args.passages * 4 / 2**20
    rows.append({"what": "a (questions, corpus) float32 matrix, for comparison", "peak_mb": matrix_mb, "seconds": None})
    table = print_table(
        rows, [("what", "evaluation", ""), ("peak_mb", "peak MB", ".0f"), ("seconds", "seconds", ".0f")]
    )
    summary = {"machine": cpu_name(), "passages": args.passages, "questions": args.questions, "dim": args.dim}
    write_json("eval_scale", {**summary, "rows": rows, "table": table}, args.json)


if __name__ == "__main__":
    main()
