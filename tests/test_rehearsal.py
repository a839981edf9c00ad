"""The real paths, rehearsed on stand-ins of the real artifacts, as a user on Colab or in a workshop runs them.

Models under their hub names in a Hugging Face cache (tiny, in the real formats) with HF_HUB_OFFLINE=1; DPR's files
under their real names and formats (gzipped JSON lists, a quoted passages TSV) served over HTTP as
DPR_NB_DATA_MIRROR. Then `dpr-nb fetch`, the `finetune` and `from_scratch` presets with a small budget, reload,
full-corpus evaluation, indexing and evaluation on the index, each through the command a user types.

The commands (the fetch, then each preset's five) run one after another in one Python process, through the `main`
that the `dpr-nb` script calls: each fresh process would spend about 7 seconds of a CI core importing torch and
transformers again.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import DPR_SAMPLES, execute_notebook, need

standins = pytest.importorskip("standins")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A working folder, a Hugging Face cache with the stand-in models, and the data mirror being served."""
    root = tmp_path_factory.mktemp("rehearsal")
    standins.hub_cache(root / "hf")
    mirror = standins.data_mirror(root / "mirror", need(DPR_SAMPLES))
    with standins.serve(mirror) as url:
        environment = {
            **os.environ,
            "HF_HOME": str(root / "hf"),
            "HF_HUB_OFFLINE": "1",
            "DPR_NB_DATA_MIRROR": url,
            "PYTHONWARNINGS": "default",
        }
        for name in ("HF_HUB_CACHE", "TRANSFORMERS_CACHE", "HUGGINGFACE_HUB_CACHE"):
            environment.pop(name, None)
        (root / "work").mkdir()
        yield {"root": root, "work": root / "work", "env": environment}


# Runs the commands given as JSON in argv[1], in order, stopping at the first that fails; prints each one's exit
# status, standard output and standard error as JSON on the last line.
COMMANDS_IN_ONE_PROCESS = """
import contextlib, io, json, sys
from dpr_nb.cli import main
finished = []
for argv in json.loads(sys.argv[1]):
    printed, said = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(said):
        status = main(argv)
    finished.append({"argv": argv, "status": status, "stdout": printed.getvalue(), "stderr": said.getvalue()})
    if status:
        break
print(json.dumps(finished))
"""


def dpr_nb_commands(world, *commands, timeout=900) -> list[dict]:
    """Each command's "stdout" and "stderr"; the commands ran in one process (see the module's docstring)."""
    process = subprocess.run(
        [sys.executable, "-c", COMMANDS_IN_ONE_PROCESS, json.dumps([list(map(str, c)) for c in commands])],
        cwd=world["work"],
        env=world["env"],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert process.returncode == 0, process.stderr[-4000:]
    finished = json.loads(process.stdout.splitlines()[-1])
    for command in finished:
        assert command["status"] == 0, (
            f"dpr-nb {' '.join(command['argv'])}:\n{command['stdout'][-2000:]}\n{command['stderr'][-4000:]}"
        )
    assert len(finished) == len(commands)
    return finished


PRESETS = ("finetune", "from_scratch")


def preset_commands(preset: str) -> list[list[str]]:
    """A preset's five commands: train, resume the finished run, evaluate against BM25, index, evaluate the index."""
    save_dir, checkpoints = f"saved_models/{preset}", f"saved_models/{preset}-checkpoints"
    # The preset as it is (NQ train and dev, index on disk, checkpoints, batch 16 x 8), with a small budget.
    budget = [
        "--set",
        "batch_size=4",
        "--set",
        "grad_acc_steps=2",
        "--set",
        "max_seq_len_passage=128",
        "--set",
        "max_samples=32",
        "--set",
        "evaluate_every=2",
        "--set",
        "checkpoint_every=2",
        "--set",
        "device=cpu",
        "--set",
        f"save_dir={save_dir}",
        "--set",
        f"checkpoint_dir={checkpoints}",
        "--set",
        "eval_corpus=data/dpr_training/psgs_w100.tsv",
        "--set",
        "selection_metric=mrr_at_10",
    ]
    evaluate = ["--model", save_dir, "--questions", "data/dpr_training/biencoder-nq-dev.json", "--ks", "1,20,100"]
    return [
        ["train", "--preset", preset, *budget],
        # Resuming a finished run changes nothing and says so cleanly.
        ["train", "--preset", preset, *budget, "--resume"],
        # Full-corpus evaluation against BM25 on the quoted passages TSV, then the same through a FAISS index.
        ["eval", *evaluate, "--corpus", "data/dpr_training/psgs_w100.tsv", "--json", f"eval-{preset}.json"],
        ["index", "--model", save_dir, "--corpus", "data/dpr_training/psgs_w100.tsv", "--out", f"indexes/{preset}"]
        + ["--index", "flat", "--dtype", "float32"],
        ["eval", *evaluate, "--index", f"indexes/{preset}", "--json", f"eval-index-{preset}.json", "--no-bm25"],
    ]


@pytest.fixture(scope="module")
def commands_run(world):
    """What each command printed, by name: `dpr-nb fetch`, the same fetch again, then each preset's five commands,
    all in one process, in that order."""
    names = ["fetch", "fetch again"] + [(preset, i) for preset in PRESETS for i in range(5)]
    commands = [
        ["fetch", "nq-dev", "nq-train", "wikipedia-passages"],
        ["fetch", "nq-dev", "--no-models"],  # a second fetch finds the file and downloads nothing
        *[command for preset in PRESETS for command in preset_commands(preset)],
    ]
    return dict(zip(names, dpr_nb_commands(world, *commands)))


def test_fetch_downloads_the_files_from_the_mirror_and_caches_the_presets_models(world, commands_run):
    finished = commands_run["fetch"]
    data = world["work"] / "data" / "dpr_training"
    # The files fetched (the presets' runs, after it, copied each one's questions into a `.records` folder beside it)
    assert sorted(p.name for p in data.iterdir() if p.is_file()) == [
        "biencoder-nq-dev.json",
        "biencoder-nq-train.json",
        "psgs_w100.tsv",
    ]
    for name in (standins.QUESTION_MODEL, standins.CONTEXT_MODEL, standins.BERT_MODEL):
        assert f"{name}: in the Hugging Face cache" in finished["stdout"]
    assert "could not fetch" not in finished["stderr"]  # the cache knows these models declare no pooling of their own
    first = json.loads((data / "biencoder-nq-train.json").read_text())[0]
    assert first["question"] == "who sings does he love me with reba"
    assert "biencoder-nq-dev.json" in commands_run["fetch again"]["stdout"]


@pytest.mark.parametrize("preset", PRESETS)
def test_a_preset_trains_checkpoints_saves_reloads_evaluates_and_indexes(world, commands_run, preset):
    save_dir = f"saved_models/{preset}"
    trained, evaluated = commands_run[preset, 0]["stdout"], commands_run[preset, 2]["stdout"]
    assert "Saved to" in trained
    folder = world["work"] / save_dir
    config = json.loads((folder / "train_config.json").read_text())
    expected = {"finetune": standins.QUESTION_MODEL, "from_scratch": standins.BERT_MODEL}[preset]
    assert config["query_model"] == expected and config["records_on_disk"] and config["grad_acc_steps"] == 2
    history = json.loads((folder / "history.json").read_text())
    assert [s["step"] for s in history["steps"]] == [1, 2, 3, 4]  # 32 questions, batches of 4, 2 per step
    assert all("mrr_at_10" in e for e in history["evaluations"])

    # The saved folders are DPR's format: transformers' classes give the retriever's vectors.
    from transformers import AutoTokenizer, DPRQuestionEncoder

    from dpr_nb import DensePassageRetriever

    retriever = DensePassageRetriever.load(folder, use_gpu=False, progress_bar=False)
    question = ["who sings does he love me with reba"]
    model = DPRQuestionEncoder.from_pretrained(folder / "query_encoder").eval()
    inputs = AutoTokenizer.from_pretrained(folder / "query_encoder")(question, return_tensors="pt")
    inputs["token_type_ids"] = torch.zeros_like(inputs["input_ids"])
    with torch.no_grad():
        np.testing.assert_allclose(model(**inputs).pooler_output.numpy(), retriever.embed_queries(question), atol=1e-5)

    results = json.loads((world["work"] / f"eval-{preset}.json").read_text())["results"]
    assert set(results) == {save_dir, "BM25"} and all(0 <= r["recall_at_100"] <= 1 for r in results.values())
    on_index = json.loads((world["work"] / f"eval-index-{preset}.json").read_text())["results"][save_dir]
    # The same ranking up to float rounding (passages are encoded in other batches): a tiny model's near-ties may
    # swap neighbours, which moves an MRR by a fraction of one question's reciprocal rank. After 4 steps from a
    # random BERT (from_scratch) the [CLS] vectors of all passages are still nearly equal, so scores tie to rounding
    # and the two paths break some ties differently: up to 3 of the 60 questions may move there.
    tolerance = 0.01 if preset == "finetune" else 3 / 60 + 1e-9
    assert on_index == pytest.approx(results[save_dir], abs=tolerance)
    assert "BM25" in evaluated


def test_the_notebooks_gpu_mode_runs_through_on_the_stand_ins(world, tmp_path):
    """Every notebook in the GPU mode, in order (03 evaluates what 02 trained), unchanged: the download
    through the mirror, the hub models from the cache, and every assert a real run must satisfy.

    04_explore is left out: its real mode touches no real artifact (the tiny model on the built-in data, as in
    smoke mode) and only sweeps longer, about 8 minutes on this CPU.

    The four run one after another in one kernel, each after `%reset -f` (an empty namespace, as in a kernel of its
    own, so that no notebook can lean on another's variables): a kernel of its own spent about 8 seconds of a CI
    core importing torch and transformers again, half of what each notebook took here."""
    notebooks = tmp_path / "notebooks"
    source = Path(__file__).resolve().parents[1] / "notebooks"
    notebooks.mkdir()
    names = ("00_quickstart.ipynb", "01_data.ipynb", "02_train.ipynb", "03_evaluate.ipynb")
    combined = None
    for name in names:
        # Without the exercises: they retrain and compare models, which nbval runs in the small mode already.
        notebook = json.loads((source / name).read_text(encoding="utf-8"))
        cells = notebook["cells"]
        (exercises,) = [i for i, cell in enumerate(cells) if "".join(cell["source"]).startswith("## Exercises")]
        reset = {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": "%reset -f"}
        if combined is None:
            combined, reset = {**notebook, "cells": []}, None
        for cell in ([reset] if reset else []) + cells[:exercises] + cells[-1:]:
            cell = {**cell, "id": f"cell-{len(combined['cells'])}", "metadata": {**cell["metadata"], "rehearsed": name}}
            combined["cells"].append(cell)
    environment = {**world["env"], "DPR_NB_MODE": "gpu"}  # which a machine without a GPU must ask for
    executed = execute_notebook(combined, notebooks, environment, timeout=600)
    # A real run's checks print ✓/✗ instead of stopping it. On the stand-ins (tiny models under the real names, a
    # few dozen questions) the checks of model quality may miss, and so may those that need NQ's size (a schedule
    # of 6 steps never reaches the peak of a 50-step warm-up; one held-out question ranks as many passages in any
    # batch). Every other check must hold, as on Colab.
    quality = (
        "gold passage first (f1)",
        "top-20 accuracy",
        "gold passage moved up",
        "average rank of the gold",
        "questions in the file",
        "share of hard negatives containing an answer",
        "accumulation does not",
        "the learning rate reached its peak",
        "a bigger evaluation batch gives more passages to rank",
    )
    for name in names:
        cells = [cell for cell in executed["cells"] if cell["metadata"]["rehearsed"] == name]
        printed = "".join(
            text for cell in cells for output in cell.get("outputs", []) for text in output.get("text", [])
        )
        lines = [line for line in printed.splitlines() if line.startswith(("✓", "✗"))]
        assert lines and "GPU mode (DPR_NB_MODE=gpu)" in printed, name
        misses = [line for line in lines if line.startswith("✗") and not any(q in line for q in quality)]
        assert misses == [], f"{name}: {misses}"
    # They went through the real paths: NQ dev from the mirror, XQuAD converted, 02's model saved where 03 read it.
    assert (notebooks / "data" / "dpr_training" / "biencoder-nq-dev.json").is_file()
    assert (notebooks / "data" / "xquad" / "en-dpr" / "passages.tsv").is_file()
    saved = json.loads((notebooks / "saved_models" / "02_train-from_scratch" / "train_config.json").read_text())
    assert saved["query_model"] == standins.BERT_MODEL
