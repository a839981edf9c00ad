"""Sweeps: planning, cost before launch, a sweep killed mid-run that continues where it stopped, and two workers
sharing one sweep through claims."""

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from dpr_nb import TrainConfig
from dpr_nb.training.runs import INTERRUPTED, load_run, train_run
from dpr_nb.training.sweeps import claim_file, claim_run, estimate_cost, plan_sweep, run_sweep, sweep_points

ROOT = Path(__file__).resolve().parents[1]
BASE = TrainConfig.preset(
    "smoke", max_samples=16, batch_size=8, n_epochs=2, num_warmup_steps=0, save_dir=None, device="cpu"
)
SPACE = {"learning_rate": [1e-4, 5e-4, 1e-3]}


def test_points_grid_random_and_listed():
    space = {"batch_size": [4, 16], "num_hard_negatives": [0, 1, 2]}
    grid = sweep_points(space)
    assert len(grid) == 6 and grid[0] == {"batch_size": 4, "num_hard_negatives": 0}
    drawn = sweep_points(space, "random", samples=3, sample_seed=1)
    assert len(drawn) == 3 and all(point in grid for point in drawn)
    assert drawn == sweep_points(space, "random", samples=3, sample_seed=1)  # the same draw again
    assert [grid.index(p) for p in drawn] == sorted(grid.index(p) for p in drawn)  # in grid order
    listed = [{"batch_size": 32}, {"batch_size": 8, "grad_acc_steps": 4}]
    assert sweep_points(listed) == listed
    with pytest.raises(ValueError, match="mode='random' needs samples=N"):
        sweep_points(space, "random")


def test_plan_has_every_point_with_every_seed_and_refuses_bad_input():
    plan = plan_sweep(BASE, {"batch_size": [4, 16]}, seeds=[0, 1])
    assert [name for name, _, _ in plan] == [
        "batch_size=4,seed=0",
        "batch_size=4,seed=1",
        "batch_size=16,seed=0",
        "batch_size=16,seed=1",
    ]
    assert plan[3][1] == BASE.replace(batch_size=16, seed=1) and plan[3][2] == {"batch_size": 16, "seed": 1}
    with pytest.raises(ValueError, match="'batchsize' is not a TrainConfig field; did you mean 'batch_size'"):
        plan_sweep(BASE, {"batchsize": [4]})
    with pytest.raises(ValueError, match=r"point \{'batch_size': 0\}: .*batch_size=0 must be at least 1"):
        plan_sweep(BASE, {"batch_size": [0]})
    with pytest.raises(ValueError, match="space\\['batch_size'\\] = 4: give a non-empty list"):
        plan_sweep(BASE, {"batch_size": 4})
    with pytest.raises(ValueError, match="seeds=\\[...\\], not as a setting"):
        plan_sweep(BASE, {"seed": [0, 1]})


def test_cost_is_estimated_from_timed_steps_and_shared_by_runs_that_cost_the_same(tmp_path):
    plan = plan_sweep(BASE, {"learning_rate": [1e-4, 1e-3], "batch_size": [4, 8]}, seeds=[0])
    cost = estimate_cost(plan, probe_steps=2)
    # 16 questions, 2 epochs: batch 4 -> 4 steps an epoch, 8 in all; batch 8 -> 4 in all. Dev at the end, test once.
    assert cost.loc["learning_rate=0.0001,batch_size=4,seed=0", "steps"] == 8
    assert cost.loc["learning_rate=0.0001,batch_size=8,seed=0", "steps"] == 4
    assert (cost["evaluations"] == 2).all()
    # the learning rate does not change a step's cost: one probe for both
    rate = cost["seconds_per_step"]
    assert rate["learning_rate=0.0001,batch_size=4,seed=0"] == rate["learning_rate=0.001,batch_size=4,seed=0"]
    assert cost.attrs["total_seconds"] == pytest.approx(cost["estimated_seconds"].sum())
    with pytest.warns(UserWarning, match="more than time_budget=0.001 s"):
        run_sweep(tmp_path, BASE, {"batch_size": [8]}, time_budget=1e-3, log=None)


def test_a_run_of_max_steps_is_costed_at_them_and_probed_for_a_few(monkeypatch):
    """The probe times probe_steps steps (after one warm-up), whatever the run's max_steps: a probe that trained the
    run's 30 steps made 04_explore's cost cell take 12 minutes on a CPU."""
    from dpr_nb.training import sweeps
    from dpr_nb.training.trainer import Trainer

    trained = []

    class Counting(Trainer):
        def train(self, *args, **kwargs):
            history = super().train(*args, **kwargs)
            trained.append(len(history.steps))
            return history

    monkeypatch.setattr(sweeps, "Trainer", Counting)
    cost = estimate_cost(plan_sweep(BASE.replace(max_steps=50), {"batch_size": [4]}, seeds=[0]), probe_steps=2)
    assert trained == [3] and cost["steps"].tolist() == [50]


CHILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from dpr_nb import TrainConfig
    from dpr_nb.training.sweeps import run_sweep

    runs_dir, marker = Path(sys.argv[1]), Path(sys.argv[2])
    base = TrainConfig.from_dict(__import__("json").loads(sys.argv[3]))

    def pause(trainer, record):  # the second run waits after its first step, to be killed there
        if trainer.config.learning_rate == 5e-4 and record["step"] == 1:
            marker.write_text("paused")
            time.sleep(120)

    run_sweep(runs_dir, base, {"learning_rate": [1e-4, 5e-4, 1e-3]}, callbacks={"on_step_end": pause})
    """
)


def test_a_killed_sweep_continues_where_it_stopped(tmp_path):
    runs_dir, marker = tmp_path / "sweep", tmp_path / "paused"
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    child = subprocess.Popen(
        [sys.executable, str(script), str(runs_dir), str(marker), json.dumps(BASE.to_dict())],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert child.poll() is None, child.stderr.read().decode()
            assert time.monotonic() < deadline, "the child sweep never reached its second run"
            time.sleep(0.1)
    finally:
        child.kill()  # SIGKILL: no handler runs, as when a notebook's kernel dies
        child.wait()
        child.stderr.close()
    first, second, third = "learning_rate=0.0001,seed=0", "learning_rate=0.0005,seed=0", "learning_rate=0.001,seed=0"
    assert load_run(runs_dir / first).status == "finished"
    assert load_run(runs_dir / second).status == INTERRUPTED
    assert not (runs_dir / third).exists()
    started = load_run(runs_dir / first).info["started"]

    lines = []
    table = run_sweep(runs_dir, BASE, SPACE, log=lines.append)
    assert lines[0].startswith("1 of 3 runs already finished")
    assert [line.split(":")[0] for line in lines[1:]] == [f"[2/3] {second}", f"[3/3] {third}"]
    assert list(table.index) == [first, second, third] and set(table["status"]) == {"finished"}
    assert load_run(runs_dir / first).info["started"] == started  # skipped, not trained again
    # The interrupted run was trained again from its start: the same steps as an uninterrupted run.
    alone = train_run(BASE.replace(learning_rate=5e-4, seed=0), tmp_path / "alone", name="alone")
    assert [s["loss"] for s in load_run(runs_dir / second).history.steps] == [s["loss"] for s in alone.history.steps]
    assert load_run(runs_dir / second).reports == alone.reports

    with pytest.raises(ValueError, match="holds another sweep \\(differing: space\\)"):
        run_sweep(runs_dir, BASE, {"learning_rate": [1e-4]})
    with pytest.raises(ValueError, match="differing: base batch_size"):
        run_sweep(runs_dir, BASE.replace(batch_size=4), SPACE)


WORKER = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from dpr_nb import TrainConfig
    from dpr_nb.training.sweeps import run_sweep

    runs_dir, trained, pause_at = Path(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[4])
    base = TrainConfig.from_dict(__import__("json").loads(sys.argv[3]))

    def started(trainer):  # every training that starts, and in which process
        with open(trained, "a") as out:
            out.write(f"{os.getpid()} {trainer.config.learning_rate}\\n")

    def slow(trainer, record):  # runs long enough for two workers to overlap; one may stop to be killed
        time.sleep(0.3)
        if trainer.config.learning_rate == pause_at:
            (runs_dir / "paused").write_text("paused")
            time.sleep(120)

    run_sweep(runs_dir, base, {"learning_rate": [1e-4, 5e-4, 1e-3, 2e-3]},
              callbacks={"on_train_start": started, "on_step_end": slow})
    """
)


def test_two_workers_share_a_sweep_and_a_killed_ones_claim_is_taken_over(tmp_path):
    """Worker A trains the first run and is killed in the second; worker B, started meanwhile, skips A's claimed run
    and trains the others; the sweep run again here takes over the dead worker's claim. No run is trained twice but
    the one whose worker died, and no claim is left behind."""
    runs_dir, trained, script = tmp_path / "sweep", tmp_path / "trained.txt", tmp_path / "worker.py"
    script.write_text(WORKER)

    def worker(pause_at):
        arguments = [str(runs_dir), str(trained), json.dumps(BASE.to_dict()), str(pause_at)]
        return subprocess.Popen([sys.executable, str(script), *arguments], cwd=ROOT, stdout=subprocess.PIPE, text=True)

    a = worker(pause_at=5e-4)
    try:
        deadline = time.monotonic() + 120
        while not (runs_dir / "paused").exists():
            assert a.poll() is None and time.monotonic() < deadline, "worker A never reached its second run"
            time.sleep(0.1)
        b = worker(pause_at=-1)
        said, _ = b.communicate(timeout=180)
        assert b.returncode == 0, said
    finally:
        a.kill()  # SIGKILL, in its second run: its claim stays behind
        a.wait()
    first, second = "learning_rate=0.0001,seed=0", "learning_rate=0.0005,seed=0"
    assert f"{second}: another worker trains it ({a.pid}@" in said
    assert claim_file(runs_dir, second).exists() and load_run(runs_dir / second).status == INTERRUPTED

    table = run_sweep(runs_dir, BASE, {"learning_rate": [1e-4, 5e-4, 1e-3, 2e-3]}, log=None)
    assert set(table["status"]) == {"finished"} and len(table) == 4
    lines = [line.split() for line in trained.read_text().splitlines()]
    by_rate = {rate: [int(pid) for pid, r in lines if float(r) == rate] for rate in (1e-4, 5e-4, 1e-3, 2e-3)}
    assert by_rate[1e-4] == [a.pid] and by_rate[1e-3] == [b.pid] and by_rate[2e-3] == [b.pid]
    assert by_rate[5e-4] == [a.pid]  # started by A, killed; trained again here (without the logging callback)
    assert load_run(runs_dir / second).info["pid"] == os.getpid() and load_run(runs_dir / first).info["pid"] == a.pid
    assert not list(runs_dir.glob(".*.claim"))


def test_a_claim_is_taken_over_by_rule(tmp_path):
    """Another host's claim is taken over only once its heartbeat is older than the timeout; a live process's of
    this host never; a dead one's at once."""
    import socket

    claim = tmp_path / ".run.claim"
    claim.write_text("4242@another-machine")
    assert claim_run(claim, timeout=600) == "4242@another-machine"  # fresh: that worker may be training
    os.utime(claim, (time.time() - 601, time.time() - 601))
    assert claim_run(claim, timeout=600) == "" and claim.read_text() == f"{os.getpid()}@{socket.gethostname()}"
    claim.write_text(f"{os.getppid()}@{socket.gethostname()}")  # this machine, alive: never
    os.utime(claim, (time.time() - 10**6, time.time() - 10**6))
    assert claim_run(claim, timeout=600) == f"{os.getppid()}@{socket.gethostname()}"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    claim.write_text(f"{dead.stdout.strip()}@{socket.gethostname()}")
    assert claim_run(claim, timeout=600) == ""


def test_runs_of_one_name_in_two_sweeps_are_two_rows_and_one_plan_may_not_repeat_a_name(tmp_path):
    """Batch 32 is a point of a caching sweep and of a batch-size sweep: two runs, one name. Keyed by name, the
    comparison and the cost table kept one of them (two sweeps of 2 seeds gave 4 runs loaded, 2 rows)."""
    from dpr_nb.training.runs import compare, load_runs

    for sweep, dropout in (("caching", 0.0), ("batch_size", 0.1)):
        run_sweep(tmp_path / sweep, BASE.replace(dropout=dropout, n_epochs=1), {"batch_size": [8]}, log=None)
    runs = load_runs(tmp_path)
    table = compare(runs)
    assert len(runs) == len(table) == 2
    # Runs are listed by start time, and two runs started in one second by folder: compare as a mapping.
    assert table["dropout"].to_dict() == {"caching/batch_size=8,seed=0": 0.0, "batch_size/batch_size=8,seed=0": 0.1}
    with pytest.warns(UserWarning, match="given more than once"):
        assert len(compare([runs[0], runs[0]])) == 1

    plans = {sweep: plan_sweep(BASE, {"batch_size": [8]}, seeds=[0]) for sweep in ("caching", "batch_size")}
    cost = estimate_cost(plans, probe_steps=1)
    assert list(cost.index) == ["caching/batch_size=8,seed=0", "batch_size/batch_size=8,seed=0"]
    with pytest.raises(ValueError, match=r"runs of the same name \(batch_size=8,seed=0\)"):
        estimate_cost([run for plan in plans.values() for run in plan], probe_steps=1)
    with pytest.raises(ValueError, match=r"two points of the sweep make runs of the same name"):
        plan_sweep(BASE, [{"batch_size": 8}, {"batch_size": 8}])


def test_a_run_stopped_by_the_dashboard_stops_the_sweep_and_is_trained_again_in_full(tmp_path):
    lines = []
    stop_once = [True]

    def stop(trainer, record):  # the dashboard's Stop, clicked once during the sweep's second run
        if trainer.config.learning_rate == 5e-4 and stop_once[0]:
            stop_once[0] = False
            trainer.request_stop()

    run_sweep(tmp_path, BASE, SPACE, callbacks={"on_step_end": stop}, log=lines.append)
    first, second, third = "learning_rate=0.0001,seed=0", "learning_rate=0.0005,seed=0", "learning_rate=0.001,seed=0"
    assert lines[-1] == f"[2/3] {second}: stopped at step 1. Run the same sweep again to continue it."
    assert load_run(tmp_path / second).status == "stopped" and not (tmp_path / third).exists()
    table = run_sweep(tmp_path, BASE, SPACE, log=lines.append)
    assert set(table["status"]) == {"finished"}
    assert len(load_run(tmp_path / second).history.steps) == len(load_run(tmp_path / first).history.steps)
