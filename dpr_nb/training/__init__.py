"""Training: the one way a training runs, the loop, its parts, and what a run leaves behind.

- train.py         train_model: check, build, train, evaluate, save once (every entry point calls it)
- trainer.py       the training loop (accumulation, mixed precision), its history and callbacks
- checkpoints.py   atomic checkpoints and exact resume
- distributed.py   torchrun: embeddings gathered across processes, gradients summed
- saved_model.py   the one folder a trained model is saved as, written by one function and read by one
- model_card.py    the README.md written next to every saved model
- runs.py          the run store: every run's config, history, reports and cost in its folder; the comparison table
- sweeps.py        grid or random sweeps with seeds, resumable, their cost estimated before launch
"""
