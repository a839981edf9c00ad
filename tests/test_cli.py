import importlib.util
import json

import pytest

from dpr_nb import DensePassageRetriever, TrainConfig
from dpr_nb.cli import main
from dpr_nb.core.errors import SettingsError


def test_train_command_writes_the_same_files_as_the_python_api(tmp_path, capsys):
    settings = [f"save_dir={tmp_path / 'model'}", "max_samples=32", "n_epochs=1", "batch_size=8"]
    assert main(["train", "--preset", "smoke", *[a for s in settings for a in ("--set", s)]]) == 0
    assert "Report on dev" in capsys.readouterr().out
    retriever = DensePassageRetriever.load(tmp_path / "model", use_gpu=False)
    expected = TrainConfig.preset("smoke").with_settings(settings)
    # The config as given ("auto", None: follow the machine and the checkpoint), as every entry point records it;
    # what the similarity resolved to is in retriever_config.json, which the retriever reads back.
    assert retriever.train_config == expected
    assert retriever.similarity_function == "dot_product"
    assert [s["step"] for s in retriever.history.steps] == [1, 2, 3, 4]

    # The saved config is a config file: --config reproduces the run, --set changes it.
    again = tmp_path / "again"
    assert (
        main(
            [
                "train",
                "--config",
                str(tmp_path / "model" / "train_config.json"),
                "--set",
                f"save_dir={again}",
                "--set",
                "n_epochs=2",
            ]
        )
        == 0
    )
    assert len(DensePassageRetriever.load(again, use_gpu=False).history.steps) == 8


def test_train_command_resumes_from_its_checkpoints(tmp_path):
    base = [
        "train",
        "--set",
        f"save_dir={tmp_path / 'model'}",
        "--set",
        f"checkpoint_dir={tmp_path / 'ckpt'}",
        "--set",
        "checkpoint_every=2",
        "--set",
        "max_samples=32",
        "--set",
        "batch_size=8",
        "--set",
        "n_epochs=1",
    ]
    assert main(base) == 0
    with pytest.warns(UserWarning, match=r"differ from the checkpoint's.*'n_epochs': \(1, 2\)"):
        assert main(base + ["--set", "n_epochs=2", "--resume"]) == 0  # 4 more steps from the end-of-run checkpoint
    steps = DensePassageRetriever.load(tmp_path / "model", use_gpu=False).history.steps
    assert [s["step"] for s in steps] == list(range(1, 9))


def test_eval_command_prints_and_writes_the_report(tmp_path, capsys):
    assert (
        main(["train", "--set", f"save_dir={tmp_path / 'model'}", "--set", "max_samples=16", "--set", "n_epochs=1"])
        == 0
    )
    from dpr_nb.data.builtin_data import write_builtin_dataset

    paths = write_builtin_dataset(tmp_path / "data")
    capsys.readouterr()
    assert (
        main(
            [
                "eval",
                "--model",
                str(tmp_path / "model"),
                "--data",
                str(paths["test"]),
                "--batch-size",
                "10",
                "--json",
                str(tmp_path / "report.json"),
            ]
        )
        == 0
    )
    assert "100 questions" in capsys.readouterr().out
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["num_questions"] == 100 and 0 <= report["acc"] <= 1
    assert set(report["classes"]) >= {"positive", "hard_negative"}


@pytest.mark.parametrize("setting, message", [("batch_size=lots", "batch_size"), ("colour=red", "TrainConfig field")])
def test_bad_settings_fail_with_a_message(setting, message, capsys):
    assert main(["train", "--set", setting]) == 1
    assert message in capsys.readouterr().err


def test_eval_command_ranks_a_whole_corpus_against_bm25(tmp_path, capsys):
    from dpr_nb.data.builtin_data import builtin_passages, write_builtin_dataset

    assert (
        main(["train", "--set", f"save_dir={tmp_path / 'model'}", "--set", "max_samples=16", "--set", "n_epochs=1"])
        == 0
    )
    paths = write_builtin_dataset(tmp_path / "data")
    corpus = tmp_path / "passages.tsv"
    corpus.write_text(
        "id\ttext\ttitle\n" + "".join(f"{p['passage_id']}\t{p['text']}\t{p['title']}\n" for p in builtin_passages()),
        encoding="utf-8",
    )
    capsys.readouterr()
    assert (
        main(
            [
                "eval",
                "--model",
                str(tmp_path / "model"),
                "--questions",
                str(paths["test"]),
                "--corpus",
                str(corpus),
                "--compare",
                "dpr-nb/tiny-bert",
                "--ks",
                "1,20",
                "--json",
                str(tmp_path / "r.json"),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "100 questions" in out and "all 280 passages" in out and "BM25" in out
    results = json.loads((tmp_path / "r.json").read_text())["results"]
    assert list(results) == [str(tmp_path / "model"), "dpr-nb/tiny-bert", "BM25"]
    ours = {"questions", "top_1_accuracy", "top_20_accuracy", "mrr_at_1", "mrr_at_20", "recall_at_1", "recall_at_20"}
    standard = {"ndcg_at_10", "map_at_20"} if importlib.util.find_spec("ir_measures") else set()  # the metrics extra
    assert all(set(m) == ours | standard for m in results.values())
    assert results["BM25"]["top_20_accuracy"] > 0.5  # the questions name their town: BM25 finds most
    # The table says which BM25 it ran, and the JSON keeps it; the DPR paper's parameters are one option away.
    assert "BM25: k1=1.5, b=0.75 (the DPR paper's baseline: --bm25-k1 0.9 --bm25-b 0.4)" in out
    assert json.loads((tmp_path / "r.json").read_text())["settings"] == {"BM25": {"k1": 1.5, "b": 0.75}}
    from dpr_nb.data.dpr_file import load_dpr_file
    from dpr_nb.evaluation.corpus_eval import evaluate_corpus_bm25

    arguments = ["eval", "--model", str(tmp_path / "model"), "--questions", str(paths["test"]), "--corpus", str(corpus)]
    arguments += ["--ks", "1,20", "--bm25-k1", "0.9", "--bm25-b", "0.4", "--json", str(tmp_path / "p.json")]
    assert main(arguments) == 0
    paper = json.loads((tmp_path / "p.json").read_text())
    assert paper["settings"]["BM25"] == {"k1": 0.9, "b": 0.4}
    expected = evaluate_corpus_bm25(load_dpr_file(paths["test"]), corpus, ks=(1, 20), k1=0.9, b=0.4)
    assert {k: v for k, v in paper["results"]["BM25"].items() if k in expected.metrics} == expected.metrics


def test_eval_command_adds_the_measures_asked_for_and_writes_a_trec_run(tmp_path, capsys):
    pytest.importorskip("ir_measures")
    from dpr_nb.data.builtin_data import write_builtin_dataset

    paths = write_builtin_dataset(tmp_path / "data")
    arguments = ["eval", "--model", "dpr-nb/tiny-bert", "--questions", str(paths["test"]), "--corpus", "builtin"]
    arguments += ["--ks", "1,5", "--measures", "nDCG@5,P@1", "--trec-run", str(tmp_path / "run.trec")]
    assert main([*arguments, "--json", str(tmp_path / "r.json")]) == 0
    results = json.loads((tmp_path / "r.json").read_text())["results"]
    for metrics in results.values():
        assert {"ndcg_at_5", "precision_at_1"} <= set(metrics) and "map_at_5" not in metrics
        assert metrics["precision_at_1"] == pytest.approx(metrics["top_1_accuracy"])  # one gold passage each
    lines = (tmp_path / "run.trec").read_text().splitlines()
    assert len(lines) == 100 * 5 and lines[0].startswith("0 Q0 ") and lines[0].endswith(" dpr-nb/tiny-bert")
    capsys.readouterr()
    assert main([*arguments[:-4], "--measures", "R@10"]) == 1
    assert "error: --measures 'R@10': give nDCG@k, AP@k or P@k" in capsys.readouterr().err


def test_train_help_lists_every_setting_with_the_help_its_field_carries(capsys):
    import dataclasses

    from dpr_nb import TrainConfig
    from dpr_nb.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["train", "--help"])
    assert exit_.value.code == 0
    text = " ".join(capsys.readouterr().out.split())  # help text wraps lines
    for field in dataclasses.fields(TrainConfig):
        assert f"{field.name}: {' '.join(field.metadata['help'].split())}" in text
    assert main(["train", "--set", "batch_sise=8"]) == 1
    assert f"did you mean batch_size ({TrainConfig.help('batch_size')})" in capsys.readouterr().err


def test_an_error_under_torchrun_leaves_the_process_group_for_the_others(monkeypatch, capsys):
    """The one-line error exits through sys.exit(1), which no exception hook sees: the command itself must keep
    the exit from destroying the group, which could wait forever for processes waiting for this one."""
    from dpr_nb.training import distributed

    monkeypatch.setattr(distributed, "_leave_group_at_exit", False)
    assert main(["train", "--set", "batch_sise=8"]) == 1
    assert "error: " in capsys.readouterr().err and distributed._leave_group_at_exit


def test_every_registered_command_has_its_help_line_and_dispatches_to_its_run(monkeypatch, capsys):
    import argparse
    import re

    from dpr_nb import cli

    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    overview = capsys.readouterr().out
    names = []
    for command in cli.COMMANDS:
        subparsers = argparse.ArgumentParser().add_subparsers()
        command.register(subparsers)
        (name,) = subparsers.choices  # one command per module, named as the module is
        assert name == command.__name__.rsplit(".", 1)[1] and callable(command.run)
        assert re.search(rf"^ +{name} +\S", overview, re.M), name
        names.append(name)
    assert names == ["demo", "train", "eval", "index", "fetch", "push", "data"]  # the order --help lists them in

    # main runs what the command's register names, and ends a user's error in one line
    monkeypatch.setattr(cli.demo, "run", lambda args: 7)
    assert main(["demo", "--epochs", "1"]) == 7
    monkeypatch.setattr(cli.data, "run_stats", lambda args: 7 if args.path == "file.jsonl" else 0)
    assert main(["data", "stats", "file.jsonl"]) == 7

    def wrong(args):
        raise SettingsError("--epochs 0: give 1 or more")

    monkeypatch.setattr(cli.demo, "run", wrong)
    assert main(["demo"]) == 1
    assert capsys.readouterr().err == "error: --epochs 0: give 1 or more\n"


def test_data_index_says_it_is_data_records_now(tmp_path, capsys):
    source = tmp_path / "train.jsonl"
    record = {"question": "q?", "answers": ["a"], "positive_ctxs": [{"title": "T", "text": "a passage"}]}
    source.write_text(json.dumps(record) + "\n")
    assert main(["data", "index", str(source), "--out", str(tmp_path / "old")]) == 0
    assert "dpr-nb data index is now dpr-nb data records" in capsys.readouterr().err
    assert main(["data", "records", str(source), "--out", str(tmp_path / "new")]) == 0
    assert capsys.readouterr().err == ""
