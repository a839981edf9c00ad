"""Corpus encoding speed (passages/s): dpr_nb's embed_documents against sentence-transformers' encode.

    python benchmarks/corpus_encoding.py         # all-MiniLM-L6-v2, 1,024 passages, max length 256, batch 32
    python benchmarks/corpus_encoding.py --rounds 1 --limit 256                   # a quick check

The passages: XQuAD English's 240 paragraphs and the ~2,800 distinct passages of ../shared/data/dpr-samples (DPR's
NQ and SQuAD dev records: Wikipedia passages of 100 words), shuffled with a fixed seed, the first --limit of them.
Both tools get the same text: dpr_nb embeds (title, text) as a pair, sentence-transformers the string
"title [SEP] text", which its tokenizer turns into the same tokens; both cut at --max-seq-len, pad each batch to its
longest text and sort by length first. Rounds alternate the two (in one process, the models loaded once), in
reverse order every other round, so a machine's drift weighs on both; the figure is dpr_nb's rate over
sentence-transformers' in each round, its median over rounds printed
with the lowest and highest round.

Agreement: both models' embeddings of the first 64 passages' text alone (no title, so no segment ids differ) are
compared: dpr_nb reads the checkpoint's declared mean pooling and normalisation, so the cosine of each pair should
be 1 up to float error.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from common import DPR_SAMPLES, MINILM, XQUAD, device_name, print_table, write_json


def benchmark_passages(limit: int | None = None) -> list:
    """XQuAD English's paragraphs and the dpr-samples passages, distinct, in a seeded random order."""
    import json

    from dpr_nb.data.dpr_file import Passage
    from dpr_nb.evaluation.corpus_eval import load_corpus

    squad = json.loads((XQUAD / "xquad.en.json").read_text(encoding="utf-8"))
    passages = [
        Passage(article["title"], paragraph["context"])
        for article in squad["data"]
        for paragraph in article["paragraphs"]
    ]
    for source in sorted(DPR_SAMPLES.glob("*.json*")):
        passages += load_corpus(source)
    passages = list({p.key: p for p in passages}.values())
    random.Random(0).shuffle(passages)
    return passages[:limit] if limit else passages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(MINILM))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-seq-len", type=int, default=256)
    parser.add_argument("--limit", type=int, default=1024, help="encode the first N passages (0: all ~3,000)")
    parser.add_argument("--json", default=None, help="default: benchmarks/results/corpus_encoding.json")
    args = parser.parse_args()

    import numpy as np
    import torch
    from sentence_transformers import SentenceTransformer

    from dpr_nb import DensePassageRetriever, Document
    from dpr_nb.data.documents import passage_document

    passages = benchmark_passages(args.limit)
    documents = [passage_document(p) for p in passages]
    texts = [f"{p.title} [SEP] {p.text}" for p in passages]
    retriever = DensePassageRetriever(
        query_embedding_model=args.model,
        passage_embedding_model=args.model,
        max_seq_len_passage=args.max_seq_len,
        batch_size=args.batch_size,
        progress_bar=False,
    )
    device = retriever.device
    st_model = SentenceTransformer(args.model, device=str(device))
    st_model.max_seq_length = args.max_seq_len
    tools = {
        "dpr_nb": lambda: retriever.embed_documents(documents),
        "sentence-transformers": lambda: st_model.encode(texts, batch_size=args.batch_size, show_progress_bar=False),
    }
    print(
        f"model: {args.model}; {len(passages)} passages; batch {args.batch_size}; max length {args.max_seq_len}; "
        f"{device_name(device)}, {torch.get_num_threads()} thread(s)\n",
        flush=True,
    )
    # A warm-up batch each: kernels, the allocator, tokenizer caches.
    retriever.embed_documents(documents[: args.batch_size]), st_model.encode(texts[: args.batch_size])
    rates = {tool: [] for tool in tools}
    for round_number in range(args.rounds):
        for tool in list(tools) if round_number % 2 == 0 else list(tools)[::-1]:
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            started = time.perf_counter()
            tools[tool]()
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            rates[tool].append(len(passages) / (time.perf_counter() - started))
            print(f"  round {round_number + 1}, {tool}: {rates[tool][-1]:.1f} passages/s", flush=True)

    sample = passages[:64]
    retriever.embed_title = False
    ours = retriever.embed_documents([Document(content=p.text) for p in sample])
    theirs = st_model.encode([p.text for p in sample], batch_size=args.batch_size)
    ours, theirs = (x / np.linalg.norm(x, axis=1, keepdims=True) for x in (ours, theirs))
    lowest_cosine = float((ours * theirs).sum(axis=1).min())

    rows = []
    for tool, values in rates.items():
        ratios = [a / b for a, b in zip(values, rates["sentence-transformers"])]
        rows.append(
            {
                "tool": tool,
                "passages_per_second": statistics.median(values),
                "ratio": statistics.median(ratios),
                "ratio_range": f"{min(ratios):.2f}-{max(ratios):.2f}",
                "rounds": values,
            }
        )
    print()
    table = print_table(
        rows,
        [
            ("tool", "tool", ""),
            ("passages_per_second", "passages/s", ".1f"),
            ("ratio", "speed vs sentence-transformers", ".2f"),
            ("ratio_range", "rounds' range", ""),
        ],
    )
    print(f"\nagreement: lowest cosine between the two tools' embeddings of the same text: {lowest_cosine:.6f}")
    write_json(
        "corpus_encoding",
        {
            "model": args.model,
            "passages": len(passages),
            "batch_size": args.batch_size,
            "max_seq_len": args.max_seq_len,
            "device": device_name(device),
            "threads": torch.get_num_threads(),
            "lowest_cosine": lowest_cosine,
            "table": table,
            "results": rows,
        },
        args.json,
    )


if __name__ == "__main__":
    main()
