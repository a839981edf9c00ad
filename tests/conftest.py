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
