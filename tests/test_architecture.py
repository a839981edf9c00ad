"""The package's shape: folders that show its parts, imports that go one way between them, no cycles."""

import ast
import re
from pathlib import Path

import pytest

import dpr_nb

PACKAGE = Path(__file__).resolve().parents[1] / "dpr_nb"

# Each part of the package, a folder or a module at its root, by layer: a module may import from its own part and from
# parts of a lower layer, never from a higher one. A new folder must be placed here.
LAYERS = {
    "core": 0,  # errors, safe writes, TrainConfig: what every part uses
    "data": 1,  # DPR files, batches, splits, words, Document
    "model": 2,  # encoders, texts to vectors, the loss, gradient caching, export
    "evaluation": 3,  # reports and corpus metrics of a model, without a trainer
    "training": 4,  # the one training path, the loop, checkpoints, saved folders, runs and sweeps
    "search": 5,  # document stores, FAISS, corpus encoding
    "tools": 6,  # downloads, conversion, mining
    "retriever": 7,  # DensePassageRetriever, Haystack v1's face over the parts below
    "notebook": 8,  # the course's helpers and the widgets
    "cli": 9,  # the dpr-nb command
    "__init__": 10,  # the package's lazy exports, and the old names' finder
}


def module_name(path: Path) -> str:
    """dpr_nb/training/trainer.py -> "training.trainer"; dpr_nb/data/__init__.py -> "data"; dpr_nb/retriever.py ->
    "retriever"; dpr_nb/__init__.py -> "__init__"."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


def part(module: str) -> str:
    """The part a module belongs to: its folder, or itself at the root ("training.trainer" -> "training")."""
    return module.split(".")[0]


def imports_within_the_package() -> dict[str, set[str]]:
    """Module -> the dpr_nb modules it imports anywhere in its source (function-level imports included: a cycle
    held open by an import inside a function is still a cycle). `from .folder import module` counts the module."""
    paths = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in paths.items():
        package = name.split(".") if path.name == "__init__.py" and name != "__init__" else name.split(".")[:-1]
        imported = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join([*base, *(node.module.split(".") if node.module else [])])
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("dpr_nb."):
                target = node.module.removeprefix("dpr_nb.")
            else:
                continue
            for alias in node.names:
                named = f"{target}.{alias.name}" if target else alias.name
                imported.add(named if named in paths else target or "__init__")
        graph[name] = {m for m in imported if m in paths} - {name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every import cycle, as the path that closes it (depth-first search; each found once from its first module)."""
    found, state = [], {}  # state: 1 while a module is on the current path, 2 once all its imports are explored

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for imported in sorted(graph.get(module, ())):
            if state.get(imported) == 1:
                found.append(path[path.index(imported) :] + [imported])  # back to a module on the path
            elif imported in graph and not state.get(imported):
                visit(imported, path + [imported])
        state[module] = 2

    for module in sorted(graph):
        if not state.get(module):
            visit(module, [module])
    return found


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_dpr_nb_has_no_import_cycles():
    graph = imports_within_the_package()
    # the finder sees the package, and imports between folders
    assert {"training.trainer", "retriever", "model.encoders", "data.dpr_file"} <= set(graph)
    assert "training.trainer" in graph["training.train"] and "data.dpr_file" in graph["data.splits"]
    assert cycles(graph) == [], "modules that import each other: give the shared idea its own module below them"
    assert "retriever" not in graph["training.trainer"]  # training never builds the Haystack-shaped retriever


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    return [
        f"{module} ({part(module)}, layer {LAYERS[part(module)]}) imports {imported} "
        f"({part(imported)}, layer {LAYERS[part(imported)]})"
        for module, imports in sorted(graph.items())
        for imported in sorted(imports)
        if LAYERS[part(imported)] > LAYERS[part(module)]
    ]


def test_the_layer_check_finds_an_upward_import():
    assert upward_imports({"data.splits": {"training.trainer"}, "training.trainer": {"data.splits"}}) == [
        "data.splits (data, layer 1) imports training.trainer (training, layer 4)"
    ]


def test_every_import_goes_down_the_layers():
    graph = imports_within_the_package()
    assert {part(module) for module in graph} == set(LAYERS), "place a new folder in LAYERS"
    assert upward_imports(graph) == []


def test_one_formatter_over_the_code():
    """`ruff format` (its settings in pyproject.toml) is the code's one style: run it before committing."""
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", "dpr_nb", "tests", "benchmarks"],
        cwd=PACKAGE.parent,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_architecture_doc_and_folder_maps_list_every_module_by_layer():
    """docs/architecture.md's file table names each module once, folder by folder in layer order; each folder's
    __init__ lists its modules, and the package's docstring its folders in layer order."""
    modules = {str(p.relative_to(PACKAGE.parent)) for p in PACKAGE.rglob("*.py") if p.name != "__main__.py"}
    table = re.findall(r"^\| `(dpr_nb/[\w/]+\.py)` \|", (PACKAGE.parent / "docs" / "architecture.md").read_text(), re.M)
    # every module once; a folder's __init__ only where it holds code of its own (the command line's)
    assert len(table) == len(set(table)) and set(table) <= modules
    assert {m for m in modules if not m.endswith("__init__.py")} <= set(table)
    layer = [LAYERS[part(module_name(PACKAGE.parent / m))] for m in table]
    assert layer == sorted(layer)  # grouped by layer, core first
    for folder in (p for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()):
        listed = re.findall(r"^- (\w+\.py) ", (folder / "__init__.py").read_text(encoding="utf-8"), re.M)
        assert sorted(listed) == sorted(p.name for p in folder.glob("*.py") if p.stem != "__init__"), folder
    folders = re.findall(r"^- (\w+)(?:/|\.py) ", dpr_nb.__doc__, re.M)
    assert folders == sorted(LAYERS, key=LAYERS.get)[: len(folders)] and set(folders) == set(LAYERS) - {"__init__"}


def test_the_wheel_takes_every_folder_of_the_package():
    """`packages = ["dpr_nb"]` left the folders out of a wheel: a git install on Colab could not import dpr_nb.core."""
    import fnmatch

    tomllib = pytest.importorskip("tomllib")
    pyproject = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text())
    find = pyproject["tool"]["setuptools"]["packages"]["find"]
    folders = {module_name(path) for path in PACKAGE.rglob("__init__.py")}
    packages = {"dpr_nb" if name == "__init__" else f"dpr_nb.{name}" for name in folders}
    assert {"dpr_nb", "dpr_nb.core", "dpr_nb.cli"} < packages
    taken = {name for name in packages if any(fnmatch.fnmatchcase(name, pattern) for pattern in find["include"])}
    assert taken == packages
