"""A saved model folder published on the Hugging Face Hub, and a published one read back by its Hub name.

    dpr-nb push --model saved_models/dpr --repo-id you/dpr-nq        # or retriever.push_to_hub("you/dpr-nq")
    DensePassageRetriever.load("you/dpr-nq")                          # anywhere, the same vectors

What is uploaded is the folder `save_model_folder` wrote, as it is: the two encoders (each also a sentence-transformers
model), retriever_config.json, the run's TrainConfig and history, and the model card whose metadata the Hub reads
(dpr_nb.training.model_card.hub_metadata). The upload is huggingface_hub's: `create_repo`, then `upload_folder`.
"""

from __future__ import annotations

from pathlib import Path

from ..core.errors import DPRNBError
from .saved_model import RETRIEVER_FILE

# Never published: hidden files (a lock, an editor's swap file) and the notebooks' checkpoints.
IGNORED = [".*", "**/.*", ".ipynb_checkpoints/**"]


class NotAModelFolderError(DPRNBError, FileNotFoundError):
    """A folder to publish that `save_model_folder` did not write."""


def check_model_folder(folder: str | Path) -> Path:
    """`folder` if it is a saved model (its retriever_config.json says how it embeds), else one clear error."""
    folder = Path(folder)
    if not (folder / RETRIEVER_FILE).is_file():
        raise NotAModelFolderError(
            f"{folder} is not a saved model folder (no {RETRIEVER_FILE} in it): publish a folder that "
            "retriever.save() or dpr-nb train wrote, or save the model first."
        )
    return folder


def files_to_publish(folder: str | Path) -> list[str]:
    """The files `publish_folder` uploads, relative to the folder, sorted: chosen by huggingface_hub's own filter,
    the one upload_folder applies to IGNORED."""
    from huggingface_hub.utils import filter_repo_objects

    folder = check_model_folder(folder)
    names = [path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file()]
    return sorted(filter_repo_objects(names, ignore_patterns=IGNORED))


def publish_folder(
    folder: str | Path,
    repo_id: str,
    *,
    private: bool | None = None,
    token: str | None = None,
    commit_message: str = "Upload a DPR model trained with dpr_nb",
    api=None,
) -> str:
    """Create the model repository `repo_id` if it does not exist and upload the saved model `folder` to it; returns
    the commit's URL. `token`: default, the one `hf auth login` stored (or HF_TOKEN). `api`: a huggingface_hub
    HfApi (default: a new one)."""
    from huggingface_hub import HfApi

    folder = check_model_folder(folder)
    api = api or HfApi(token=token)
    api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
    commit = api.upload_folder(
        repo_id=repo_id,
        repo_type="model",
        folder_path=folder,
        commit_message=commit_message,
        ignore_patterns=IGNORED,
    )
    return str(getattr(commit, "commit_url", commit))
