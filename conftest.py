"""nbval settings for the notebooks (CI runs them with `--nbval-lax --nbval-current-env`).

Here at the root, not in notebooks/: the tests do `from conftest import ...`, which finds whichever conftest module
pytest loaded last, and a notebooks/conftest.py would be that one."""

import os

# Each pytest-xdist worker (and the notebooks' kernels and the commands it starts, which inherit the variable) gets its
# share of the cores: two workers each taking both cores of a 2-core machine thrash, and run slower than one. Only in
# a worker: the controlling process's environment is what the workers start with, so a value set there would pass
# for the user's own in every worker (one run took three times as long that way).
if "PYTEST_XDIST_WORKER" in os.environ:
    _WORKERS = int(os.environ["PYTEST_XDIST_WORKER_COUNT"])
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // _WORKERS)))

# The slowest files first, in this order: the workers take files in collection order, and a slow file taken last
# leaves the other workers idle while it runs (their times are in every run's --durations table).
SLOW_FIRST = (
    "tests/test_rehearsal.py",
    "tests/test_cpu_lesson.py",
    "notebooks/00_quickstart.ipynb",
    "notebooks/04_explore.ipynb",
    "tests/test_checkpoints.py",
    "tests/test_precision.py",
)

# After a cell's execute_reply, nbval waits for each further output message (widget updates, the final "idle") with a
# hard-coded 5-second timeout (computationalmodelling/nbval#136, #231). On a busy 2-core CI machine the kernel can take
# longer than that to flush a training cell's dashboard updates, which failed a cell that had run correctly. The
# cell's own run time stays bounded by `--nbval-cell-timeout`; this only stops a slow flush from being a failure.
OUTPUT_TIMEOUT_SECONDS = 120


def pytest_runtest_setup(item):
    if hasattr(item, "output_timeout"):
        item.output_timeout = OUTPUT_TIMEOUT_SECONDS


def pytest_collection_modifyitems(session, config, items):
    # A stable sort: the tests of a file, and a notebook's cells, keep their order.
    def rank(item) -> int:
        path = item.nodeid.split("::")[0]
        return SLOW_FIRST.index(path) if path in SLOW_FIRST else len(SLOW_FIRST)

    items.sort(key=rank)
