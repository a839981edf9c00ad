"""The quickstart's widgets render in a real JupyterLab: scripts/screenshot_notebook.py under headless Chromium.

Skipped unless selenium is importable and chromium and chromedriver are on PATH
(pip install selenium; apt-get install chromium chromium-driver). About half a minute when it runs.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "screenshot_notebook.py"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

missing = [
    what
    for what, found in (
        ("selenium", importlib.util.find_spec("selenium")),
        ("chromium", shutil.which("chromium") or shutil.which("chromium-browser")),
        ("chromedriver", shutil.which("chromedriver")),
    )
    if not found
]
pytestmark = pytest.mark.skipif(
    bool(missing),
    reason=f"needs a headless browser, missing: {', '.join(missing)} "
    "(pip install selenium; apt-get install chromium chromium-driver)",
)


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) from the PNG's IHDR chunk, which the format puts first."""
    head = path.read_bytes()[:24]
    assert head[:8] == PNG_SIGNATURE, f"{path} is not a PNG"
    assert head[12:16] == b"IHDR"
    return struct.unpack(">II", head[16:24])


def test_quickstart_widgets_render_in_jupyterlab(tmp_path):
    output = tmp_path / "quickstart.png"
    # --no-wait: screenshot once the panel has rendered; the nbval run of the notebook checks the cells after it.
    command = [sys.executable, str(SCRIPT), "--output", str(output), "--no-wait", "--timeout", "180"]
    result = subprocess.run(
        command, cwd=REPO, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"}
    )
    report = f"{result.stdout[-6000:]}\n----- stderr -----\n{result.stderr[-3000:]}"  # the script's report first
    assert result.returncode == 0, f"the script failed ({result.returncode}):\n{report}"

    assert output.is_file(), report
    width, height = png_size(output)
    assert width >= 800 and height >= 600, (width, height)
    assert output.stat().st_size > 20_000  # a rendered page, not a blank one

    rendered = re.search(r"^WIDGETS_RENDERED=(\d+)$", result.stdout, re.MULTILINE)
    broken = re.search(r"^WIDGETS_BROKEN=(\d+)$", result.stdout, re.MULTILINE)
    assert rendered and broken, report
    # The panel: a preset menu, section headings and ~20 controls, each a widget element or more.
    assert int(rendered.group(1)) >= 20, report
    assert int(broken.group(1)) == 0, report
    # The repository's notebook keeps no outputs: the script ran (and JupyterLab autosaved) a copy.
    cells = json.loads((REPO / "notebooks" / "00_quickstart.ipynb").read_text())["cells"]
    assert not [cell["outputs"] for cell in cells if cell["cell_type"] == "code" and cell["outputs"]]
