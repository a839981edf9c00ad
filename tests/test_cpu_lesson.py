"""The course's CPU mode, as a learner without a GPU runs it: the quickstart downloads the real
all-MiniLM-L6-v2 and XQuAD's German (here ../shared's copies, from a Hugging Face cache under the model's hub name
and from a local mirror), trains, and its checks must show a real improvement on questions about paragraphs it
never trained on.

CI trains on the first 160 questions (9 optimizer steps; f1 +0.045 and average rank -0.081 where the checks ask for
+0.02 and -0.05) instead of the learner's ~870 (one epoch, measured in
docs/benchmarks.md); the exercises are left out (nbval runs them in the small mode).
"""

import json
import os
import re
import shutil
from pathlib import Path

import pytest

from conftest import MINILM, XQUAD, execute_notebook, need

standins = pytest.importorskip("standins")
NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def shortened(notebook: dict, **values) -> dict:
    """The notebook with parameters set as a learner would edit them, and without its exercises."""
    cells = notebook["cells"]
    (parameters,) = [c for c in cells if "parameters" in c["metadata"].get("tags", [])]
    source = "".join(parameters["source"])
    for name, value in values.items():
        source, found = re.subn(rf"^{name} = .*$", f"{name} = {value!r}", source, flags=re.M)
        assert found == 1, name
    parameters["source"] = source
    (exercises,) = [i for i, c in enumerate(cells) if "".join(c["source"]).startswith("## Exercises")]
    notebook["cells"] = cells[:exercises] + cells[-1:]
    return notebook


def test_the_quickstart_cpu_mode_learns_german_questions(tmp_path):
    from dpr_nb.notebook.course import CPU_MODEL

    mirror = tmp_path / "mirror"
    mirror.mkdir()
    shutil.copy(need(XQUAD / "xquad.de.json"), mirror)
    standins.hub_cache(tmp_path / "hf", copies={CPU_MODEL: need(MINILM)})
    work = tmp_path / "notebooks"
    work.mkdir()
    notebook = json.loads((NOTEBOOKS / "00_quickstart.ipynb").read_text(encoding="utf-8"))
    with standins.serve(mirror) as url:
        environment = {
            **os.environ,
            "HF_HOME": str(tmp_path / "hf"),
            "HF_HUB_OFFLINE": "1",
            "DPR_NB_DATA_MIRROR": url,
            "DPR_NB_MODE": "cpu",
        }
        for name in ("HF_HUB_CACHE", "TRANSFORMERS_CACHE", "HUGGINGFACE_HUB_CACHE", "DPR_NB_SMOKE"):
            environment.pop(name, None)
        executed = execute_notebook(shortened(notebook, MAX_QUESTIONS=160, WARMUP_STEPS=2), work, environment)
    printed = "".join(
        text for cell in executed["cells"] for output in cell.get("outputs", []) for text in output.get("text", [])
    )
    assert "CPU mode (DPR_NB_MODE=cpu)" in printed
    assert (work / "data" / "xquad" / "de-dpr" / "test.json").is_file()  # downloaded through the mirror, converted
    checks = [line for line in printed.splitlines() if line.startswith(("✓", "✗"))]
    assert [line for line in checks if line.startswith("✗")] == [], checks
    # The held-out questions' in-batch loss falls too (the reports before and after training print it).
    before, after = (float(re.search(rf"{when} training:\s*loss=([\d.]+)", printed)[1]) for when in ("Before", "After"))
    assert after < before, (before, after)
    for what in (
        "the learning rate reached its peak",
        "average rank of the gold passage, after minus before",
        "gold passage first (f1), after minus before",
        "the reloaded model embeds as the trained one",
    ):
        assert any(line.startswith(f"✓ {what}") for line in checks), (what, checks)
