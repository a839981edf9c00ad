"""What more than one command's arguments share: argparse types, a model opened by name, quiet transformers."""

from __future__ import annotations

import argparse


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1 (argparse then says which option is wrong, in one line)."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def ks_list(text: str) -> list[int]:
    """--ks "1,5,20": distinct whole numbers of at least 1, ascending."""
    try:
        return sorted({positive_int(k) for k in text.split(",")})
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give k values of at least 1, separated by commas (1,5,20)"
        ) from None


def no_outputs(args: argparse.Namespace) -> list[tuple[str, str, bool]]:
    """The `outputs` of a command that writes nothing main should check first."""
    return []


def quiet_transformers() -> None:
    """Our own progress and reports, not transformers' bar for each file it loads. Imported here, in a command's
    run, so that the data tools and --help never load transformers."""
    import transformers

    transformers.utils.logging.disable_progress_bar()


def open_retriever(name: str, like=None):
    """A saved retriever (a folder, or one `dpr-nb push` published on the Hub), or a model (hub name or folder) used
    as both encoders, with `like`'s lengths."""
    from pathlib import Path

    from ..retriever import DensePassageRetriever

    folder = Path(name)
    if folder.is_dir() and ((folder / "query_encoder").is_dir() or (folder / "retriever_config.json").is_file()):
        return DensePassageRetriever.load(folder, progress_bar=False)
    lengths = (
        {"max_seq_len_query": like.max_seq_len_query, "max_seq_len_passage": like.max_seq_len_passage} if like else {}
    )
    try:
        return DensePassageRetriever(
            query_embedding_model=name, passage_embedding_model=name, progress_bar=False, **lengths
        )
    except OSError as error:  # no model by that name: perhaps a saved retriever that `dpr-nb push` published
        if folder.exists():
            raise
        try:
            return DensePassageRetriever.load(name, progress_bar=False)
        except FileNotFoundError:
            raise error from None
