"""A small training run that tests start in a subprocess: under torchrun, or to be killed midway and resumed.

    python tests/training_worker.py OUT [--chunk N] [--checkpoint-dir DIR] [--die-at STEP] [--resume]
    torchrun --standalone --nproc_per_node 2 tests/training_worker.py OUT [...] [--then OUT [...]]

Process 0 writes OUT/weights.pt and OUT/history.json at the end. `--die-at` kills the process with SIGKILL (no
cleanup, as a Colab disconnect) right after that optimizer step. Runs separated by `--then` train one after another
in the same processes: each new process spends about 7 seconds of a CI core importing torch and transformers.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout, when run as a script

from dpr_nb import TrainConfig  # noqa: E402
from dpr_nb.data.splits import load_splits  # noqa: E402
from dpr_nb.model.encoders import BiEncoder, tiny_encoder  # noqa: E402
from dpr_nb.training.trainer import Trainer  # noqa: E402


def make_trainer(
    chunk: int | None = None, dropout: bool = True, checkpoint_dir: str | None = None, **overrides
) -> Trainer:
    """The same model, data and settings in every process and in the test's own reference run."""
    examples = load_splits("builtin", "")["train"][:48]
    model = BiEncoder(tiny_encoder(seed=1), tiny_encoder(seed=2))
    if not dropout:  # a run split over processes draws other dropout masks than one process would
        for module in model.modules():
            if isinstance(module, torch.nn.Dropout):
                module.p = 0.0
    settings = dict(
        batch_size=8,
        n_epochs=2,
        num_warmup_steps=2,
        learning_rate=1e-3,
        save_dir=None,
        grad_cache_chunk_size=chunk,
        checkpoint_dir=checkpoint_dir,
        checkpoints_to_keep=2,
        device="cpu",
    )
    config = TrainConfig.preset("smoke", **{**settings, **overrides})
    return Trainer(model, config, examples, progress_bar=False)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--chunk", type=int, default=None)
    parser.add_argument("--no-dropout", action="store_true")
    parser.add_argument("--checkpoint-dir", default=None)
    parser.add_argument("--checkpoint-every", type=int, default=4)
    parser.add_argument("--die-at", type=int, default=None)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--epsilon", type=float, default=1e-8)
    args = parser.parse_args(argv)
    trainer = make_trainer(
        args.chunk,
        not args.no_dropout,
        args.checkpoint_dir,
        checkpoint_every=args.checkpoint_every,
        epsilon=args.epsilon,
    )
    if args.die_at:

        def die(trainer, record):
            if record["step"] == args.die_at:
                os.kill(os.getpid(), signal.SIGKILL)

        trainer.add_callback("on_step_end", die)
    history = trainer.train(resume=args.resume)
    if trainer.group.is_main:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        torch.save(trainer.model.state_dict(), out / "weights.pt")
        (out / "history.json").write_text(json.dumps(history.to_dict()))


if __name__ == "__main__":
    torch.set_num_threads(1)  # two processes share two cores
    runs = [[]]
    for argument in sys.argv[1:]:
        if argument == "--then":
            runs.append([])
        else:
            runs[-1].append(argument)
    for run in runs:
        main(run)
