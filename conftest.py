"""nbval settings for the notebooks (CI runs them with `--nbval-lax --nbval-current-env`).

Here at the root, not in notebooks/: the tests do `from conftest import ...`, which finds whichever conftest module
pytest loaded last, and a notebooks/conftest.py would be that one."""

# After a cell's execute_reply, nbval waits for each further output message (widget updates, the final "idle") with a
# hard-coded 5-second timeout (computationalmodelling/nbval#136, #231). On a busy 2-core CI machine the kernel can take
# longer than that to flush a training cell's dashboard updates, which failed a cell that had run correctly. The
# cell's own run time stays bounded by `--nbval-cell-timeout`; this only stops a slow flush from being a failure.
OUTPUT_TIMEOUT_SECONDS = 120


def pytest_runtest_setup(item):
    if hasattr(item, "output_timeout"):
        item.output_timeout = OUTPUT_TIMEOUT_SECONDS
