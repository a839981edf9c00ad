"""`dpr-nb demo`: the whole tutorial in miniature, on the CPU, with nothing to download."""

from __future__ import annotations

import argparse
import time

from .arguments import no_outputs


def register(subparsers) -> None:
    parser = subparsers.add_parser("demo", help="train a tiny model on the built-in dataset (CPU, no downloads)")
    parser.add_argument("--save-dir", default="saved_models/dpr-demo", help="where to save the trained model")
    parser.add_argument("--epochs", type=int, default=None, help="override the smoke preset's epochs")
    parser.add_argument("--seed", type=int, default=42)
    parser.set_defaults(run=run, outputs=no_outputs)


def run(args: argparse.Namespace) -> int:
    """0 when training improved the test set's average rank, else 1."""
    result = demo(args.save_dir, args.epochs, args.seed)
    return 0 if result["after"]["average_rank"] < result["before"]["average_rank"] else 1


def demo(save_dir: str = "saved_models/dpr-demo", n_epochs: int | None = None, seed: int = 42) -> dict:
    """The whole tutorial in miniature, on the CPU, with nothing to download. Returns the two reports."""
    import numpy as np

    from ..core.config import TrainConfig
    from ..data.builtin_data import EXAMPLE_QUESTIONS
    from ..data.documents import passage_document
    from ..data.splits import load_splits
    from ..evaluation.corpus_eval import load_corpus
    from ..evaluation.report import format_report
    from ..retriever import DensePassageRetriever
    from ..search.document_store import InMemoryDocumentStore
    from .arguments import quiet_transformers

    started = time.perf_counter()
    quiet_transformers()  # keep the output to our own report
    config = TrainConfig.preset("smoke", save_dir=save_dir, seed=seed, device="cpu")
    if n_epochs is not None:
        config = config.replace(n_epochs=n_epochs)
    print(f"dpr-nb demo: a {config.query_model} bi-encoder on the built-in dataset, {config.n_epochs} epochs\n")
    retriever = DensePassageRetriever.from_config(config, document_store=InMemoryDocumentStore())
    test = load_splits(config.data_dir, config.train_filename)["test"]  # towns the model never trains on

    def evaluate():
        return retriever.evaluate(test, batch_size=config.batch_size, num_hard_negatives=config.num_hard_negatives)

    before = evaluate()
    print(format_report(before, "Report on the test set BEFORE training:"), "\n")

    retriever.train(config=config)
    after = evaluate()
    print("\n" + format_report(after, "Report on the test set AFTER training:"), "\n")

    reloaded = DensePassageRetriever.load(load_dir=save_dir, document_store=InMemoryDocumentStore(), use_gpu=False)
    questions = EXAMPLE_QUESTIONS
    same = np.allclose(retriever.embed_queries(questions), reloaded.embed_queries(questions), atol=1e-5)
    print(f"Saved to {save_dir}/ and reloaded: identical query embeddings: {same}\n")

    reloaded.document_store.write_documents(map(passage_document, load_corpus("builtin")))
    reloaded.document_store.update_embeddings(reloaded)
    for question in questions:
        print(f"Q: {question}")
        for rank, document in enumerate(reloaded.retrieve(question, top_k=3, scale_score=False), start=1):
            print(f"   {rank}. [{document.score:.3f}] {document.meta['name']}: {document.content[:90]}")
    print(f"\nDone in {time.perf_counter() - started:.0f} s.")
    return {"before": before, "after": after, "reload_identical": same}
