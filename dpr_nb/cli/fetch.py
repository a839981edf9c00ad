"""`dpr-nb fetch`: DPR's files and the presets' models downloaded ahead of time, so that everything then runs
offline (HF_HUB_OFFLINE=1)."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    parser = subparsers.add_parser("fetch", help="download DPR's files and the presets' models ahead of time")
    parser.add_argument(
        "files",
        nargs="*",
        default=["nq-dev"],
        metavar="FILE",
        help="nq-dev (default, 800 MB), nq-train (7.4 GB), wikipedia-passages (13 GB), xquad-en, xquad-de (<1 MB)",
    )
    parser.add_argument("--data-dir", default="data/dpr_training", help="where the files go (the presets' data_dir)")
    parser.add_argument(
        "--models",
        nargs="+",
        default=None,
        metavar="NAME",
        help="models to cache (default: the presets' bert-base-uncased and Facebook's DPR encoders)",
    )
    parser.add_argument("--no-models", action="store_true", help="fetch only the files")
    parser.set_defaults(run=run, outputs=outputs)


def outputs(args: argparse.Namespace) -> list[tuple[str, str, bool]]:
    return [(args.data_dir, "--data-dir", False)]


def run(args: argparse.Namespace) -> int:
    from ..core.errors import SettingsError
    from ..tools.download import DPR_FILES
    from .arguments import quiet_transformers

    quiet_transformers()
    unknown = [name for name in args.files if name not in DPR_FILES]
    if unknown:
        raise SettingsError(f"unknown file(s) {unknown}; choose from {sorted(DPR_FILES)}")
    models = [] if args.no_models else (args.models or preset_models())
    return fetch(args.files, args.data_dir, models)


def fetch(files: list[str], data_dir: str, models: list[str]) -> int:
    """`dpr-nb fetch`: DPR's files into data_dir and models into the Hugging Face cache, for a room without wifi."""
    from ..tools.download import DPR_FILES, download

    for name in files:
        print(f"{name}: {DPR_FILES[name][2]}")
        print(f"  -> {download(name, data_dir)}")  # resumes a .part file, skips a finished one
    if models:
        from ..model.encoders import Encoder

        for name in models:
            # Loading once is what fetches exactly the files a later load reads (and records in the cache the
            # optional ones a repository lacks, so that an offline load knows they are absent).
            encoder = Encoder.from_pretrained(name)
            print(
                f"{name}: in the Hugging Face cache ({sum(p.numel() for p in encoder.parameters()):,} "
                f"parameters, {encoder.pooling} pooling)"
            )
    print("Done: with HF_HUB_OFFLINE=1 set, training and evaluation now need no network.")
    return 0


def preset_models() -> list[str]:
    """The presets' models, the tiny test model left out (it is made locally, not downloaded)."""
    from ..core.config import PRESETS, TINY_MODEL

    names = {n for config in PRESETS.values() for n in (config.query_model, config.passage_model)}
    return sorted(names - {TINY_MODEL})
