"""A user's mistakes and a failing disk: refused before training with the fix, never a lost model or a silent
wrong result."""

import json
import math

import numpy as np
import pytest

from dpr_nb import DensePassageRetriever, Document, InMemoryDocumentStore, TrainConfig, TrainingDivergedError
from dpr_nb.cli import main
from dpr_nb.core.files import SaveFailedError
from dpr_nb.data.builtin_data import write_builtin_dataset
from dpr_nb.model.encoders import BiEncoder, tiny_encoder

SMALL = dict(data_dir="builtin", max_samples=16, batch_size=8, n_epochs=2, num_warmup_steps=0)


def tiny_retriever():
    return DensePassageRetriever(
        model=BiEncoder(tiny_encoder(seed=1), tiny_encoder(seed=2)), use_gpu=False, progress_bar=False
    )


@pytest.mark.parametrize(
    "setting, value",
    [
        ("learning_rate", math.inf),
        ("learning_rate", math.nan),
        ("learning_rate", 0.0),
        ("temperature", math.nan),
        ("max_grad_norm", -1.0),
        ("epsilon", math.inf),
        ("weight_decay", math.nan),
        ("dropout", math.nan),
    ],
)
def test_settings_that_cannot_be_right_are_refused_by_name(setting, value):
    with pytest.raises(ValueError, match=f"{setting}={value}"):
        TrainConfig(**{setting: value})


def test_a_diverging_run_stops_before_it_checkpoints_or_saves(tmp_path):
    """learning_rate=1e30 is finite, so allowed: the weights blow up and the loss turns NaN within a few steps."""
    retriever = tiny_retriever()
    with pytest.raises(TrainingDivergedError, match=r"The loss became nan at step (\d+).*Lower learning_rate"):
        retriever.train(
            **SMALL,
            learning_rate=1e30,
            save_dir=str(tmp_path / "model"),
            checkpoint_root_dir=str(tmp_path / "checkpoints"),
            checkpoint_every=1,
        )
    assert not (tmp_path / "model").exists()
    # Only steps whose loss was finite were checkpointed.
    for checkpoint in (tmp_path / "checkpoints").glob("step-*"):
        history = json.loads((checkpoint / "history.json").read_text())
        assert all(math.isfinite(s["loss"]) for s in history["steps"])


def test_an_unwritable_save_dir_is_refused_before_the_first_step(tmp_path):
    (tmp_path / "a-file").write_text("not a folder")
    steps = []
    with pytest.raises(ValueError, match=r"save_dir=.*a-file/model' cannot be made: .*a-file is a file.*Nothing was"):
        tiny_retriever().train(
            **SMALL,
            save_dir=str(tmp_path / "a-file" / "model"),
            callbacks={"on_step_end": lambda trainer, record: steps.append(record)},
        )
    assert steps == []


def test_a_save_that_fails_at_the_end_keeps_the_model_elsewhere_and_says_where(tmp_path, monkeypatch):
    import dpr_nb.training.train as train

    original, calls = train.save_model_folder, []

    def flaky_save(save_dir, *args):  # the one function every save goes through: the disk is full the first time
        calls.append(save_dir)
        if len(calls) == 1:
            raise OSError(28, "No space left on device")
        return original(save_dir, *args)

    monkeypatch.setattr(train, "save_model_folder", flaky_save)
    retriever = tiny_retriever()
    with pytest.raises(SaveFailedError, match=r"No space left on device.*saved to (\S+) instead") as error:
        retriever.train(**SMALL, save_dir=str(tmp_path / "model"))
    rescued = calls[1]
    assert str(rescued) in str(error.value)
    reloaded = DensePassageRetriever.load(rescued, use_gpu=False, progress_bar=False)
    assert reloaded.embed_queries(["q"]).tolist() == retriever.embed_queries(["q"]).tolist()


@pytest.mark.parametrize("top_k", [0, -1])
def test_retrieve_refuses_a_top_k_below_one(top_k):
    store = InMemoryDocumentStore()
    retriever = tiny_retriever()
    store.write_documents([Document(content="velmora was founded in 1423.", meta={"name": "velmora"})])
    store.update_embeddings(retriever)
    with pytest.raises(ValueError, match=f"top_k={top_k}: ask for at least 1"):
        retriever.retrieve("who founded velmora", top_k=top_k, document_store=store)


def test_restart_replaces_an_earlier_runs_checkpoints_which_a_plain_run_refuses(tmp_path, capsys):
    """The refusals are cases of tests/test_user_errors.py; here the way out that they name."""
    base = [
        "train",
        "--set",
        f"save_dir={tmp_path / 'model'}",
        "--set",
        f"checkpoint_dir={tmp_path / 'ckpt'}",
        "--set",
        "max_samples=16",
        "--set",
        "batch_size=8",
        "--set",
        "n_epochs=1",
        "--set",
        "checkpoint_every=1",
    ]
    assert main(base) == 0
    assert main(base + ["--set", "seed=1"]) == 1
    assert main(base + ["--set", "seed=1", "--restart"]) == 0
    seeds = {json.loads((c / "train_config.json").read_text())["seed"] for c in (tmp_path / "ckpt").glob("step-*")}
    assert seeds == {1}


def test_a_dpr_file_with_a_byte_order_mark_is_read(tmp_path):
    from dpr_nb.data.dpr_file import load_dpr_file

    records = write_builtin_dataset(tmp_path)["dev"]
    for name, text in (
        ("bom.json", records.read_text()),
        ("bom.jsonl", "".join(json.dumps(r) + "\n" for r in json.loads(records.read_text()))),
    ):
        (tmp_path / name).write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
        assert len(load_dpr_file(tmp_path / name)) == len(load_dpr_file(records))


def test_load_without_retriever_config_takes_the_lengths_the_run_trained_with(tmp_path):
    retriever = tiny_retriever()
    config = TrainConfig(
        **{**SMALL, "n_epochs": 1},
        max_seq_len_query=20,
        max_seq_len_passage=40,
        save_dir=str(tmp_path / "m"),
        device="cpu",
    )
    retriever.train(config=config)
    (tmp_path / "m" / "retriever_config.json").unlink()
    reloaded = DensePassageRetriever.load(tmp_path / "m", use_gpu=False, progress_bar=False)
    assert (reloaded.max_seq_len_query, reloaded.max_seq_len_passage) == (20, 40)


DEAD = 99_999_999  # a process id no process has (Linux ids stop at 4,194,304)


def embeddings_of(folder):
    return DensePassageRetriever.load(folder, use_gpu=False, progress_bar=False).embed_queries(["who founded it"])


def test_a_save_killed_between_its_two_renames_is_recovered_and_dead_copies_cleaned(tmp_path):
    first, second = (
        tiny_retriever(),
        DensePassageRetriever(
            model=BiEncoder(tiny_encoder(seed=3), tiny_encoder(seed=4)), use_gpu=False, progress_bar=False
        ),
    )
    first.save(tmp_path / "model")
    second.save(tmp_path / "b")
    # The state a kill between the renames leaves: the old model moved aside, the complete new one not yet in place.
    (tmp_path / "model").rename(tmp_path / f".model.old-{DEAD}")
    (tmp_path / "b").rename(tmp_path / f".model.tmp-{DEAD}")
    assert embeddings_of(tmp_path / "model").tolist() == second.embed_queries(["who founded it"]).tolist()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # the dead process's old copy is gone too


def test_a_save_interrupted_at_each_step_leaves_a_loadable_model(tmp_path, monkeypatch):
    import dpr_nb.core.files as files

    first, second = (
        tiny_retriever(),
        DensePassageRetriever(
            model=BiEncoder(tiny_encoder(seed=3), tiny_encoder(seed=4)), use_gpu=False, progress_bar=False
        ),
    )
    for step, expected in ((1, first), (2, second)):  # interrupted at the first rename, then at the second
        folder = tmp_path / f"model-{step}"
        first.save(folder)
        calls, original = [], files.os.replace

        def interrupted(source, target, step=step, calls=calls, original=original, folder=folder):
            if folder in (source, target):  # the swap's two renames: the folder out, the new one in
                calls.append(source)
                if len(calls) == step:
                    raise KeyboardInterrupt  # as a kill at that instant
            return original(source, target)

        monkeypatch.setattr(files.os, "replace", interrupted)
        with pytest.raises(KeyboardInterrupt):
            second.save(folder)
        monkeypatch.setattr(files.os, "replace", original)
        assert embeddings_of(folder).tolist() == expected.embed_queries(["who founded it"]).tolist()


def test_an_unfinished_checkpoint_of_a_dead_process_is_removed(tmp_path):
    stale = tmp_path / "checkpoints" / f".step-000004.tmp-{DEAD}"
    stale.mkdir(parents=True)
    (stale / "model.pt").write_bytes(b"half")
    tiny_retriever().train(
        **SMALL, save_dir=None, checkpoint_root_dir=str(tmp_path / "checkpoints"), checkpoint_every=1, restart=True
    )
    assert not stale.exists()


def test_a_truncated_checkpoint_is_refused_with_the_fix_and_no_unsafe_advice(tmp_path):
    from dpr_nb.training.checkpoints import DamagedCheckpointError

    tiny_retriever().train(**SMALL, save_dir=None, checkpoint_root_dir=str(tmp_path), checkpoint_every=1)
    newest = sorted(tmp_path.glob("step-*"))[-1]
    weights = newest / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    damaged = r"step-\d+: it is damaged or incomplete .*Delete this folder"
    with pytest.raises(DamagedCheckpointError, match=damaged) as e:
        tiny_retriever().train(
            **SMALL, save_dir=None, checkpoint_root_dir=str(tmp_path), checkpoint_every=1, resume=True
        )
    assert "weights_only" not in str(e.value)


def test_documents_and_stores_refuse_what_cannot_be_right():
    with pytest.raises(ValueError, match=r"content=None\): content must be the passage text"):
        Document(content=None)
    store = InMemoryDocumentStore()
    with pytest.raises(ValueError, match=r"duplicate_documents='replace'; use one of"):
        store.write_documents([Document(content="a")], duplicate_documents="replace")
    store.write_documents([Document(content="a", id="1")])
    with pytest.raises(ValueError, match="id 1 is already in the store .*nothing was written"):
        store.write_documents(
            [Document(content="b", id="2"), Document(content="c", id="1")], duplicate_documents="fail"
        )
    assert store.get_document_count() == 1  # "b" was not written before the duplicate was found
    store.update_embeddings(tiny_retriever())  # 64 dimensions
    with pytest.raises(ValueError, match=r"query embedding has shape \(32,\) and the store's embeddings \(64,\)"):
        store.query_by_embedding(np.ones(32))


def test_a_second_run_into_a_save_dir_in_use_is_refused_and_a_dead_runs_lock_taken_over(tmp_path):
    import subprocess
    import sys

    from dpr_nb.core.files import FolderInUseError

    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])  # another run, still going
    try:
        (tmp_path / ".model.lock").write_text(str(other.pid))
        steps = []
        with pytest.raises(
            FolderInUseError,
            match=rf"save_dir=.*model' is in use by another run \(process "
            rf"{other.pid}\)",
        ):
            tiny_retriever().train(
                **SMALL,
                save_dir=str(tmp_path / "model"),
                callbacks={"on_step_end": lambda trainer, record: steps.append(record)},
            )
        assert steps == [] and not (tmp_path / "model").exists()
        with pytest.raises(FolderInUseError):  # a save on its own, too
            tiny_retriever().save(tmp_path / "model")
    finally:
        other.kill()
        other.wait()
    (tmp_path / ".model.lock").write_text(str(DEAD))  # the lock of a run that was killed
    tiny_retriever().train(**SMALL, save_dir=str(tmp_path / "model"))
    assert (tmp_path / "model" / "query_encoder").is_dir() and not (tmp_path / ".model.lock").exists()


def test_a_lock_from_another_host_is_never_taken_over_and_the_error_says_whose_how_old_and_how_to_break_it(tmp_path):
    """On a shared Drive, another machine's live run has a process id that does not run here: its lock must hold."""
    import os
    import subprocess
    import time

    from dpr_nb.core.files import FolderInUseError, folder_lock

    folder = tmp_path / "My Drive" / "model"  # a space, as in Drive paths: the command must quote it
    folder.parent.mkdir()
    lock = folder.parent / ".model.lock"
    lock.write_text(f"{DEAD}@colab-other-vm")
    made = int(time.time()) - (3 * 3600 + 12 * 60 + 30)  # whole seconds: the file's time reads back exactly
    os.utime(lock, (made, made))
    with pytest.raises(FolderInUseError) as refused:
        with folder_lock(folder):
            pass
    message = str(refused.value)
    assert f"process {DEAD} on host 'colab-other-vm', its lock made 3 h 12 min ago" in message
    assert lock.read_text() == f"{DEAD}@colab-other-vm" and lock.stat().st_mtime == made  # left exactly as it was
    command = message.rsplit("delete its lock: ", 1)[1]
    assert command == f"rm '{lock}'"
    subprocess.run(["bash", "-c", command], check=True)  # the command given, run as a user would paste it
    with folder_lock(folder):  # ... frees the folder
        assert lock.exists()
    assert not lock.exists()


def test_an_older_pid_only_lock_is_this_hosts_and_taken_over_when_its_process_is_dead(tmp_path):
    import os
    import socket

    from dpr_nb.core.files import folder_lock

    lock = tmp_path / ".model.lock"
    lock.write_text(str(DEAD))  # the format before hosts were recorded
    with folder_lock(tmp_path / "model"):
        assert lock.read_text() == f"{os.getpid()}@{socket.gethostname()}"
    assert not lock.exists()


def test_a_lock_of_this_hosts_dead_process_is_taken_over_a_live_ones_is_not_and_the_holder_may_enter_again(tmp_path):
    import os
    import socket
    import subprocess
    import sys

    from dpr_nb.core.files import FolderInUseError, folder_lock

    host = socket.gethostname()
    lock = tmp_path / ".model.lock"
    lock.write_text(f"{DEAD}@{host}")
    with folder_lock(tmp_path / "model"):
        assert lock.read_text() == f"{os.getpid()}@{host}"
        with folder_lock(tmp_path / "model"):  # the final save inside training takes it once more
            pass
        assert lock.read_text() == f"{os.getpid()}@{host}"  # ... and only the outer block releases it
    assert not lock.exists()
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        lock.write_text(f"{other.pid}@{host}")
        with pytest.raises(FolderInUseError, match=rf"in use by another run \(process {other.pid}\)"):
            with folder_lock(tmp_path / "model"):
                pass
        assert lock.read_text() == f"{other.pid}@{host}"
    finally:
        other.kill()
        other.wait()


def test_a_broken_line_in_the_middle_of_json_lines_is_not_called_a_truncated_download(tmp_path):
    from dpr_nb.data.dpr_file import DPRDataError, load_dpr_file

    records = json.loads(write_builtin_dataset(tmp_path)["dev"].read_text())
    lines = [json.dumps(r) for r in records[:3]]
    middle = tmp_path / "middle.jsonl"
    middle.write_text("\n".join([lines[0], lines[1][:50], lines[2]]) + "\n")
    with pytest.raises(DPRDataError, match=r"middle.jsonl: invalid JSON at line 2.*fix the JSON there"):
        load_dpr_file(middle)
    end = tmp_path / "end.jsonl"
    end.write_text("\n".join([lines[0], lines[1][:50]]))
    with pytest.raises(DPRDataError, match=r"end.jsonl: invalid JSON at line 2.*probably truncated"):
        load_dpr_file(end)


def test_every_file_of_a_trained_and_saved_model_gets_ordinary_permissions(tmp_path):
    """Temporary files from tempfile are 0600: a model card written through one could not be served or shared."""
    from dpr_nb.core.files import current_umask

    tiny_retriever().train(**{**SMALL, "n_epochs": 1}, save_dir=str(tmp_path / "model"))
    modes = {
        str(p.relative_to(tmp_path)): p.stat().st_mode & 0o777 for p in (tmp_path / "model").rglob("*") if p.is_file()
    }
    assert "model/README.md" in modes and "model/training.png" in modes
    assert set(modes.values()) == {0o666 & ~current_umask()}, modes


def test_a_length_beyond_the_models_positions_is_refused_when_the_retriever_is_made():
    from transformers import RobertaConfig, RobertaModel

    from dpr_nb.model.encoders import Encoder

    with pytest.raises(ValueError, match=r"max_seq_len_passage=513 is longer than the 512 tokens .*at most 512"):
        DensePassageRetriever(
            model=BiEncoder(tiny_encoder(seed=1), tiny_encoder(seed=2)), max_seq_len_passage=513, use_gpu=False
        )
    # RoBERTa's positions start after its padding index: 514 position embeddings take 512 tokens.
    roberta = RobertaModel(
        RobertaConfig(
            vocab_size=16,
            hidden_size=8,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=16,
            max_position_embeddings=514,
            pad_token_id=1,
        )
    )
    assert Encoder(roberta, None, "mean").max_length == 512


SAVER = """
import sys, time
from pathlib import Path
from dpr_nb import DensePassageRetriever
from dpr_nb.model.encoders import BiEncoder, tiny_encoder
from dpr_nb.core.files import FolderInUseError

folder, seed = Path(sys.argv[1]), int(sys.argv[2])
retriever = DensePassageRetriever(model=BiEncoder(tiny_encoder(seed=seed), tiny_encoder(seed=seed + 100)),
                                  use_gpu=False, progress_bar=False)
(folder.parent / f"ready-{seed}").touch()
while not (folder.parent / "go").exists():
    time.sleep(0.001)
try:
    retriever.save(folder)
    print("saved", time.time())
except FolderInUseError:
    print("in use", time.time())
"""


def test_concurrent_saves_into_one_folder_each_succeed_or_are_refused_and_the_last_one_is_what_loads(tmp_path):
    import subprocess
    import sys
    import time

    seeds = range(10, 16)
    savers = {
        seed: subprocess.Popen(
            [sys.executable, "-c", SAVER, str(tmp_path / "model"), str(seed)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for seed in seeds
    }
    while len(list(tmp_path.glob("ready-*"))) < len(seeds) and all(p.poll() is None for p in savers.values()):
        time.sleep(0.01)
    (tmp_path / "go").touch()  # all at once
    outcomes = {}
    for seed, process in savers.items():
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err[-2000:]  # no raw OSError from a folder another process was swapping
        outcome, when = out.strip().splitlines()[-1].rsplit(" ", 1)
        outcomes[seed] = (outcome, float(when))
    saved = {seed: when for seed, (outcome, when) in outcomes.items() if outcome == "saved"}
    assert saved and all(outcome in ("saved", "in use") for outcome, _ in outcomes.values())
    last = max(saved, key=saved.get)
    expected = DensePassageRetriever(
        model=BiEncoder(tiny_encoder(seed=last), tiny_encoder(seed=last + 100)), use_gpu=False, progress_bar=False
    )
    reloaded = DensePassageRetriever.load(tmp_path / "model", use_gpu=False, progress_bar=False)
    assert reloaded.embed_queries(["q"]).tolist() == expected.embed_queries(["q"]).tolist()
    left = sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("ready-"))
    assert left == ["go", "model"]  # no temporary copy, lock or moved-aside lock left behind
