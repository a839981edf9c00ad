"""A saved model published on the Hugging Face Hub (dpr_nb.training.publish) and read back by its Hub name.

Offline, as CI is: huggingface_hub's HfApi is replaced by a recorder that keeps the files upload_folder would send
(chosen by huggingface_hub's own filter), and the received folder is then placed in a Hugging Face cache under the
repository's name, where `DensePassageRetriever.load("owner/name")` finds it as it would after a download."""

from pathlib import Path
from types import SimpleNamespace

import huggingface_hub
import numpy as np
import pytest

from dpr_nb import TrainConfig
from dpr_nb.cli import main as cli_main
from dpr_nb.model.encoders import BiEncoder, tiny_encoder
from dpr_nb.retriever import DensePassageRetriever
from dpr_nb.training.history import History
from dpr_nb.training.publish import files_to_publish

REPO = "someone/dpr-test"


class RecordingHub:
    """What create_repo and upload_folder were asked, and the files upload_folder would have sent, under root/repo."""

    def __init__(self, root: Path):
        self.root, self.calls = root, []

    def create_repo(self, repo_id, **options):
        self.calls.append(("create_repo", repo_id, options))

    def upload_folder(self, *, repo_id, folder_path, ignore_patterns, **options):
        from huggingface_hub.utils import filter_repo_objects

        folder = Path(folder_path)
        files = [p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()]
        sent = sorted(filter_repo_objects(files, ignore_patterns=ignore_patterns))
        for name in sent:
            (self.root / repo_id / name).parent.mkdir(parents=True, exist_ok=True)
            (self.root / repo_id / name).write_bytes((folder / name).read_bytes())
        self.calls.append(("upload_folder", repo_id, sent, options))
        return SimpleNamespace(commit_url=f"https://huggingface.co/{repo_id}/commit/0123")


@pytest.fixture
def hub(tmp_path, monkeypatch):
    recorder = RecordingHub(tmp_path / "received")
    monkeypatch.setattr(huggingface_hub, "HfApi", lambda token=None: recorder)
    return recorder


@pytest.fixture
def retriever():
    retriever = DensePassageRetriever(
        model=BiEncoder(tiny_encoder(seed=1), tiny_encoder(seed=2)), use_gpu=False, progress_bar=False
    )
    kept = {"step": 2, "split": "test", "loss": 0.5, "top_1_accuracy": 0.25, "mrr_at_10": 0.4, "questions": 8}
    retriever.train_config = TrainConfig.preset("smoke", query_model="bert-base-uncased", device="cpu")
    retriever.history = History(
        steps=[{"step": s, "epoch": 0, "loss": 1.0 / s, "learning_rate": 1e-4} for s in (1, 2)],
        evaluations=[kept],
        kept_evaluations={"test": kept},
    )
    return retriever


def test_push_to_hub_uploads_the_saved_folder_which_loads_back_by_its_name(tmp_path, hub, retriever, monkeypatch):
    url = retriever.push_to_hub(REPO, private=True)
    assert url == f"https://huggingface.co/{REPO}/commit/0123"
    (create, repo, options), (upload, _, sent, _) = hub.calls
    assert (create, repo, options["private"], options["exist_ok"]) == ("create_repo", REPO, True, True)
    retriever.save(tmp_path / "saved")  # what push_to_hub uploads is exactly the folder save writes
    assert sent == files_to_publish(tmp_path / "saved") and "retriever_config.json" in sent
    assert "query_encoder/model.safetensors" in sent and "README.md" in sent

    received = tmp_path / "received" / REPO
    card = huggingface_hub.ModelCard.load(received / "README.md").data
    assert card.library_name == "dpr_nb" and card.base_model == "bert-base-uncased"
    assert {(r.dataset_split, r.metric_type, r.metric_value) for r in card.eval_results} == {
        ("test", "top_1_accuracy", 0.25),
        ("test", "mrr_at_10", 0.4),
    }

    import huggingface_hub.constants as constants
    from standins import hub_cache

    hub_cache(tmp_path / "hf", {REPO: received})
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    reloaded = DensePassageRetriever.load(REPO, use_gpu=False, progress_bar=False)
    questions = ["where is the town hall", "who founded the town"]
    np.testing.assert_array_equal(reloaded.embed_queries(questions), retriever.embed_queries(questions))
    assert reloaded.train_config == retriever.train_config

    # dpr-nb eval and index open it by that name too; a plain checkpoint's name stays a model to use as both encoders
    from standins import QUESTION_MODEL

    from dpr_nb.cli.arguments import open_retriever

    opened = open_retriever(REPO)
    assert opened.train_config == retriever.train_config and not opened.model.shares_encoders
    np.testing.assert_array_equal(opened.embed_queries(questions), retriever.embed_queries(questions))
    plain = open_retriever(QUESTION_MODEL)
    assert plain.train_config is None and plain.model.query_encoder.source == QUESTION_MODEL


def test_a_name_that_is_neither_a_folder_nor_on_the_hub_says_both(tmp_path, monkeypatch):
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.chdir(tmp_path)
    for name in ("nobody/nothing", "saved_models/deleted", "deleted"):
        with pytest.raises(FileNotFoundError, match=f"No saved retriever at {name}: not a folder here .* nor a model"):
            DensePassageRetriever.load(name)
    # Where saved_models/ is a folder here, saved_models/deleted is a missing local model: the Hub is not asked.
    (tmp_path / "saved_models").mkdir()
    monkeypatch.setattr(huggingface_hub, "snapshot_download", lambda **options: pytest.fail("asked the Hub"))
    with pytest.raises(FileNotFoundError, match="No saved retriever at saved_models/deleted"):
        DensePassageRetriever.load("saved_models/deleted")


def test_push_command_lists_the_files_and_a_dry_run_uploads_nothing(tmp_path, hub, retriever, capsys):
    retriever.save(tmp_path / "saved")
    assert cli_main(["push", "--model", str(tmp_path / "saved"), "--repo-id", REPO, "--dry-run"]) == 0
    printed = capsys.readouterr().out
    assert f"-> https://huggingface.co/{REPO}: {len(files_to_publish(tmp_path / 'saved'))} files" in printed
    assert "  retriever_config.json\n" in printed and "nothing was uploaded" in printed
    assert hub.calls == []
    assert cli_main(["push", "--model", str(tmp_path / "saved"), "--repo-id", REPO]) == 0
    assert [call[0] for call in hub.calls] == ["create_repo", "upload_folder"]
    assert hub.calls[0][2]["private"] is None  # the account's default, unless --private
    assert f"DensePassageRetriever.load('{REPO}')" in capsys.readouterr().out


def test_pushing_a_folder_that_is_no_saved_model_is_one_line_and_uploads_nothing(tmp_path, hub, capsys):
    (tmp_path / "notes").mkdir()
    assert cli_main(["push", "--model", str(tmp_path / "notes"), "--repo-id", REPO]) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "is not a saved model folder (no retriever_config.json" in error
    assert hub.calls == []
