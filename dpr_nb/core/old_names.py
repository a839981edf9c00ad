"""Every old name the package still answers to, in one place: each warns with a DeprecationWarning naming its new
name, and goes in the release CHANGELOG.md says.

Modules moved into folders in 0.3 (`dpr_nb.trainer` is `dpr_nb.training.trainer`): the old dotted name still imports
the module itself, through a finder on sys.meta_path installed when `dpr_nb` is imported.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

REMOVED_IN = "0.4"

# 0.3: the flat modules, now in folders. (`dpr_nb.data` is a folder itself now: its old module's names are answered
# by the folder's __getattr__, through `moved_attribute`; `dpr_nb.cli` is a folder whose __init__ is the old module.)
MOVED_MODULES = {
    "dpr_nb.errors": "dpr_nb.core.errors",
    "dpr_nb.files": "dpr_nb.core.files",
    "dpr_nb.config": "dpr_nb.core.config",
    "dpr_nb.batches": "dpr_nb.data.batches",
    "dpr_nb.passages": "dpr_nb.data.passages",
    "dpr_nb.records_on_disk": "dpr_nb.data.records_on_disk",
    "dpr_nb.builtin_data": "dpr_nb.data.builtin_data",
    "dpr_nb.matching": "dpr_nb.data.matching",
    "dpr_nb.splits": "dpr_nb.data.splits",
    "dpr_nb.encoders": "dpr_nb.model.encoders",
    "dpr_nb.st_format": "dpr_nb.model.st_format",
    "dpr_nb.haystack_folders": "dpr_nb.model.haystack_folders",
    "dpr_nb.embedding": "dpr_nb.model.embedding",
    "dpr_nb.loss": "dpr_nb.model.loss",
    "dpr_nb.grad_cache": "dpr_nb.model.grad_cache",
    "dpr_nb.interop": "dpr_nb.model.interop",
    "dpr_nb.report": "dpr_nb.evaluation.report",
    "dpr_nb.corpus_eval": "dpr_nb.evaluation.corpus_eval",
    "dpr_nb.inspection": "dpr_nb.evaluation.inspection",
    "dpr_nb.plots": "dpr_nb.evaluation.plots",
    "dpr_nb.trainer": "dpr_nb.training.trainer",
    "dpr_nb.checkpoints": "dpr_nb.training.checkpoints",
    "dpr_nb.distributed": "dpr_nb.training.distributed",
    "dpr_nb.saved_model": "dpr_nb.training.saved_model",
    "dpr_nb.model_card": "dpr_nb.training.model_card",
    "dpr_nb.runs": "dpr_nb.training.runs",
    "dpr_nb.sweeps": "dpr_nb.training.sweeps",
    "dpr_nb.document_store": "dpr_nb.search.document_store",
    "dpr_nb.corpus_encoding": "dpr_nb.search.corpus_encoding",
    "dpr_nb.faiss_store": "dpr_nb.search.faiss_store",
    "dpr_nb.squad": "dpr_nb.tools.squad",
    "dpr_nb.mining": "dpr_nb.tools.mining",
    "dpr_nb.data_tools": "dpr_nb.tools.data_tools",
    "dpr_nb.download": "dpr_nb.tools.download",
    "dpr_nb.course": "dpr_nb.notebook.course",
    "dpr_nb.widgets": "dpr_nb.notebook.widgets",
}
# The old modules whose names are folders now: the names they held, answered by the folder's __getattr__.
MOVED_INTO_FOLDER = {"dpr_nb.data": "dpr_nb.data.dpr_file"}


def warn(old: str, new: str, stacklevel: int | None = 2) -> None:
    """The warning, pointing at the user's line `stacklevel` frames above this call's caller, or (None) at the
    nearest frame outside this module and the import machinery (for an import, whose depth varies)."""
    if stacklevel is None:
        # warnings.warn does not count the import machinery's frames (importlib._bootstrap): only this module's.
        frame, stacklevel = sys._getframe(1), 1
        while frame is not None and (frame.f_code.co_filename == __file__ or "importlib" in frame.f_code.co_filename):
            stacklevel += frame.f_code.co_filename == __file__
            frame = frame.f_back
    warnings.warn(
        f"{old} is now {new}; the old name goes in dpr_nb {REMOVED_IN}.", DeprecationWarning, stacklevel=stacklevel + 1
    )


class _MovedModule(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports an old module name as the module at its new place (the same object, not a copy)."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in MOVED_MODULES:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec):
        new = MOVED_MODULES[spec.name]
        warn(spec.name, new, stacklevel=None)
        return importlib.import_module(new)

    def exec_module(self, module) -> None:
        pass  # the module at its new place ran already


def install() -> None:
    if not any(isinstance(finder, _MovedModule) for finder in sys.meta_path):
        sys.meta_path.append(_MovedModule())


def moved_attribute(folder: str, name: str):
    """A folder's __getattr__: a name its old module (of the same dotted name) held, with a warning."""
    module = importlib.import_module(MOVED_INTO_FOLDER[folder])
    if name.startswith("__") or not hasattr(module, name):
        raise AttributeError(f"module {folder!r} has no attribute {name!r}")
    warn(f"{folder}.{name}", f"{module.__name__}.{name}", stacklevel=3)  # the line that asked for the name
    value = getattr(module, name)
    setattr(sys.modules[folder], name, value)  # said once: `from folder import name` asks twice
    return value
