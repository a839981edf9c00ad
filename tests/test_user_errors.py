"""Every mistake a user can make at the `dpr-nb` command line, as one table: for each case the exit code, exactly one
line on stderr naming the file, record or field and the fix, and the folder the command worked in left exactly as
it was (nothing overwritten, nothing half-written, no temporary file or folder left behind).

A case is `setup(tmp_path) -> argv`: it writes the inputs, then the command runs. Cases marked `read_only` make a
folder unwritable first and run the command in a child process without the capability that lets root write there
anyway (as a user on a read-only mount or someone else's folder would).
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from dpr_nb.cli import main
from dpr_nb.core.config import TINY_MODEL
from dpr_nb.data.builtin_data import write_builtin_dataset

TRAIN = ["train", "--set", "max_samples=16", "--set", "batch_size=8", "--set", "n_epochs=1"]


@dataclass
class Case:
    name: str
    setup: Callable[[Path], list[str]]
    says: list[str]  # fragments the one line must hold, in order: the thing named, then the fix
    code: int = 1  # 2: refused by the argument parser
    read_only: str | None = None  # a folder (relative to tmp_path) made unwritable before the command


def dev_file(tmp: Path) -> Path:
    return write_builtin_dataset(tmp / "data")["dev"]


def dpr_records(tmp: Path) -> list[dict]:
    return json.loads(dev_file(tmp).read_text())


def write(tmp: Path, name: str, content: str | bytes) -> str:
    path = tmp / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return str(path)


def squad(articles: int) -> str:
    qa = {"id": "q", "question": "What is the capital of France?", "answers": [{"text": "Paris", "answer_start": 0}]}
    article = {"title": "France", "paragraphs": [{"context": "Paris is the capital of France.", "qas": [qa]}]}
    return json.dumps({"data": [article] * articles})


def converted(tmp: Path) -> str:
    """An out_dir that already holds a good conversion: a failed one must leave it as it was."""
    assert main(["data", "convert-squad", write(tmp, "good.json", squad(10)), str(tmp / "out")]) == 0
    return str(tmp / "out")


def trained_with_checkpoints(tmp: Path, damage: bool = False) -> list[str]:
    base = TRAIN + [
        "--set",
        f"save_dir={tmp / 'model'}",
        "--set",
        f"checkpoint_dir={tmp / 'ckpt'}",
        "--set",
        "checkpoint_every=1",
    ]
    assert main(base) == 0
    if damage:
        weights = sorted((tmp / "ckpt").glob("step-*"))[-1] / "model.safetensors"
        weights.write_bytes(weights.read_bytes()[:1000])
    return base


def no_gold_passage(tmp: Path) -> Path:
    """A data_dir whose train.json has a record with an empty positive_ctxs list."""
    records = dpr_records(tmp)
    records[2]["positive_ctxs"] = []
    write(tmp, "broken/train.json", json.dumps(records))
    shutil.copy(tmp / "data" / "dev.json", tmp / "broken" / "dev.json")
    return tmp / "broken"


def t5_folder(tmp: Path) -> str:
    from transformers import T5Config, T5Model

    T5Model(T5Config(vocab_size=32, d_model=8, d_kv=4, d_ff=16, num_layers=1, num_heads=2)).save_pretrained(tmp / "t5")
    return str(tmp / "t5")


def eval_corpus(tmp: Path, corpus: str) -> list[str]:
    return ["eval", "--model", TINY_MODEL, "--questions", str(dev_file(tmp)), "--corpus", corpus]


CASES = [
    # Settings that cannot be right: refused by name before the model is built or any data read.
    Case(
        "learning_rate=inf",
        lambda t: TRAIN + ["--set", "learning_rate=inf", "--set", f"save_dir={t / 'm'}"],
        ["learning_rate=inf"],
    ),
    Case(
        "temperature=nan",
        lambda t: TRAIN + ["--set", "temperature=nan", "--set", f"save_dir={t / 'm'}"],
        ["temperature=nan"],
    ),
    Case(
        "max_grad_norm=-1",
        lambda t: TRAIN + ["--set", "max_grad_norm=-1", "--set", f"save_dir={t / 'm'}"],
        ["max_grad_norm=-1"],
    ),
    Case(
        "a length beyond the model's positions",
        lambda t: TRAIN + ["--set", "max_seq_len_passage=1000", "--set", f"save_dir={t / 'm'}"],
        ["max_seq_len_passage=1000", "512 tokens", "at most 512"],
    ),
    Case("a mistyped --set", lambda t: TRAIN + ["--set", "batch_size=big"], ["batch_size", "big"]),
    Case("an unknown --set", lambda t: TRAIN + ["--set", "batch_sise=16"], ["batch_sise"]),
    Case(
        "--config that is not JSON",
        lambda t: ["train", "--config", write(t, "bad.json", "{not json")],
        ["bad.json", "invalid JSON at line 1"],
    ),
    Case(
        "--config with a string for a number",
        lambda t: ["train", "--config", write(t, "bad.json", '{"batch_size": "16"}')],
        ["bad.json", "field 'batch_size' is '16'; expected int"],
    ),
    Case(
        "--config with an unknown similarity",
        lambda t: ["train", "--config", write(t, "bad.json", '{"similarity_function": "dot"}')],
        ["bad.json", "field 'similarity_function'", "'dot_product' or 'cosine'"],
    ),
    # Runs that would lose work.
    Case(
        "--resume with no checkpoint",
        lambda t: TRAIN + ["--set", f"checkpoint_dir={t / 'ckpt'}", "--resume"],
        ["holds no checkpoint"],
    ),
    Case(
        "a new run where another run's checkpoints are",
        lambda t: trained_with_checkpoints(t) + ["--set", "seed=1"],
        ["ckpt", "--resume", "--restart"],
    ),
    Case(
        "--resume from a truncated checkpoint",
        lambda t: trained_with_checkpoints(t, damage=True) + ["--resume"],
        ["step-", "damaged or incomplete", "Delete this folder"],
    ),
    Case(
        "save_dir under a file",
        lambda t: TRAIN + ["--set", f"save_dir={write(t, 'a-file', 'x')}/model"],
        ["save_dir=", "a-file is a file", "Nothing was trained"],
    ),
    Case(
        "save_dir in a read-only folder",
        lambda t: TRAIN + ["--set", f"save_dir={t / 'locked' / 'model'}"],
        ["save_dir=", "cannot be written", "Nothing was trained"],
        read_only="locked",
    ),
    # Training data the reader refuses: the file, the record, the field.
    Case(
        "a DPR record without its gold passage",
        lambda t: TRAIN + ["--set", f"data_dir={no_gold_passage(t)}"],
        ["train.json", "record 3", "'positive_ctxs' is empty", "add its gold passage"],
    ),
    # Evaluation.
    Case(
        "eval --ks 0",
        lambda t: ["eval", "--model", "m", "--questions", "q", "--ks", "0"],
        ["argument --ks", "at least 1"],
        code=2,
    ),
    Case(
        "eval --batch-size 0",
        lambda t: ["eval", "--model", "m", "--questions", "q", "--batch-size", "0"],
        ["argument --batch-size", "at least 1"],
        code=2,
    ),
    Case(
        "eval of a missing model folder",
        lambda t: ["eval", "--model", str(t / "missing"), "--questions", str(dev_file(t))],
        ["missing"],
    ),
    Case(
        "eval of an empty model folder",
        lambda t: (t / "empty").mkdir() or ["eval", "--model", str(t / "empty"), "--questions", str(dev_file(t))],
        ["empty"],
    ),
    Case(
        "eval of a T5 model",
        lambda t: ["eval", "--model", t5_folder(t), "--questions", str(dev_file(t))],
        ["t5", "not a text encoder like BERT"],
    ),
    Case(
        "a passages TSV that is not UTF-8",
        lambda t: eval_corpus(t, write(t, "latin1.tsv", "id\ttext\ttitle\n1\tcafé\tT\n".encode("latin-1"))),
        ["latin1.tsv, line 2", "not UTF-8", "Save the file as UTF-8"],
    ),
    Case(
        "a passages row with two fields",
        lambda t: eval_corpus(t, write(t, "p.tsv", "id\ttext\ttitle\n1\tfine\tT\n2\tonly two\n")),
        ["p.tsv", "line 3: 2 field(s) where a passage has 3"],
    ),
    Case(
        "a passages row with an extra tab",
        lambda t: eval_corpus(t, write(t, "p.tsv", "id\ttext\ttitle\n1\tfine\tT\n2\ttext\ttitle\textra\n")),
        ["p.tsv", "line 3: 4 field(s)"],
    ),
    Case(
        "eval --json in a read-only folder",
        lambda t: [
            "eval",
            "--model",
            TINY_MODEL,
            "--questions",
            str(dev_file(t)),
            "--json",
            str(t / "locked" / "results.json"),
        ],
        ["--json=", "results.json", "cannot be written", "Nothing was done"],
        read_only="locked",
    ),
    Case(
        "eval --json naming a folder",
        lambda t: (
            (t / "results").mkdir()
            or ["eval", "--model", TINY_MODEL, "--questions", str(dev_file(t)), "--json", str(t / "results")]
        ),
        ["--json=", "is a folder"],
    ),
    Case(
        "index --batch-size 0",
        lambda t: ["index", "--model", "m", "--corpus", "c", "--out", "o", "--batch-size", "0"],
        ["argument --batch-size", "at least 1"],
        code=2,
    ),
    Case(
        "index --out in a read-only folder",
        lambda t: [
            "index",
            "--model",
            TINY_MODEL,
            "--corpus",
            write(t, "p.tsv", "id\ttext\ttitle\n1\ta\tT\n"),
            "--out",
            str(t / "locked" / "index"),
        ],
        ["--out=", "cannot be written", "Nothing was done"],
        read_only="locked",
    ),
    # The data tools.
    Case(
        "subset onto its own source",
        lambda t: ["data", "subset", str(dev_file(t)), str(dev_file(t)), "--n", "1"],
        ["dev.json", "is the source file itself"],
    ),
    Case(
        "subset --n 0",
        lambda t: ["data", "subset", str(dev_file(t)), str(t / "out.json"), "--n", "0"],
        ["at least 1 question"],
    ),
    Case(
        "subset into a read-only folder",
        lambda t: ["data", "subset", str(dev_file(t)), str(t / "locked" / "out.json"), "--n", "2"],
        ["the target=", "out.json", "cannot be written"],
        read_only="locked",
    ),
    Case(
        "stats of a JSON Lines file broken in the middle",
        lambda t: [
            "data",
            "stats",
            write(
                t,
                "middle.jsonl",
                "\n".join(
                    [json.dumps(r) for r in dpr_records(t)[:1]] + ['{"question": "cut', json.dumps(dpr_records(t)[2])]
                ),
            ),
        ],
        ["middle.jsonl", "invalid JSON at line 2", "fix the JSON there"],
    ),
    Case(
        "stats of a truncated download",
        lambda t: ["data", "stats", write(t, "cut.json.gz", gzip.compress(json.dumps(dpr_records(t)).encode())[:-30])],
        ["cut.json.gz", "truncated or corrupt"],
    ),
    Case(
        "convert-squad of an empty file",
        lambda t: ["data", "convert-squad", write(t, "bad.json", '{"data": []}'), converted(t)],
        ["bad.json", "holds no articles"],
    ),
    Case(
        "convert-squad of JSON Lines",
        lambda t: [
            "data",
            "convert-squad",
            write(t, "bad.json", '{"question": "a"}\n{"question": "b"}\n'),
            converted(t),
        ],
        ["bad.json", "invalid JSON at line 2", "not JSON Lines"],
    ),
    Case(
        "convert-squad of articles without paragraphs",
        lambda t: [
            "data",
            "convert-squad",
            write(t, "bad.json", '{"data": [{"title": "T", "qas": []}]}'),
            converted(t),
        ],
        ["bad.json", "article 1: field 'paragraphs' must be a list"],
    ),
    Case(
        "convert-squad of too few articles for the splits",
        lambda t: ["data", "convert-squad", write(t, "three.json", squad(3)), str(t / "out")],
        ["3 article(s) are too few", "dev and test would get none"],
    ),
    Case(
        "convert-squad into a read-only folder",
        lambda t: ["data", "convert-squad", write(t, "good.json", squad(10)), str(t / "locked" / "out")],
        ["the out_dir=", "cannot be written"],
        read_only="locked",
    ),
]


def snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every file's bytes and every folder (None) under `folder`, hidden ones (temporary copies, locks) included."""
    return {str(p.relative_to(folder)): None if p.is_dir() else p.read_bytes() for p in sorted(folder.rglob("*"))}


def run_without_write_permission(argv: list[str]) -> subprocess.CompletedProcess:
    """The command in a child process that the folder's permissions apply to, root or not."""
    command = [sys.executable, "-c", "import sys; from dpr_nb.cli import main; sys.exit(main(sys.argv[1:]))", *argv]
    if os.geteuid() == 0:
        if not shutil.which("setpriv"):
            pytest.skip("running as root without setpriv: a read-only folder cannot be emulated")
        drop = "-dac_override,-dac_read_search"
        command = ["setpriv", "--bounding-set", drop, "--inh-caps", drop, *command]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=300, env={**os.environ, "TRANSFORMERS_VERBOSITY": "error"}
    )


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_a_user_error_is_one_line_that_names_it_and_changes_nothing(case, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a default output path lands here, where the snapshot sees it
    argv = case.setup(tmp_path)
    capsys.readouterr()  # what the setup printed
    if case.read_only:
        (tmp_path / case.read_only).mkdir(exist_ok=True)
    before = snapshot(tmp_path)
    if case.read_only:
        (tmp_path / case.read_only).chmod(0o555)
        try:
            result = run_without_write_permission(argv)
        finally:
            (tmp_path / case.read_only).chmod(0o755)
        code, err = result.returncode, result.stderr
    else:
        try:
            code = main(argv)
        except SystemExit as exit_:  # argparse
            code = exit_.code
        err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == case.code, err
    if case.code == 2:  # argparse prints its usage first; its own error line is the last
        lines = lines[-1:]
    assert len(lines) == 1, err
    position = 0
    for fragment in case.says:
        found = lines[0].find(fragment, position)
        assert found >= 0, f"{fragment!r} not in (or not after the earlier fragments of) {lines[0]!r}"
        position = found + len(fragment)
    assert snapshot(tmp_path) == before
