import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from training_worker import make_trainer

from dpr_nb.training import checkpoints as checkpoint_files
from dpr_nb.training.checkpoints import checkpoint_folders, latest_checkpoint, load_checkpoint, read_state, write_state

WORKER = Path(__file__).with_name("training_worker.py")


def run_worker(*args):
    return subprocess.run([sys.executable, str(WORKER), *map(str, args)], capture_output=True, text=True)


@pytest.mark.parametrize("every, die_at, resumed_from", [(4, 6, 4), (3, 8, 6)])
def test_killed_run_resumes_to_the_same_weights(tmp_path, every, die_at, resumed_from):
    """SIGKILL mid-run, resume from the newest checkpoint: same weights and history as a run never interrupted.

    (4, 6): resumes in the middle of the first epoch; (3, 8): from a checkpoint taken at the end of the first epoch.
    Dropout is on: its random state is part of the checkpoint.
    """
    checkpoints = tmp_path / "checkpoints"
    killed = run_worker(
        tmp_path / "killed", "--checkpoint-dir", checkpoints, "--checkpoint-every", every, "--die-at", die_at
    )
    assert killed.returncode == -9, killed.stderr  # SIGKILL: no chance to clean up
    assert latest_checkpoint(checkpoints).name == f"step-{resumed_from:06d}"
    assert not (tmp_path / "killed").exists()

    # Resumed here, in a process whose random state other tests have moved: the checkpoint must restore it all. The
    # worker computes on one thread; so do these runs, since float sums depend on how work is split.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        resumed = make_trainer(checkpoint_dir=str(checkpoints), checkpoint_every=every)
        resumed_history = resumed.train(resume=True)
        reference = make_trainer(checkpoint_every=every)
        history = reference.train()
    finally:
        torch.set_num_threads(threads)
    weights = resumed.model.state_dict()
    for name, expected in reference.model.state_dict().items():
        torch.testing.assert_close(weights[name], expected, atol=1e-6, rtol=0, msg=name)
    assert [s["loss"] for s in resumed_history.steps] == pytest.approx([s["loss"] for s in history.steps])
    assert [s["step"] for s in resumed_history.steps] == list(range(1, 13))
    # The newest two checkpoints are kept; the last one is the end of training.
    assert [p.name for p in checkpoint_folders(checkpoints)][-1] == "step-000012"
    assert len(checkpoint_folders(checkpoints)) == 2


def test_checkpoint_is_never_half_written(tmp_path, monkeypatch):
    trainer = make_trainer(checkpoint_dir=str(tmp_path), checkpoint_every=2, n_epochs=1)
    original = checkpoint_files.save_file
    calls = []

    def failing_save(tensors, path, *args, **kwargs):
        calls.append(path)
        if len(calls) == 4:  # the second checkpoint's training state: as if the disk filled up
            raise OSError("No space left on device")
        return original(tensors, path, *args, **kwargs)

    monkeypatch.setattr(checkpoint_files, "save_file", failing_save)
    with pytest.raises(OSError):
        trainer.train()
    assert [p.name for p in checkpoint_folders(tmp_path)] == ["step-000002"]  # the failed step-4 never appears
    assert latest_checkpoint(tmp_path).joinpath("training_state.safetensors").is_file()


def test_resume_without_a_checkpoint_is_refused_before_the_first_step(tmp_path):
    trainer = make_trainer(checkpoint_dir=str(tmp_path / "none-yet"), n_epochs=1)
    with pytest.raises(ValueError, match=r"holds no checkpoint to continue from. Train without resume"):
        trainer.train(resume=True)
    assert trainer.history.steps == []


def test_a_fresh_run_into_an_earlier_runs_checkpoints_is_refused_or_replaces_them_when_asked(tmp_path):
    make_trainer(checkpoint_dir=str(tmp_path), checkpoint_every=2, n_epochs=2).train()  # steps 2..12, keeps 2
    assert [p.name for p in checkpoint_folders(tmp_path)] == ["step-000010", "step-000012"]
    refused = make_trainer(checkpoint_dir=str(tmp_path), checkpoint_every=2, n_epochs=1)
    with pytest.raises(ValueError, match=r"earlier run's checkpoints \(newest step-000012\).*--restart"):
        refused.train()
    assert refused.history.steps == [] and len(checkpoint_folders(tmp_path)) == 2  # nothing deleted
    make_trainer(checkpoint_dir=str(tmp_path), checkpoint_every=2, n_epochs=1).train(restart=True)  # a shorter run
    # Its own newest checkpoints, not the longer run's higher step numbers, are what resume would find.
    assert [p.name for p in checkpoint_folders(tmp_path)] == ["step-000004", "step-000006"]


def test_a_resume_whose_data_or_batches_changed_is_refused_with_the_fix(tmp_path):
    make_trainer(checkpoint_dir=str(tmp_path), checkpoint_every=2, n_epochs=1).train()
    with pytest.raises(ValueError, match=r"batch_size: 8 then, 4 now.*Resume with the checkpoint's settings"):
        make_trainer(checkpoint_dir=str(tmp_path), n_epochs=1, batch_size=4).train(resume=True)
    fewer = make_trainer(checkpoint_dir=str(tmp_path), n_epochs=1)
    fewer.train_examples = fewer.train_examples[:40]  # the same file name and settings, other data
    with pytest.raises(ValueError, match=r"training questions: 48 then, 40 now"):
        fewer.train(resume=True)
    with pytest.warns(UserWarning, match="learning_rate"):  # a change that does not move the data only warns
        make_trainer(checkpoint_dir=str(tmp_path), n_epochs=1, learning_rate=1e-4).train(resume=True)


def test_a_killed_two_process_run_resumes_to_the_weights_of_an_uninterrupted_one(tmp_path):
    """torchrun, 2 processes, dropout on: each process restores its own random state, not process 0's."""
    import os

    environment = {**os.environ, "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo"}

    def torchrun(out, *args):
        command = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node",
            "2",
            str(WORKER),
            str(out),
            *map(str, args),
        ]
        return subprocess.run(command, capture_output=True, text=True, env=environment, timeout=300)

    # The uninterrupted run, then in the same processes the run that is killed after step 6.
    killed = torchrun(
        tmp_path / "uninterrupted",
        "--checkpoint-dir",
        tmp_path / "c1",
        "--then",
        tmp_path / "killed",
        "--checkpoint-dir",
        tmp_path / "c2",
        "--die-at",
        6,
    )
    assert (tmp_path / "uninterrupted" / "weights.pt").is_file(), killed.stderr[-3000:]
    assert killed.returncode != 0 and latest_checkpoint(tmp_path / "c2").name == "step-000004"
    resumed = torchrun(tmp_path / "resumed", "--checkpoint-dir", tmp_path / "c2", "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    expected = torch.load(tmp_path / "uninterrupted" / "weights.pt")
    for name, weights in torch.load(tmp_path / "resumed" / "weights.pt").items():
        torch.testing.assert_close(weights, expected[name], atol=1e-6, rtol=0, msg=name)


class RunsCode:
    """A pickle that runs code when loaded: what a checkpoint shared on a Drive could hold."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_checkpoint_is_data_that_loads_back_exactly_without_pickle(tmp_path):
    state = {
        "sampler": {"rng": (3, tuple(range(5)), None), "order": [2, 0, 1], "position": 2},  # Python random's state
        "optimizer": {"state": {0: {"step": torch.tensor(3.0), "exp_avg": torch.randn(2, 3)}}, "param_groups": []},
        "best_weights": None,
        "value": float("inf"),
    }
    weight, square = torch.randn(4), torch.randn(3, 3)
    state["twice"] = [weight, weight]  # one tensor under two names is stored once
    state["views"] = [square, square.t(), square[1]]  # views of one storage come back as what they were
    write_state(state, tmp_path)
    back = read_state(tmp_path)
    assert all(torch.equal(got, view) for got, view in zip(back["views"], state["views"]))
    assert back["sampler"] == state["sampler"] and isinstance(back["sampler"]["rng"][1], tuple)
    assert list(back["optimizer"]["state"]) == [0]  # an int key stays an int
    assert torch.equal(back["optimizer"]["state"][0]["exp_avg"], state["optimizer"]["state"][0]["exp_avg"])
    assert back["value"] == float("inf") and torch.equal(back["twice"][1], weight)
    with pytest.raises(TypeError, match="tensors and plain values only, not object"):
        write_state({"bad": object()}, tmp_path)

    make_trainer(checkpoint_dir=str(tmp_path / "run"), checkpoint_every=6, n_epochs=1).train()
    folder = latest_checkpoint(tmp_path / "run")
    assert sorted(p.name for p in folder.iterdir()) == [
        "history.json",
        "model.safetensors",
        "train_config.json",
        "training_state.json",
        "training_state.safetensors",
    ]


def test_a_checkpoint_that_would_run_code_is_refused_and_runs_none(tmp_path):
    trainer = make_trainer(checkpoint_dir=str(tmp_path), checkpoint_every=6, n_epochs=1)
    trainer.train()
    folder = latest_checkpoint(tmp_path)
    # dpr_nb 0.2's layout (pickles), whose training state someone replaced with code.
    torch.save(trainer.model.state_dict(), folder / "model.pt")
    marker = tmp_path / "code-ran"
    torch.save({"step": 6, "payload": RunsCode(marker)}, folder / "training_state.pt")
    for name in ("model.safetensors", "training_state.safetensors", "training_state.json"):
        (folder / name).unlink()
    refused = r"could run code from the file, so it is refused"
    with pytest.raises(checkpoint_files.DamagedCheckpointError, match=refused) as e:
        load_checkpoint(folder, trainer.model, torch.device("cpu"))
    assert not marker.exists()
    assert "(getattr, in a pickle)" in str(e.value)  # what it holds, by name (Path.touch is pickled via getattr)
    assert "weights_only" not in str(e.value) and "\x1b" not in str(e.value)  # not torch's advice to load it anyway


def test_a_checkpoint_of_the_earlier_layout_still_resumes(tmp_path):
    """Checkpoints dpr_nb 0.2 wrote (model.pt, training_state.pt, plain values) resume as before, read safely."""
    make_trainer(checkpoint_dir=str(tmp_path / "new"), checkpoint_every=6, n_epochs=2).train()
    folder = checkpoint_folders(tmp_path / "new")[0]  # step 6 of 12
    old = tmp_path / "old" / folder.name
    old.mkdir(parents=True)
    for name in ("history.json", "train_config.json"):
        (old / name).write_bytes((folder / name).read_bytes())
    torch.save(checkpoint_files.load_weights(folder / "model.safetensors"), old / "model.pt")
    torch.save(read_state(folder), old / "training_state.pt")
    resumed = {}
    for name in ("new", "old"):
        for later in checkpoint_folders(tmp_path / name)[1:]:
            shutil.rmtree(later)  # both resume from step 6
        trainer = make_trainer(checkpoint_dir=str(tmp_path / name), checkpoint_every=6, n_epochs=2)
        trainer.train(resume=True)
        resumed[name] = trainer.model.state_dict()
    assert all(torch.equal(resumed["new"][k], resumed["old"][k]) for k in resumed["new"])


def test_a_resume_that_changes_whether_the_encoders_are_shared_is_refused_with_the_fix(tmp_path):
    make_trainer(checkpoint_dir=str(tmp_path), checkpoint_every=6, n_epochs=2, share_encoders=True).train()
    shutil.rmtree(checkpoint_folders(tmp_path)[-1])  # resume from step 6 of 12
    trainer = make_trainer(checkpoint_dir=str(tmp_path), checkpoint_every=6, n_epochs=2, share_encoders=False)
    with pytest.raises(ValueError, match=r"share_encoders was True and is False now.*Resume with share_encoders=True"):
        trainer.train(resume=True)


@pytest.mark.parametrize("stop_at", [4, 6])
def test_a_stopped_run_keeps_its_model_and_resumes_to_the_weights_of_an_uninterrupted_one(tmp_path, stop_at):
    """request_stop (the dashboard's Stop) at step 4 (mid-epoch) or 6 (an epoch's end) of 12: training ends there as
    at its planned end, with a checkpoint of that step; resuming ends with the weights of a run never stopped."""
    checkpoints = tmp_path / "checkpoints"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        stopped = make_trainer(checkpoint_dir=str(checkpoints), checkpoint_every=100)
        stopped.add_callback("on_step_end", lambda t, record: record["step"] == stop_at and t.request_stop())
        history = stopped.train()
        assert history.stopped_at == stop_at and [s["step"] for s in history.steps] == list(range(1, stop_at + 1))
        assert stopped.weights_step == stop_at and latest_checkpoint(checkpoints).name == f"step-{stop_at:06d}"
        resumed = make_trainer(checkpoint_dir=str(checkpoints), checkpoint_every=100)
        resumed_history = resumed.train(resume=True)
        reference = make_trainer(checkpoint_every=100)
        reference.train()
    finally:
        torch.set_num_threads(threads)
    assert resumed_history.stopped_at is None and [s["step"] for s in resumed_history.steps] == list(range(1, 13))
    weights = resumed.model.state_dict()
    for name, expected in reference.model.state_dict().items():
        torch.testing.assert_close(weights[name], expected, atol=1e-6, rtol=0, msg=name)
