"""`dpr-nb train`: the run a TrainConfig describes (a preset or a config file, changed by --set), also under
torchrun."""

from __future__ import annotations

import argparse

from .arguments import no_outputs


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train from a preset or a config file",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=settings_help(),
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--preset", default=None, help="smoke (default), from_scratch or finetune")
    source.add_argument("--config", default=None, help="a train_config.json (as saved next to every model)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="change one TrainConfig field, e.g. --set batch_size=128 (repeatable)",
    )
    restart_or_resume = parser.add_mutually_exclusive_group()
    restart_or_resume.add_argument("--resume", action="store_true", help="continue from the newest checkpoint")
    restart_or_resume.add_argument(
        "--restart", action="store_true", help="replace an earlier run's checkpoints in checkpoint_dir with this run's"
    )
    # save_dir and checkpoint_dir are settings: train_model checks them before it builds the model.
    parser.set_defaults(run=run, outputs=no_outputs)


def run(args: argparse.Namespace) -> int:
    from .arguments import quiet_transformers

    quiet_transformers()
    return train(args.preset, args.config, args.set, args.resume, args.restart)


def train(preset: str | None, config_file: str | None, settings: list[str], resume: bool, restart: bool) -> int:
    """`dpr-nb train`: the run a TrainConfig describes, printed as it goes; under torchrun, process 0 speaks."""
    from ..core.config import TrainConfig
    from ..evaluation.report import format_report
    from ..training.distributed import current_group
    from ..training.train import train_model

    config = TrainConfig.load(config_file) if config_file else TrainConfig.preset(preset or "smoke")
    config = config.with_settings(settings)
    group = current_group()
    say = print if group.is_main else (lambda *args, **kwargs: None)
    say(
        f"dpr-nb train: {config.query_model} / {config.passage_model} on {config.data_dir}, "
        f"{group.world_size} process(es)"
    )
    report_line = lambda trainer, record: say(  # noqa: E731
        f"step {record['step']} {record['split']}: "
        + "  ".join(f"{k}={record[k]:.4f}" for k in ("loss", "acc", "f1", "average_rank") if k in record)
    )
    trained = train_model(
        config, callbacks={"on_evaluate": report_line}, resume=resume, restart=restart, progress_bar=group.is_main
    )
    for split, report in trained.reports.items():
        say(format_report(report, f"\nReport on {split}:"))
    if trained.saved_to:
        say(f"\nSaved to {trained.saved_to}/ (the model, train_config.json, history.json)")
    return 0


def settings_help() -> str:
    """Every TrainConfig field under its section, with its help: what `--set KEY=VALUE` can change."""
    import textwrap

    from ..core.config import TrainConfig

    lines = ["settings (--set KEY=VALUE; none/null for an empty one):"]
    for title, names in TrainConfig.sections().items():
        lines.append(f"  {title}")
        for name in names:
            lines.append(
                textwrap.fill(TrainConfig.help(name), 116, initial_indent=f"    {name}: ", subsequent_indent=" " * 6)
            )
    return "\n".join(lines)
