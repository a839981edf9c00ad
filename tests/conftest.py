import json
import os
from pathlib import Path

import pytest
import torch
import transformers

# This worker's share of the cores (the root conftest.py sets the variable; torch may have started before it).
torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", torch.get_num_threads())))

# ../shared sits beside the checkout on developer machines and in CI, never on a user's machine.
SHARED = Path(__file__).resolve().parents[1].parent / "shared"
DPR_SAMPLES = SHARED / "data" / "dpr-samples"
XQUAD = SHARED / "data" / "xquad"
MINILM = SHARED / "models" / "all-MiniLM-L6-v2"

transformers.utils.logging.disable_progress_bar()
os.environ.setdefault("DPR_NB_MODE", "small")


def need(path: Path) -> Path:
    """Skip the calling test, with the reason, when real data from ../shared is absent."""
    if not path.exists():
        pytest.skip(f"{path} is absent (../shared exists on developer machines and in CI only)")
    return path


def execute_notebook(notebook: dict, folder: Path, environment: dict, timeout: int = 900) -> dict:
    """Run a notebook (nbformat's JSON) in a fresh kernel started in `folder` with `environment`, as a learner's
    Jupyter would; return it with its outputs. A failing cell raises nbclient's CellExecutionError, which quotes the
    cell and its traceback. Here rather than through `jupyter nbconvert`: one process fewer to start per notebook."""
    import nbformat
    from nbclient import NotebookClient

    executed = nbformat.reads(json.dumps(notebook), as_version=4)  # joins sources kept as lists of lines
    NotebookClient(
        executed, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(folder)}}
    ).execute(env=environment)
    return executed
