import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from training_worker import make_trainer

from dpr_nb.checkpoints import checkpoint_folders, latest_checkpoint

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
    killed = run_worker(tmp_path / "killed", "--checkpoint-dir", checkpoints, "--checkpoint-every", every,
                        "--die-at", die_at)
    assert killed.returncode == -9, killed.stderr  # SIGKILL: no chance to clean up
    assert latest_checkpoint(checkpoints).name == f"step-{resumed_from:06d}"
    assert not (tmp_path / "killed").exists()
    resumed = run_worker(tmp_path / "resumed", "--checkpoint-dir", checkpoints, "--checkpoint-every", every,
                         "--resume")
    assert resumed.returncode == 0, resumed.stderr

    # The workers compute on one thread; so does the reference, since float sums depend on how work is split.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        reference = make_trainer(checkpoint_every=every)
        history = reference.train()
    finally:
        torch.set_num_threads(threads)
    weights = torch.load(tmp_path / "resumed" / "weights.pt")
    for name, expected in reference.model.state_dict().items():
        torch.testing.assert_close(weights[name], expected, atol=1e-6, rtol=0, msg=name)
    resumed_history = json.loads((tmp_path / "resumed" / "history.json").read_text())
    assert [s["loss"] for s in resumed_history["steps"]] == pytest.approx([s["loss"] for s in history.steps])
    assert [s["step"] for s in resumed_history["steps"]] == list(range(1, 13))
    # The newest two checkpoints are kept; the last one is the end of training.
    assert [p.name for p in checkpoint_folders(checkpoints)][-1] == "step-000012"
    assert len(checkpoint_folders(checkpoints)) == 2


def test_checkpoint_is_never_half_written(tmp_path, monkeypatch):
    trainer = make_trainer(checkpoint_dir=str(tmp_path), checkpoint_every=2, n_epochs=1)
    original = torch.save
    calls = []

    def failing_save(obj, path, *args, **kwargs):
        calls.append(path)
        if len(calls) == 4:  # the second checkpoint's training state: as if the disk filled up
            raise OSError("No space left on device")
        return original(obj, path, *args, **kwargs)

    monkeypatch.setattr(torch, "save", failing_save)
    with pytest.raises(OSError):
        trainer.train()
    assert [p.name for p in checkpoint_folders(tmp_path)] == ["step-000002"]  # the failed step-4 never appears
    assert latest_checkpoint(tmp_path).joinpath("training_state.pt").is_file()


def test_resume_without_a_checkpoint_warns_and_starts_over(tmp_path):
    trainer = make_trainer(checkpoint_dir=str(tmp_path / "none-yet"), n_epochs=1)
    with pytest.warns(UserWarning, match="no checkpoint"):
        history = trainer.train(resume=True)
    assert history.steps[0]["step"] == 1


def test_a_fresh_run_replaces_an_earlier_runs_checkpoints(tmp_path):
    make_trainer(checkpoint_dir=str(tmp_path), checkpoint_every=2, n_epochs=2).train()  # steps 2..12, keeps 2
    assert [p.name for p in checkpoint_folders(tmp_path)] == ["step-000010", "step-000012"]
    with pytest.warns(UserWarning, match="earlier run's checkpoints"):
        make_trainer(checkpoint_dir=str(tmp_path), checkpoint_every=2, n_epochs=1).train()  # a shorter run
    # Its own newest checkpoints, not the longer run's higher step numbers, are what resume would find.
    assert [p.name for p in checkpoint_folders(tmp_path)] == ["step-000004", "step-000006"]
