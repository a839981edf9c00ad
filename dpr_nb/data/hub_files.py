"""Data files of Hugging Face Hub datasets, named `hf://datasets/OWNER/NAME/FILE` (`NAME@REVISION` for a version),
as huggingface_hub's file system names them: downloaded once into the Hugging Face cache, then read from there like
any local file (offline too, with HF_HUB_OFFLINE=1).

Tevatron's copies of DPR's data are such files (`hf://datasets/Tevatron/wikipedia-nq/train.jsonl.gz`, records in
Tevatron's layout, which dpr_file reads). One file is fetched, not a folder: a BEIR dataset is read from a folder
on disk.

    >>> hub_dataset_parts("hf://datasets/Tevatron/wikipedia-nq@v1/dev.jsonl.gz")
    ('Tevatron/wikipedia-nq', 'dev.jsonl.gz', 'v1')
    >>> hub_dataset_parts("hf://datasets/you/data@refs%2Fpr%2F3/train.jsonl")   # a pull request's branch
    ('you/data', 'train.jsonl', 'refs/pr/3')
    >>> is_hub_path("data/dpr_training/train.json")
    False
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote

from .dpr_file import DPRDataError

PREFIX = "hf://datasets/"


def is_hub_path(path) -> bool:
    return str(path).startswith(PREFIX)


def hub_dataset_parts(path: str) -> tuple[str, str, str | None]:
    """(repo id, file in the repo, revision or None) of an `hf://datasets/...` path."""
    owner, _, rest = str(path)[len(PREFIX) :].partition("/")
    name, _, filename = rest.partition("/")
    name, _, revision = name.partition("@")
    revision = unquote(revision)  # a branch with "/" is written %2F, as huggingface_hub's file system writes it
    if not owner or not name:
        raise DPRDataError(
            f"{path}: name a Hub dataset's file as hf://datasets/OWNER/NAME/FILE "
            "(e.g. hf://datasets/Tevatron/wikipedia-nq/train.jsonl.gz)."
        )
    return f"{owner}/{name}", filename.strip("/"), revision or None


def hub_path_join(base: str, filename: str) -> str:
    """`data_dir` and a file name in it, where data_dir is an hf://datasets/... folder (pathlib would drop a '/')."""
    return f"{str(base).rstrip('/')}/{filename}"


def local_copy(path: str | Path) -> Path:
    """A local path for `path`: itself, or for an hf://datasets/... file its copy in the Hugging Face cache,
    downloaded if it is not there yet."""
    if not is_hub_path(path):
        return Path(path)
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError, RepositoryNotFoundError

    repo_id, filename, revision = hub_dataset_parts(str(path))
    if not filename:
        raise DPRDataError(f"{path}: name the file in the dataset, e.g. hf://datasets/{repo_id}/train.jsonl.gz.")
    try:
        return Path(hf_hub_download(repo_id, filename, repo_type="dataset", revision=revision))
    # Offline first: huggingface_hub's LocalEntryNotFoundError is a kind of EntryNotFoundError.
    except LocalEntryNotFoundError:
        raise DPRDataError(
            f"{path}: not in the Hugging Face cache, and the Hub cannot be reached (offline?). Connect, or run once "
            "where you are online: the file is then cached."
        ) from None
    except RepositoryNotFoundError:
        raise DPRDataError(
            f"{path}: no dataset {repo_id} on the Hub (or a private one: log in with `hf auth login`)."
        ) from None
    except EntryNotFoundError:
        raise DPRDataError(
            f"{path}: the dataset {repo_id} has no file {filename!r} (its Hub page lists them)."
        ) from None
