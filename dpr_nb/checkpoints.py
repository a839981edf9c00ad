"""Training checkpoints that survive a Colab disconnect: written whole or not at all, resumed exactly.

    checkpoint_dir/
        step-000500/
            model.pt            both encoders' weights
            training_state.pt   optimizer, scheduler, gradient scaler, random number generators, position in the data
            train_config.json   the run's TrainConfig
            history.json        losses and evaluations so far

Each checkpoint is written to a temporary folder and renamed into place, so a folder named `step-N` is always
complete: a run killed while writing leaves the previous checkpoint as the latest. Resuming restores every state
that decides what happens next (including where in the shuffled epoch training was and the dropout generator), so
the resumed run reaches the same weights as one that was never interrupted.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import torch

from .errors import DamagedCheckpointError
from .files import process_alive

STEP_FOLDER = re.compile(r"^step-(\d+)$")
UNFINISHED = re.compile(r"^\.step-\d+\.tmp-(\d+)$")  # a checkpoint being written, by the process with this id


def checkpoint_folders(checkpoint_dir: str | Path) -> list[Path]:
    """Complete checkpoints, oldest first."""
    folder = Path(checkpoint_dir)
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := STEP_FOLDER.match(p.name)) and p.is_dir()]
    return [path for _, path in sorted(found)]


def latest_checkpoint(checkpoint_dir: str | Path) -> Path | None:
    folders = checkpoint_folders(checkpoint_dir)
    return folders[-1] if folders else None


def checkpoint_bytes(model: torch.nn.Module) -> int:
    """About how many bytes one checkpoint of `model` takes: its float32 weights and AdamW's two moments per weight.

    Three times the model: two BERT-base encoders (220 million weights) make checkpoints of about 2.6 GB, which
    fills a free 15 GB Google Drive in a handful. A weight shared by both encoders is counted once, as it is saved.

    >>> checkpoint_bytes(torch.nn.Linear(10, 10))   # 110 weights x (4 + 8) bytes
    1320
    """
    weights = {id(p): p.numel() for p in model.parameters()}
    return sum(weights.values()) * (4 + 8)


def random_states() -> dict:
    states = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def restore_random_states(states: dict) -> None:
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def save_checkpoint(
    checkpoint_dir: str | Path, step: int, model: torch.nn.Module, training_state: dict, config, history, keep: int = 1
) -> Path:
    """Write checkpoint `step-<step>` atomically, then delete all but the newest `keep` (0 keeps every one)."""
    checkpoint_dir = Path(checkpoint_dir)
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    for path in checkpoint_dir.iterdir():  # what a killed run was writing: never finished, gigabytes each
        if (match := UNFINISHED.match(path.name)) and not process_alive(int(match.group(1))):
            shutil.rmtree(path, ignore_errors=True)
    target = checkpoint_dir / f"step-{step:06d}"
    temporary = checkpoint_dir / f".{target.name}.tmp-{os.getpid()}"
    shutil.rmtree(temporary, ignore_errors=True)
    temporary.mkdir()
    torch.save(model.state_dict(), temporary / "model.pt")
    torch.save({**training_state, "step": step, "random_states": random_states()}, temporary / "training_state.pt")
    config.save(temporary / "train_config.json")
    history.save(temporary / "history.json")
    if target.exists():  # the same step written again (a resumed run that stopped at a checkpoint)
        shutil.rmtree(target)
    os.replace(temporary, target)
    for old in checkpoint_folders(checkpoint_dir)[:-keep] if keep else []:
        shutil.rmtree(old, ignore_errors=True)
    return target


def load_checkpoint(folder: str | Path, model: torch.nn.Module, device: torch.device) -> tuple[dict, dict]:
    """Load the weights into `model`; return (training state, history dict) for the trainer to restore."""
    folder = Path(folder)
    try:
        model.load_state_dict(torch.load(folder / "model.pt", map_location=device, weights_only=True))
        state = torch.load(folder / "training_state.pt", map_location="cpu", weights_only=False)
        history = json.loads((folder / "history.json").read_text(encoding="utf-8"))
    except Exception as e:  # torch raises many kinds here: RuntimeError, UnpicklingError, EOFError, ...
        # torch's own message may suggest weights_only=False, which would run code from the file: not repeated here.
        reason = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
        raise DamagedCheckpointError(
            f"Cannot resume from {folder}: it is damaged or incomplete ({type(e).__name__}: "
            f"{reason}). Delete this folder to resume from the checkpoint before it, or "
            "train without resume."
        ) from None
    return state, history
