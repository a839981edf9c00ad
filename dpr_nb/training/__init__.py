"""Training: the one way a training runs, the loop, its parts, and what a run leaves behind.

- train.py         train_model: check, build, train, evaluate, save once (every entry point calls it)
- trainer.py       the training loop (accumulation, mixed precision) and its callbacks: the step, read top to bottom
- history.py       History: every step's loss and every evaluation, the best and the kept weights' evaluations
- best_weights.py  BestWeights: the weights of the best evaluation by selection_metric, and early stopping
- checkpoints.py   atomic checkpoints and exact resume (Checkpointing: what the loop calls), the config diff
- distributed.py   torchrun: embeddings gathered across processes, gradients summed
- saved_model.py   the one folder a trained model is saved as, written by one function and read by one
- model_card.py    the README.md written next to every saved model, the Hub's metadata first
- publish.py       a saved model folder published on the Hugging Face Hub (`dpr-nb push`, retriever.push_to_hub)
- runs.py          the run store: every run's config, history, reports and cost in its folder; the comparison table
- sweeps.py        grid or random sweeps with seeds, resumable, their cost estimated before launch
- effects.py       what the runs say: paired differences, the winner chosen on dev and reported on test
- studies.py       searches larger than a grid: an Optuna study whose trials are recorded runs
- trackers.py      TensorBoard, MLflow, Weights & Biases and trackio, fed by the trainer's events
"""
