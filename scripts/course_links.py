"""Where Colab and Binder find the course: the repository and ref, said once in pyproject.toml, written everywhere.

    python scripts/course_links.py           # write the badges and install cells from pyproject.toml
    python scripts/course_links.py --check   # exit 1, naming each place that disagrees (tests/test_front_doors.py)

`[tool.dpr_nb.course]` in pyproject.toml holds `repository` ("owner/name" on GitHub) and `ref` (a branch or a tag).
Every notebook's first markdown cell has a Colab badge that opens that notebook at that ref, and its first code
cell installs the package from the same ref, so the notebook a learner opens and the code it runs are the same
version. The README's Colab and Binder badges use them too. Releasing means changing `ref` to the new tag and
running this script.

Colab needs only what it lacks (dpr_nb's small dependencies: ijson, bm25s): torch, transformers and ipywidgets are
Colab's own, and pyproject.toml's lower bounds keep pip from replacing them, so no runtime restart is needed. pip's
output is shown as it comes, and a failure stops the cell with what to do.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))

INSTALL_CELL = """# On Colab: install dpr_nb and the little Colab lacks (pip's output shows below). Elsewhere: nothing.
import sys

if "google.colab" in sys.modules:
    import subprocess

    PACKAGE = "dpr-nb @ git+https://github.com/{repository}@{ref}"
    pip = subprocess.Popen([sys.executable, "-m", "pip", "install", PACKAGE], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
    for line in pip.stdout:
        print(line, end="")
    if pip.wait() != 0:
        raise RuntimeError(f"pip could not install {{PACKAGE}}: its message is above. Check that the runtime is "
                           "connected (Runtime > Change runtime type, then reconnect) and run this cell again.")"""


def settings() -> dict:
    import tomllib  # Python 3.11 and later

    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["dpr_nb"]["course"]


def colab_badge(repository: str, ref: str, notebook: str) -> str:
    url = f"https://colab.research.google.com/github/{repository}/blob/{ref}/notebooks/{notebook}"
    return f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({url})"


def binder_badge(repository: str, ref: str) -> str:
    url = f"https://mybinder.org/v2/gh/{repository}/{ref}?urlpath=lab/tree/notebooks/00_quickstart.ipynb"
    return f"[![Binder](https://mybinder.org/badge_logo.svg)]({url})"


_COLAB = re.compile(r"\[!\[Open In Colab\]\([^)]*\)\]\(https://colab\.research\.google\.com/github/[^)]*\)")
_BINDER = re.compile(r"\[!\[Binder\]\([^)]*\)\]\(https://mybinder\.org/v2/gh/[^)]*\)")


def expected_notebook(notebook: dict, name: str, repository: str, ref: str) -> dict:
    """The notebook with its badge and its install cell (the first code cell) as pyproject.toml says."""
    cells = notebook["cells"]
    first_markdown = next(c for c in cells if c["cell_type"] == "markdown")
    text = _COLAB.sub(colab_badge(repository, ref, name), "".join(first_markdown["source"]))
    first_markdown["source"] = text.splitlines(keepends=True)
    first_code = next(c for c in cells if c["cell_type"] == "code")
    first_code["source"] = INSTALL_CELL.format(repository=repository, ref=ref).splitlines(keepends=True)
    return notebook


def expected_readme(text: str, repository: str, ref: str) -> str:
    text = _COLAB.sub(colab_badge(repository, ref, "00_quickstart.ipynb"), text)
    return _BINDER.sub(binder_badge(repository, ref), text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="report disagreements instead of writing")
    args = parser.parse_args(argv)
    course = settings()
    repository, ref = course["repository"], course["ref"]
    wrong = []
    for path in NOTEBOOKS:
        before = path.read_text(encoding="utf-8")
        after = (
            json.dumps(expected_notebook(json.loads(before), path.name, repository, ref), indent=1, ensure_ascii=False)
            + "\n"
        )
        if after != before:
            wrong.append(path)
            if not args.check:
                path.write_text(after, encoding="utf-8")
    readme = ROOT / "README.md"
    before = readme.read_text(encoding="utf-8")
    after = expected_readme(before, repository, ref)
    if after != before:
        wrong.append(readme)
        if not args.check:
            readme.write_text(after, encoding="utf-8")
    for path in wrong:
        verb = "disagrees with" if args.check else "now follows"
        print(f"{path.relative_to(ROOT)} {verb} pyproject.toml's [tool.dpr_nb.course] ({repository}@{ref})")
    if args.check and wrong:
        print("Run `python scripts/course_links.py` to write them.")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
