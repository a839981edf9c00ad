"""The `dpr-nb` command.

dpr-nb demo                              train a tiny DPR model on the built-in dataset, report before/after,
                                         save, reload, retrieve
dpr-nb train --preset NAME | --config FILE [--set key=value ...] [--resume | --restart]
                                         train as the Python API does (also under torchrun); writes the model,
                                         train_config.json and history.json to save_dir
dpr-nb eval --model DIR --questions FILE --corpus FILE [--compare MODEL]
                                         top-k accuracy, MRR@k and recall@k over a whole corpus, with BM25
                                         in the same table (without --corpus: the in-batch report)
dpr-nb index --model DIR --corpus passages.tsv --out INDEX_DIR [--index hnsw|ivfpq|flat]
                                         encode a corpus of any size to disk (resumable, sharded under
                                         torchrun), then build a FAISS index of it
dpr-nb eval --model DIR --questions FILE --index INDEX_DIR
                                         the same metrics, ranked by a FAISS index
dpr-nb fetch [nq-dev nq-train wikipedia-passages xquad-en xquad-de] [--data-dir DIR] [--models NAME ...] [--no-models]
                                         download DPR's files (resumable) and the presets' models into the caches,
                                         so that everything then runs offline (HF_HUB_OFFLINE=1)
dpr-nb push --model DIR --repo-id OWNER/NAME [--private] [--dry-run]
                                         publish a saved model folder on the Hugging Face Hub, where
                                         DensePassageRetriever.load("OWNER/NAME") reads it back
dpr-nb data stats PATH                   counts and text lengths of a DPR file, streaming
dpr-nb data subset IN OUT --n N [--seed S]   the first (or a seeded random) N questions in a small file
dpr-nb data mine --model DIR IN OUT      hard negatives mined with a trained model
dpr-nb data records FILE [--out FOLDER]  a DPR file's records copied to disk once, read by position in training
                                         (TrainConfig.records_on_disk; `data index`, its name before 0.2, still works)
dpr-nb data convert-squad IN OUT_DIR     a SQuAD/XQuAD file as DPR train/dev/test files with BM25 hard
                                         negatives and a passages.tsv corpus, split by article

One module per command, each with `register(subparsers)` (its parser, options and help) and `run(args) -> int`;
COMMANDS below is the registry, in the order `dpr-nb --help` lists them:

- demo.py       `dpr-nb demo`: the tutorial in miniature, on the CPU
- train.py      `dpr-nb train`: a preset or config file changed by --set, also under torchrun; every setting's help
- eval.py       `dpr-nb eval`: a whole corpus against BM25, in memory or through a FAISS index; the in-batch report
- index.py      `dpr-nb index`: a corpus encoded to disk, then its FAISS index
- fetch.py      `dpr-nb fetch`: DPR's files and the presets' models, ahead of time
- push.py       `dpr-nb push`: a saved model folder published on the Hugging Face Hub
- data.py       `dpr-nb data stats|subset|records|convert-squad|mine`
- arguments.py  what several commands share: argparse types, a model opened by name, transformers kept quiet
- __main__.py   `python -m dpr_nb.cli` (and torchrun's `-m dpr_nb.cli`)

Only a command's run imports torch and transformers: `dpr-nb --help` and the data tools start without them.
"""

from __future__ import annotations

import argparse
import sys

from . import data, demo, eval, fetch, index, push, train

COMMANDS = (demo, train, eval, index, fetch, push, data)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dpr-nb", description="Train your own Dense Passage Retrieval models.")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.register(subparsers)
    args = parser.parse_args(argv)
    # Only what every command needs: the data tools and --help stay clear of torch and transformers.
    from ..core.errors import DPRNBError
    from ..core.files import ensure_writable
    from ..core.messages import show_messages

    show_messages()  # the library's messages (a download skipped, an encoding resumed) are part of a command's output

    try:
        for path, option, is_file in args.outputs(args):  # an output that cannot be written is found before the work
            ensure_writable(path, option, is_file, consequence="Nothing was done.")
        return args.run(args)
    # What a user causes (a wrong path or setting, a damaged file, no optional package): a DPRNBError, whose message
    # names the file, the setting and the fix. What the machine causes (a missing file, an unreadable folder, a full
    # disk, a lost connection) is an OSError. Both end in one line; any other error is a bug and shows its traceback.
    except (DPRNBError, OSError) as e:
        return _report_error(e)


def _report_error(error: Exception) -> int:
    """One line on stderr, and the exit status 1."""
    print(f"error: {error}", file=sys.stderr)
    # Under torchrun the other processes may be waiting for this one: its exit must not destroy the group. The
    # module is there only if a command that runs under torchrun loaded it (the data tools never import torch).
    distributed = sys.modules.get("dpr_nb.training.distributed")
    if distributed is not None:
        distributed.leave_group_at_exit()
    return 1


if __name__ == "__main__":
    sys.exit(main())
