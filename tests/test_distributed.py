import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from training_worker import make_trainer

WORKER = Path(__file__).with_name("training_worker.py")


@pytest.fixture(scope="module")
def two_process_runs(tmp_path_factory):
    """torchrun, 2 processes on the CPU (gloo), 4 questions each, trained with the whole batch and then (in the same
    processes) in chunks of 3: each run's OUT/weights.pt and OUT/history.json, by chunk."""
    out = tmp_path_factory.mktemp("two-processes")
    same = ["--no-dropout", "--epsilon", "1"]
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(WORKER)]
    command += [str(out / "None"), *same, "--then", str(out / "3"), *same, "--chunk", "3"]
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo"}
    finished = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=300)
    assert finished.returncode == 0, finished.stderr[-3000:]
    return out


@pytest.mark.parametrize("chunk", [None, 3])
def test_two_processes_train_like_one_with_the_combined_batch(two_process_runs, chunk):
    """The loss of every step and the final weights of the two processes equal one process training on the 8
    questions together (dropout off: the processes draw other masks)."""
    run = two_process_runs / str(chunk)
    # Adam's epsilon is raised in both runs so that gradients equal to rounding give updates equal to rounding.
    reference = make_trainer(dropout=False, epsilon=1.0)
    history = reference.train()
    distributed = json.loads((run / "history.json").read_text())
    assert [s["loss"] for s in distributed["steps"]] == pytest.approx([s["loss"] for s in history.steps], abs=1e-5)
    weights = torch.load(run / "weights.pt")
    for name, expected in reference.model.state_dict().items():
        torch.testing.assert_close(weights[name], expected, atol=1e-5, rtol=1e-4, msg=name)


def test_train_command_runs_under_torchrun(tmp_path):
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "dpr_nb.cli",
        "train",
        "--set",
        f"save_dir={tmp_path / 'model'}",
        "--set",
        "max_samples=32",
        "--set",
        "batch_size=8",
        "--set",
        "n_epochs=1",
    ]
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo"}
    finished = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=300)
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert finished.stdout.count("Saved to") == 1  # process 0 reports and saves; process 1 stays quiet
    assert "2 process(es)" in finished.stdout
    history = json.loads((tmp_path / "model" / "history.json").read_text())
    assert [s["step"] for s in history["steps"]] == [1, 2, 3, 4]  # batch 8 = 4 questions in each process


GROUP_SCRIPT = """
import atexit, os, sys
import torch
import torch.distributed as dist
sys.path.insert(0, {checkout!r})
from dpr_nb.training.distributed import current_group, gather_with_grad

def report():  # registered first, so it runs after the package's own exit handler
    rank = os.environ["RANK"]
    open(os.path.join({out!r}, "rank" + rank), "w").write(str(dist.is_initialized()))

atexit.register(report)
group = current_group()
gather_with_grad(torch.ones(2, 3, requires_grad=True), group)
if group.rank == 0 and {fail}:
    raise RuntimeError("a failed step")
"""


@pytest.mark.parametrize("fail", [False, True])
def test_the_group_is_destroyed_at_a_clean_exit_and_left_after_a_failure(tmp_path, fail):
    """A gloo group left to Python's teardown can abort a finished process ("terminate called without an active
    exception"), so a clean exit destroys it first; after a failure, destroying it could wait forever for processes
    still in a collective. The script's own exit handler, registered earlier, runs later and sees which it was."""
    script = tmp_path / "group.py"
    checkout = str(Path(__file__).resolve().parents[1])
    script.write_text(GROUP_SCRIPT.format(checkout=checkout, out=str(tmp_path), fail=fail))
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(script)]
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo"}
    finished = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=120)
    if fail:
        assert finished.returncode != 0 and "a failed step" in finished.stderr
        assert (tmp_path / "rank0").read_text() == "True"  # left alone: the other process may be in a collective
    else:
        assert finished.returncode == 0, finished.stderr[-3000:]
        assert (tmp_path / "rank0").read_text() == (tmp_path / "rank1").read_text() == "False"
