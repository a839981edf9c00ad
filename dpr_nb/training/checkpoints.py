"""Training checkpoints that survive a Colab disconnect: written whole or not at all, resumed exactly.

    checkpoint_dir/
        step-000500/
            model.safetensors           both encoders' weights at this step (a weight they share, once)
            training_state.safetensors  the training state's tensors: AdamW's moments, the best weights so far,
                                        the random number generators
            training_state.json         the rest of it: the position in the data, the scheduler, the gradient
                                        scaler, early stopping's count, with each tensor named
            train_config.json           the run's TrainConfig
            history.json                losses and evaluations so far

Each checkpoint is written to a temporary folder and renamed into place, so a folder named `step-N` is always
complete: a run killed while writing leaves the previous checkpoint as the latest. Resuming restores every state
that decides what happens next (including where in the shuffled epoch training was and the dropout generator), so
the resumed run reaches the same weights as one that was never interrupted.

The trainer calls one part, `Checkpointing`: it writes a checkpoint of the training state every checkpoint_every
steps, and resumes from the newest, comparing the run's settings with the checkpoint's (a change that would make its
place in the data index other data is refused; other changes warn). The functions before it read and write the files.

Nothing in a checkpoint is a pickle: a checkpoint folder shared on a Drive or downloaded from elsewhere is data,
and loading it runs no code from it. Checkpoints of dpr_nb 0.2 (model.pt, training_state.pt) are read with torch's
`weights_only=True`, which refuses anything but tensors and plain values.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import shutil
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from ..core.config import TrainConfig
from ..core.errors import DamagedCheckpointError, SettingsError
from ..core.files import process_alive
from ..data.dpr_file import BatchSampler
from .distributed import ProcessGroup, gather_objects
from .history import History

WEIGHTS, STATE_TENSORS, STATE = "model.safetensors", "training_state.safetensors", "training_state.json"
OLD_WEIGHTS, OLD_STATE = "model.pt", "training_state.pt"  # dpr_nb 0.2's pickles, read with weights_only=True
# How training_state.json marks what JSON cannot hold: a tensor (by its name in the safetensors file), a tuple (Python
# random's state must be one), a dict whose keys are not strings (the optimizer's state, by parameter number).
TENSOR, TUPLE, ITEMS = "__tensor__", "__tuple__", "__items__"
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
    save_weights(model, temporary / WEIGHTS)
    write_state({**training_state, "step": step, "random_states": random_states()}, temporary)
    config.save(temporary / "train_config.json")
    history.save(temporary / "history.json")
    if target.exists():  # the same step written again (a resumed run that stopped at a checkpoint)
        shutil.rmtree(target)
    os.replace(temporary, target)
    for old in checkpoint_folders(checkpoint_dir)[:-keep] if keep else []:
        shutil.rmtree(old, ignore_errors=True)
    return target


def storage_identity(tensor: torch.Tensor) -> tuple:
    """What makes two tensors the same: the same memory, seen the same way. The weights of one encoder in both roles
    are one tensor under two names; a transposed view of a weight is another tensor over the same memory."""
    storage = (tensor.device, tensor.untyped_storage().data_ptr(), tensor.storage_offset())
    return (*storage, tensor.shape, tensor.stride(), tensor.dtype)


def _encode(value, tensors: dict[str, torch.Tensor], names: dict) -> object:
    """`value` as JSON, its tensors moved into `tensors` under the names it refers to them by."""
    if isinstance(value, torch.Tensor):
        # The same tensor under two names (the weights of a shared encoder) is stored once; a copy each, so that no
        # two stored tensors share memory (safetensors refuses that, and a view would come back as its base).
        identity = storage_identity(value)
        if identity not in names:
            names[identity] = f"tensor-{len(tensors)}"
            tensors[names[identity]] = value.detach().to("cpu", copy=True).contiguous()
        return {TENSOR: names[identity]}
    if isinstance(value, dict):
        if all(isinstance(key, str) for key in value):
            return {key: _encode(item, tensors, names) for key, item in value.items()}
        return {ITEMS: [[_encode(key, tensors, names), _encode(item, tensors, names)] for key, item in value.items()]}
    if isinstance(value, tuple):
        return {TUPLE: [_encode(item, tensors, names) for item in value]}
    if isinstance(value, list):
        return [_encode(item, tensors, names) for item in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"A checkpoint holds tensors and plain values only, not {type(value).__name__}: {value!r:.80}")


def _decode(value, tensors: dict[str, torch.Tensor]) -> object:
    if isinstance(value, list):
        return [_decode(item, tensors) for item in value]
    if not isinstance(value, dict):
        return value
    if TENSOR in value:
        return tensors[value[TENSOR]]
    if TUPLE in value:
        return tuple(_decode(item, tensors) for item in value[TUPLE])
    if ITEMS in value:
        return {_decode(key, tensors): _decode(item, tensors) for key, item in value[ITEMS]}
    return {key: _decode(item, tensors) for key, item in value.items()}


def save_weights(model: torch.nn.Module, path: Path) -> None:
    """The model's state dict as safetensors, each tensor under its name; a weight that two names share (one encoder
    for questions and passages) is stored once, under its first name, and the file's metadata names the others."""
    tensors, first_name, same_as = {}, {}, {}
    for name, tensor in model.state_dict().items():
        identity = storage_identity(tensor)
        if identity in first_name:
            same_as[name] = first_name[identity]
        else:
            first_name[identity], tensors[name] = name, tensor.detach().to("cpu", copy=True).contiguous()
    save_file(tensors, str(path), metadata={"same_as": json.dumps(same_as)})


def load_weights(path: Path, device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
    """The state dict save_weights wrote, every name present: it loads into one shared encoder or two."""
    tensors = load_file(str(path), device=str(device))
    with safe_open(str(path), framework="pt") as f:
        same_as = json.loads((f.metadata() or {}).get("same_as", "{}"))
    return {**tensors, **{name: tensors[first] for name, first in same_as.items()}}


def write_state(state: dict, folder: Path) -> None:
    """The training state as safetensors (its tensors) and JSON (the rest): data a loader never executes."""
    tensors: dict[str, torch.Tensor] = {}
    encoded = _encode(state, tensors, {})
    save_file(tensors, str(folder / STATE_TENSORS))
    (folder / STATE).write_text(json.dumps(encoded) + "\n", encoding="utf-8")


def read_state(folder: Path) -> dict:
    return _decode(json.loads((folder / STATE).read_text(encoding="utf-8")), load_file(str(folder / STATE_TENSORS)))


def load_checkpoint(folder: str | Path, model: torch.nn.Module, device: torch.device) -> tuple[dict, dict]:
    """Load the weights into `model`; return (training state, history dict) for the trainer to restore."""
    folder = Path(folder)
    try:
        if (folder / WEIGHTS).is_file() or not (folder / OLD_WEIGHTS).is_file():
            model.load_state_dict(load_weights(folder / WEIGHTS, device))
            state = read_state(folder)
        else:  # dpr_nb 0.2's pickles: torch's restricted unpickler loads tensors and plain values, nothing else
            model.load_state_dict(torch.load(folder / OLD_WEIGHTS, map_location=device, weights_only=True))
            state = torch.load(folder / OLD_STATE, map_location="cpu", weights_only=True)
        history = json.loads((folder / "history.json").read_text(encoding="utf-8"))
    except pickle.UnpicklingError as e:
        # Only the name of what it holds: torch's own message goes on to say how to load it anyway, which would run it.
        found = re.search(r"Unsupported global: (?:GLOBAL )?([\w.]+)", str(e))
        what = f"{found.group(1).removeprefix('builtins.')}, " if found else ""  # torch 2.4 names builtins so
        raise DamagedCheckpointError(
            f"Cannot resume from {folder}: it holds Python objects other than tensors and plain values ({what}in "
            "a pickle), and loading those could run code from the file, so it is refused. Resume only from "
            "checkpoints dpr_nb wrote; delete this folder, or train without resume."
        ) from None
    except Exception as e:  # torch and safetensors raise many kinds here: RuntimeError, SafetensorError, EOFError, ...
        # torch's own message may suggest weights_only=False, which would run code from the file: not repeated here.
        reason = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
        raise DamagedCheckpointError(
            f"Cannot resume from {folder}: it is damaged or incomplete ({type(e).__name__}: "
            f"{reason}). Delete this folder to resume from the checkpoint before it, or "
            "train without resume."
        ) from None
    return state, history


# -----------------------------------------------------------------------------------------------------------------
# A run's checkpoints: what the trainer calls

# Settings a resumed run may change without changing what it computes.
RESUMABLE_CHANGES = {
    "evaluate_every",
    "eval_batch_size",
    "save_dir",
    "checkpoint_dir",
    "checkpoint_every",
    "checkpoints_to_keep",
    "device",
    "dev_filename",
    "test_filename",
}
# Settings that decide which questions each step reads: a checkpoint's position in the shuffled data means nothing
# under other ones, so a resume that changes them is refused. (More n_epochs is allowed: it trains on, with a warning.)
DATA_SETTINGS = (
    "data_dir",
    "train_filename",
    "max_samples",
    "dev_split",
    "seed",
    "batch_size",
    "grad_acc_steps",
    "num_positives",
    "num_hard_negatives",
)


def checkpoints_to_replace(checkpoint_dir: str | None, resume: bool, restart: bool) -> list[Path]:
    """An earlier run's checkpoints that a run may replace; a SettingsError with the fix where it may not."""
    earlier = checkpoint_folders(checkpoint_dir) if checkpoint_dir else []
    if resume and not earlier:
        raise SettingsError(
            f"resume=True, but checkpoint_dir={checkpoint_dir!r} holds no checkpoint to continue "
            "from. Train without resume (--resume) to start the run."
        )
    if earlier and not resume and not restart:
        raise SettingsError(
            f"checkpoint_dir={checkpoint_dir!r} holds an earlier run's checkpoints (newest "
            f"{earlier[-1].name}). Continue that run with resume=True (--resume), choose another "
            "checkpoint_dir, or pass restart=True (--restart) to replace them with this run's."
        )
    return [] if resume else earlier


class Checkpointing:
    """A run's checkpoints in config.checkpoint_dir: written every checkpoint_every steps, and resumed exactly.

    Besides the weights and the history, a checkpoint holds everything that decides the next step: AdamW's moments,
    the learning rate schedule, the fp16 gradient scaler, the place in the shuffled data (the sampler), the best
    weights and early stopping's count, and every process's random generators (dropout). Restoring all of them is
    what makes a resumed run reach the weights of one never interrupted.

    `replaces` are an earlier run's checkpoints (checkpoints_to_replace), deleted once this run has written its first.
    `best_weights` is the run's dpr_nb.training.best_weights.BestWeights (which imports this module, so it is not
    imported here): any object with state_dict() and load_state_dict(state, best).
    """

    def __init__(
        self,
        config: TrainConfig,
        group: ProcessGroup,
        *,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        scheduler: torch.optim.lr_scheduler.LRScheduler,
        scaler: torch.amp.GradScaler | None,
        sampler: BatchSampler,
        best_weights,
        train_questions: int,
        replaces: list[Path] | None = None,
    ):
        self.config, self.group, self.model = config, group, model
        self.optimizer, self.scheduler, self.scaler, self.sampler = optimizer, scheduler, scaler, sampler
        self.best_weights, self.train_questions = best_weights, train_questions
        self.replaces = list(replaces or [])

    def due(self, step: int) -> bool:
        """Whether training writes a checkpoint after `step` (besides the one at the end)."""
        return bool(self.config.checkpoint_dir) and step % self.config.checkpoint_every == 0

    def save(self, step: int, epoch: int, history: History, on_saved: Callable[[Path], None] | None = None) -> None:
        """Write checkpoint step-<step> (process 0 writes it, every process waits for it); `on_saved(folder)` is
        called in process 0 once it is complete, before the others go on."""
        # Each process draws its own dropout masks (seeded by its rank): all their generators are saved, so that
        # every process of a resumed run continues its own sequence, not process 0's.
        states_by_rank = gather_objects(random_states(), self.group)
        if self.group.is_main:
            state = {
                "epoch": epoch + 1 if self.sampler.epoch_finished else epoch,
                "sampler": self.sampler.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "scaler": self.scaler.state_dict() if self.scaler else None,
                **self.best_weights.state_dict(),
                "random_states_by_rank": states_by_rank,
                "train_questions": self.train_questions,
            }
            for old in self.replaces:
                shutil.rmtree(old, ignore_errors=True)
            self.replaces = []
            c = self.config
            folder = save_checkpoint(c.checkpoint_dir, step, self.model, state, c, history, c.checkpoints_to_keep)
            if on_saved:
                on_saved(folder)
        self.group.barrier()  # no process runs ahead of a checkpoint it might need to resume from

    def resume(self, device: torch.device) -> tuple[int, int, History]:
        """Restore the newest checkpoint into the model and the training state; return (the epoch to continue in,
        the step reached, the history so far). A resume whose settings would make the checkpoint mean other data is
        refused with the fix; other changed settings only warn."""
        c = self.config
        folder = latest_checkpoint(c.checkpoint_dir)
        saved = TrainConfig.load(folder / "train_config.json").to_dict()
        changed = {k: (saved[k], v) for k, v in c.to_dict().items() if saved.get(k) != v and k not in RESUMABLE_CHANGES}
        _refuse_other_data(folder, {k: changed[k] for k in DATA_SETTINGS if k in changed})
        if "share_encoders" in changed:  # the optimizer's state is of one encoder or of two, as the run began
            then, now = changed["share_encoders"]
            raise SettingsError(
                f"Cannot resume from {folder}: share_encoders was {then!r} and is {now!r} now, and its optimizer "
                f"state is of the model as it was. Resume with share_encoders={then!r}, or start a new run in "
                "another checkpoint_dir."
            )
        state, history = load_checkpoint(folder, self.model, device)
        if state.get("train_questions", self.train_questions) != self.train_questions:
            _refuse_other_data(folder, {"training questions": (state["train_questions"], self.train_questions)})
        if changed:
            warnings.warn(
                f"Resuming from {folder} with settings that differ from the checkpoint's (saved, now): "
                f"{changed}. The result will not match an uninterrupted run.",
                stacklevel=3,  # the caller of Trainer.train
            )
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if self.scaler and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.sampler.load_state_dict(state["sampler"])
        by_rank = state.get("random_states_by_rank") or [state["random_states"]]
        if len(by_rank) != self.group.world_size:
            warnings.warn(
                f"{folder} was written by {len(by_rank)} process(es) and is resumed by "
                f"{self.group.world_size}: the dropout masks will differ from an uninterrupted run.",
                stacklevel=3,
            )
        restore_random_states(by_rank[self.group.rank % len(by_rank)])
        history = History.from_dict(history)
        self.best_weights.load_state_dict(state, history.best)
        return state["epoch"], state["step"], history


def _refuse_other_data(folder: Path, refused: dict) -> None:
    if refused:
        listed = "; ".join(f"{k}: {old!r} then, {new!r} now" for k, (old, new) in refused.items())
        raise SettingsError(
            f"Cannot resume from {folder}: the data or batches changed ({listed}), so its place in the "
            "shuffled questions would index other data. Resume with the checkpoint's settings "
            f"({folder / 'train_config.json'}), or start a new run in another checkpoint_dir."
        )
