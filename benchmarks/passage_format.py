"""How a passage's title and text are given to a sentence-transformers checkpoint, before any training: DPR's pair
against the single strings such a checkpoint was trained on.

    python benchmarks/passage_format.py                   # XQuAD German, all-MiniLM-L6-v2, about 7 minutes here
    python benchmarks/passage_format.py --language en

dpr_nb gives a passage as DPR's pair, "[CLS] title [SEP] text [SEP]" with token types all 0 (embed_title=True), the
same tokens as the single string "title [SEP] text"; all-MiniLM-L6-v2 was trained on single texts. Each format is
encoded here by sentence-transformers' own `encode` (so the only difference is the string) and every held-out
question (XQuAD --language split by article, 20% held out) ranks all the language's 240 paragraphs and the 2,845
Wikipedia passages of ../shared's DPR samples:

- pair: "title [SEP] text", dpr_nb's tokens;
- title text: "title text", the separator BEIR's sentence-transformers models are given;
- title: text: "title: text";
- text: the text alone (dpr_nb's embed_title=False).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from common import MINILM, print_table, write_json, xquad_dpr
from retrieval_quality import KS, distractors

FORMATS = {
    "pair": lambda p: f"{p.title} [SEP] {p.text}",
    "title text": lambda p: f"{p.title} {p.text}",
    "title: text": lambda p: f"{p.title}: {p.text}",
    "text": lambda p: p.text,
}
COLUMNS = [
    ("format", "passage as", ""),
    ("top_1_accuracy", "top-1", ".3f"),
    ("top_5_accuracy", "top-5", ".3f"),
    ("top_20_accuracy", "top-20", ".3f"),
    ("mrr_at_10", "MRR@10", ".3f"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(MINILM))
    parser.add_argument("--language", default="de")
    parser.add_argument("--no-distractors", action="store_true", help="rank the language's 240 paragraphs only")
    parser.add_argument("--json", default=None, help="default: benchmarks/results/passage_format.json")
    args = parser.parse_args()
    from sentence_transformers import SentenceTransformer

    from dpr_nb.data.dpr_file import load_dpr_file
    from dpr_nb.evaluation.corpus_eval import load_corpus, score_ranking

    with tempfile.TemporaryDirectory() as folder:
        data_dir, _ = xquad_dpr(args.language, Path(folder) / args.language, test_fraction=0.2)
        test = load_dpr_file(data_dir / "test.json")
        corpus = load_corpus(data_dir / "passages.tsv") + ([] if args.no_distractors else distractors())
    model = SentenceTransformer(args.model)
    model.max_seq_length = 256
    questions = model.encode([e.question for e in test], normalize_embeddings=True)
    rows = []
    for name, as_text in FORMATS.items():
        passages = model.encode([as_text(p) for p in corpus], batch_size=32, normalize_embeddings=True)
        result = score_ranking(name, test, corpus, questions @ passages.T, KS, "id")
        rows.append({"format": name, **result.metrics})
        print(f"{name}: top-1 {result.metrics['top_1_accuracy']:.3f}", flush=True)
    print(f"\nXQuAD {args.language}, {len(test)} held-out questions, {len(corpus)} passages, untrained {args.model}:\n")
    table = print_table(rows, COLUMNS)
    write_json(
        "passage_format", {"model": args.model, "language": args.language, "table": table, "rows": rows}, args.json
    )


if __name__ == "__main__":
    main()
