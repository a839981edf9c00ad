"""`dpr-nb push`: a saved model folder published on the Hugging Face Hub, as it is."""

from __future__ import annotations

import argparse

from .arguments import no_outputs


def register(subparsers) -> None:
    parser = subparsers.add_parser("push", help="publish a saved model folder on the Hugging Face Hub")
    parser.add_argument("--model", required=True, help="a folder saved by training or retriever.save()")
    parser.add_argument("--repo-id", required=True, help='the Hub repository to create or update, "owner/name"')
    parser.add_argument("--private", action="store_true", help="create the repository private")
    parser.add_argument("--token", default=None, help="a Hub token with write access (default: `hf auth login`'s)")
    parser.add_argument(
        "--dry-run", action="store_true", help="list the files that would be uploaded, and upload nothing"
    )
    parser.set_defaults(run=run, outputs=no_outputs)


def run(args: argparse.Namespace) -> int:
    from ..training.publish import files_to_publish, publish_folder

    files = files_to_publish(args.model)
    print(f"{args.model} -> https://huggingface.co/{args.repo_id}: {len(files)} files")
    for name in files:
        print(f"  {name}")
    if args.dry_run:
        print("Dry run: nothing was uploaded.")
        return 0
    url = publish_folder(args.model, args.repo_id, private=args.private or None, token=args.token)
    print(f"Published: {url}\nLoad it anywhere with DensePassageRetriever.load({args.repo_id!r}).")
    return 0
