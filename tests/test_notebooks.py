"""The course's conventions, checked on every notebook in notebooks/ (nbval runs them; this checks their shape)."""

import json
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_follows_the_course_conventions(path):
    notebook = json.loads(path.read_text(encoding="utf-8"))
    cells = notebook["cells"]
    code = [c for c in cells if c["cell_type"] == "code"]
    # Outputs stay out of git: a notebook is run, not stored run.
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code), "outputs not stripped"
    # An "Open in Colab" badge pointing at this very notebook (its ref: tests/test_front_doors.py).
    first = "".join(cells[0]["source"])
    assert "/blob/" in first and f"/notebooks/{path.name})" in first
    # The first code cell installs the package on Colab and does nothing anywhere else.
    install = "".join(code[0]["source"])
    assert '"google.colab" in sys.modules' in install and "pip" in install
    # Exactly one parameters cell, which chooses the mode (dpr_nb.notebook.course) and makes the checks.
    parameters = [c for c in code if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(parameters) == 1
    source = "".join(parameters[0]["source"])
    assert "MODE = course_mode()" in source and 'SMOKE = MODE == "small"' in source
    assert "check = Checks(SMOKE)" in source
    # Key results are checked in cells (asserted in the small mode), so a notebook that runs but goes wrong fails
    # CI; a bare assert would also stop a real run, whose numbers vary.
    assert any("check(" in "".join(c["source"]) for c in code)
    assert not any(line.lstrip().startswith("assert ") for c in code for line in c["source"])
    # It ends by saying what the learner built and where to go next.
    assert "".join(cells[-1]["source"]).startswith("## What you built, and where to go next")


def test_the_course_is_all_there():
    assert [p.name for p in NOTEBOOKS] == [
        "00_quickstart.ipynb",
        "01_data.ipynb",
        "02_train.ipynb",
        "03_evaluate.ipynb",
        "04_explore.ipynb",
    ]
