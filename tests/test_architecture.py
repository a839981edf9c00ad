"""The package's shape: modules import each other in one direction only."""

import ast
import re
from pathlib import Path

import dpr_nb

PACKAGE = Path(__file__).resolve().parents[1] / "dpr_nb"


def imports_within_the_package() -> dict[str, set[str]]:
    """Module -> the dpr_nb modules it imports anywhere in its source (function-level imports included: a cycle
    held open by an import inside a function is still a cycle)."""
    graph = {}
    for path in PACKAGE.glob("*.py"):
        imported = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                imported |= {node.module.split(".")[0]} if node.module else {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("dpr_nb."):
                imported.add(node.module.split(".")[1])
        graph[path.stem] = imported - {path.stem}
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
    assert {"trainer", "retriever", "encoders", "data", "records_on_disk"} <= set(graph)  # the finder sees the package
    assert cycles(graph) == [], "modules that import each other: give the shared idea its own module below them"
    assert "retriever" not in graph["trainer"]  # training never builds the Haystack-shaped retriever


# Every module's layer; an import may only go to its own layer or one below. A new module must be placed here.
ENGINE, TRAINING, TOOLS, FACES = 0, 1, 2, 3
LAYERS = {
    # The engine: files and formats, the model's parts, texts to vectors, the loss and what it measures. corpus_eval
    # is here beside report: ranking a corpus and scoring it is what the trainer reports at every evaluation.
    "files": ENGINE,
    "errors": ENGINE,
    "config": ENGINE,
    "data": ENGINE,
    "batches": ENGINE,
    "passages": ENGINE,
    "records_on_disk": ENGINE,
    "builtin_data": ENGINE,
    "matching": ENGINE,
    "document_store": ENGINE,
    "st_format": ENGINE,
    "haystack_folders": ENGINE,
    "encoders": ENGINE,
    "embedding": ENGINE,
    "loss": ENGINE,
    "grad_cache": ENGINE,
    "report": ENGINE,
    "corpus_eval": ENGINE,
    "distributed": ENGINE,
    "checkpoints": ENGINE,
    # Training: which questions a run trains on, and the loop.
    "splits": TRAINING,
    "trainer": TRAINING,
    "train": TOOLS,  # the one training path: above saved_model, which it saves through
    # Tools that use a model or the data: indexing, conversion, mining, inspection, plots, the model card.
    "corpus_encoding": TOOLS,
    "faiss_store": TOOLS,
    "inspection": TOOLS,
    "plots": TOOLS,
    "model_card": TOOLS,
    "saved_model": TOOLS,
    "squad": TOOLS,
    "mining": TOOLS,
    "data_tools": TOOLS,
    "download": TOOLS,
    "runs": TOOLS,
    "sweeps": TOOLS,
    # The faces a user meets: Haystack's retriever, export, widgets, the command line.
    "retriever": FACES,
    "interop": FACES,
    "widgets": FACES,
    "course": FACES,
    "cli": FACES,
    "__init__": FACES,
}


def test_every_import_goes_down_the_layers():
    graph = imports_within_the_package()
    assert set(graph) == set(LAYERS), "place a new module in LAYERS"
    upward = [
        f"{module} (layer {LAYERS[module]}) imports {imported} (layer {LAYERS[imported]})"
        for module, imports in graph.items()
        for imported in imports
        if imported in LAYERS and LAYERS[imported] > LAYERS[module]
    ]
    assert upward == []


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


def test_readme_and_package_map_list_every_module_by_layer():
    """docs/architecture.md's file table and dpr_nb/__init__.py's map name each module once, layer by layer."""
    modules = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__")
    table = re.findall(
        r"^\| `dpr_nb/(\w+)\.py` \|", (PACKAGE.parent / "docs" / "architecture.md").read_text(), flags=re.M
    )
    package_map = re.findall(r"^- (\w+)\.py ", dpr_nb.__doc__, flags=re.M)
    for listed in (table, package_map):
        assert sorted(listed) == modules
        assert [LAYERS[m] for m in listed] == sorted(LAYERS[m] for m in listed)  # grouped by layer, engine first
