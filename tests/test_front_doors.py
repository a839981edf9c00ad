"""The ways in: a notebook opened on Binder or Colab without a GPU, the README's commands, the course's links.

Each notebook's first cells (the install cell and the parameters cell) run as Binder and Colab would run them: no
DPR_NB_MODE, no GPU, and on "Colab" a google.colab module with pip stood in for. They must choose the CPU mode (a
real small model on real questions) and say so, and on Colab install the package from the repository and ref
pyproject.toml names, showing pip's output and explaining a failure.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
TRAINING_NOTEBOOKS = {"00_quickstart", "02_train", "03_evaluate", "04_explore"}  # the ones that ask for a GPU

# Runs each scenario given on stdin (a notebook's first cells, whether on "Colab", pip's exit status) in a namespace of
# its own, one after another in one interpreter: a fresh interpreter for each spent about 4 seconds of a CI core
# importing torch. On "Colab", a google.colab module is there and pip is a stand-in that records its command.
DRIVER = textwrap.dedent(
    """
    import contextlib, io, json, subprocess, sys, types

    real_popen = subprocess.Popen
    results = []
    for cells, colab, pip_status in json.loads(sys.stdin.read()):
        commands = []

        class Pip:
            def __init__(self, command, **kwargs):
                commands.append(command)
                self.stdout = iter(["Collecting dpr-nb\\n", "Successfully installed dpr-nb\\n"])

            def wait(self):
                return pip_status

        for name in ("google", "google.colab"):
            sys.modules.pop(name, None)
            if colab:
                sys.modules[name] = types.ModuleType(name)
        # Only pip is stood in for: other programs (ldconfig, which ctypes asks about libraries) run as usual.
        subprocess.Popen = lambda command, **kwargs: (
            Pip(command) if colab and command[1:4] == ["-m", "pip", "install"] else real_popen(command, **kwargs)
        )
        namespace, printed = {}, io.StringIO()
        try:
            with contextlib.redirect_stdout(printed):
                for source in cells:
                    exec(compile(source, "<cell>", "exec"), namespace)
            error = None
        except Exception as e:
            error = f"{type(e).__name__}: {e}"
        mode = namespace.get("MODE")
        results.append({"mode": mode, "pip": commands, "error": error, "printed": printed.getvalue()})
    print("RESULT " + json.dumps(results))
    """
)


def first_cells(path: Path) -> list[str]:
    """The sources of the cells up to and including the parameters cell."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    sources = []
    for cell in cells:
        if cell["cell_type"] == "code":
            sources.append("".join(cell["source"]))
            if "parameters" in cell["metadata"].get("tags", []):
                return sources
    raise AssertionError(f"{path.name} has no cell tagged 'parameters'")


def run_first_cells(scenarios: list[tuple[Path, bool, int]]) -> list[dict]:
    """For each (notebook, on Colab, pip's exit status): MODE, pip's commands, the error and what was printed."""
    env = {k: v for k, v in os.environ.items() if k not in ("DPR_NB_MODE", "DPR_NB_SMOKE")}
    env["CUDA_VISIBLE_DEVICES"] = ""  # no GPU, as on Binder and a Colab CPU runtime
    result = subprocess.run(
        [sys.executable, "-c", DRIVER],
        input=json.dumps([[first_cells(path), colab, pip_status] for path, colab, pip_status in scenarios]),
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT / "notebooks",
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.rpartition("RESULT ")[2])


SCENARIOS = [(path, colab, 0) for path in NOTEBOOKS for colab in (False, True)] + [(NOTEBOOKS[0], True, 1)]


@pytest.fixture(scope="module")
def first_cells_run():
    """Each scenario's outcome, by (notebook, on Colab, pip's exit status)."""
    return dict(zip(SCENARIOS, run_first_cells(SCENARIOS)))


def course() -> dict:
    tomllib = pytest.importorskip("tomllib")
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["dpr_nb"]["course"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_without_a_gpu_binder_and_colab_choose_the_cpu_mode(path, first_cells_run):
    for colab in (False, True):
        outcome = first_cells_run[path, colab, 0]
        printed = outcome["printed"]
        assert outcome["error"] is None and outcome["mode"] == "cpu", (colab, outcome)
        mode_line = [line for line in printed.splitlines() if "mode" in line]
        assert mode_line == [
            "CPU mode (no NVIDIA GPU here): all-MiniLM-L6-v2 learns XQuAD's German questions. "
            "DPR_NB_MODE=small runs in seconds."
        ], printed
        if colab:  # pip installs the package from the one place that names it, and its output is shown
            expected = f"dpr-nb @ git+https://github.com/{course()['repository']}@{course()['ref']}"
            assert outcome["pip"] == [[sys.executable, "-m", "pip", "install", expected]]
            assert "Successfully installed dpr-nb" in printed
        else:
            assert outcome["pip"] == []


def test_a_failed_install_on_colab_says_what_to_do(first_cells_run):
    outcome = first_cells_run[NOTEBOOKS[0], True, 1]
    assert outcome["error"].startswith("RuntimeError: pip could not install dpr-nb @ git+https://github.com/")
    assert "its message is above" in outcome["error"] and "run this cell again" in outcome["error"]


def test_badges_and_install_cells_follow_the_one_place_that_names_the_repository():
    course()  # skips where tomllib is missing (Python 3.10)
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "course_links.py"), "--check"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout
    readme = (ROOT / "README.md").read_text()
    repository, ref = course()["repository"], course()["ref"]
    assert f"colab.research.google.com/github/{repository}/blob/{ref}/notebooks/00_quickstart.ipynb" in readme
    assert f"mybinder.org/v2/gh/{repository}/{ref}?" in readme


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_only_notebooks_that_train_ask_colab_for_a_gpu(path):
    metadata = json.loads(path.read_text(encoding="utf-8"))["metadata"]
    asks = metadata.get("accelerator") == "GPU" or "gpuType" in metadata.get("colab", {})
    assert asks == (path.stem in TRAINING_NOTEBOOKS)


def test_ci_runs_exactly_the_readmes_two_commands():
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"```bash\n(.*?)```", readme, flags=re.S).group(1)
    commands = [
        line for line in block.splitlines() if line.strip() and not line.startswith(("#", "git ", "python -m venv"))
    ]
    assert len(commands) == 2 and "dpr-nb demo" in commands[0] and "pytest" in commands[1]
    ci = [line for line in (ROOT / ".ci" / "run").read_text().splitlines() if line and not line.startswith("#")]
    assert ci[-2:] == commands
    assert not any("torch" in command for command in commands)  # torch comes from the dependencies, as anywhere


def test_binder_pins_its_python_and_a_cpu_torch():
    assert re.fullmatch(r"python-3\.\d+\n?", (ROOT / "binder" / "runtime.txt").read_text())
    requirements = (ROOT / "binder" / "requirements.txt").read_text().splitlines()
    assert any(re.fullmatch(r"torch==[\d.]+\+cpu", line) for line in requirements)
    assert "-e ." in requirements
