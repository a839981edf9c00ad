"""Every old name the package still answers to, in one place: each warns with a DeprecationWarning naming its new
name, and goes in the release CHANGELOG.md says (REMOVED_IN).

Renamed in 0.2, so that one word means one thing: the built-in dataset is "builtin" (was "embedded", which read as
"embeddings"), records copied to disk are `records_on_disk` (was "index", FAISS's word here), and the similarity
setting is `similarity_function` everywhere (Haystack's retriever's name). The tables below hold each old name; the
code that answers to one asks this module, so the warning is the same everywhere and points at the user's line.

Moved into folders in 0.3 (`dpr_nb.trainer` is `dpr_nb.training.trainer`): the old dotted name still imports the
module itself, through a finder on sys.meta_path installed when `dpr_nb` is imported.

Data written by old versions is not an old name: a `<file>.index` records folder is renamed in place
(dpr_nb.data.records_on_disk), silently, since the user has nothing to change. A saved train_config.json with old
field names loads with one warning naming the file, since saving it again updates it.
"""

from __future__ import annotations

import functools
import importlib
import importlib.abc
import importlib.util
import os
import sys
import warnings

REMOVED_IN = "0.4"
# Old names of a later release go later: a release's users get one release of warnings.
REMOVED_LATER = {"dpr_nb.training.runs.TensorBoardLogger": "0.5"}

# ---------------------------------------------------------------------------------------------------------------
# 0.2: names renamed so that one word means one thing

# TrainConfig's fields, wherever a field's name is taken: TrainConfig(...), replace, preset, --set, attributes and a
# saved train_config.json (dpr_nb.core.config).
RENAMED_FIELDS = {"similarity": "similarity_function", "index_on_disk": "records_on_disk"}
# The built-in dataset's name as a data_dir or eval_corpus, old -> new: "embedded" read as "embeddings" here.
RENAMED_DATA = {"embedded": "builtin"}
# Module attributes and class attributes: module (or module.Class) -> {old name: new name}.
RENAMED_ATTRIBUTES = {
    "dpr_nb": {"EMBEDDED_DATA": "BUILTIN_DATA", "IndexedDPRFile": "DPRFileOnDisk"},
    "dpr_nb.core.config": {"EMBEDDED_DATA": "BUILTIN_DATA"},
    "dpr_nb.data.records_on_disk": {"IndexedDPRFile": "DPRFileOnDisk"},
    "dpr_nb.data.records_on_disk.DPRFileOnDisk": {"index_dir": "folder"},
    "dpr_nb.model.encoders.BiEncoder": {"default_similarity": "similarity_function"},
    # Moved in 0.4, where every tracker lives now (a dotted new name is a module's attribute).
    "dpr_nb.training.runs": {"TensorBoardLogger": "dpr_nb.training.trackers.TensorBoardLogger"},
}
# Keyword arguments of our own functions (`renamed_keywords` answers them). Not the document stores': Haystack v1's
# InMemoryDocumentStore and FAISSDocumentStore take `similarity=`, and so do ours (dpr_nb.search).
RENAMED_KEYWORDS = {"similarity": "similarity_function"}
# Commands of the dpr-nb command line (dpr_nb.cli prints the notice: Python would not show the warning there).
RENAMED_COMMANDS = {"dpr-nb data index": "dpr-nb data records"}

# 0.3: the flat modules, now in folders. (`dpr_nb.data` is a folder itself now: its old module's names are answered
# by the folder's __getattr__, through `moved_attribute`; `dpr_nb.cli` is a folder whose __init__ keeps main.)
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


def warn(old: str, new: str, stacklevel: int | None = None) -> None:
    """A DeprecationWarning saying that `old` is now `new`, pointing at the line `stacklevel` frames above this
    call's caller, or (None) at the user's line: the nearest frame outside dpr_nb and the import machinery."""
    warn_renamed([(old, new)], stacklevel=None if stacklevel is None else stacklevel + 1)


def warn_renamed(renamed: list[tuple[str, str]], where: str = "", advice: str = "", stacklevel: int | None = None):
    """One warning for several old names met together ("`where`: a is now b; c is now d; ..."), such as the old
    fields of one saved config: said once, with `advice` on how to update them."""
    message = "; ".join(f"{old} is now {new}" for old, new in renamed)
    message = f"{where}: {message}" if where else message
    removed_in = max(REMOVED_LATER.get(old, REMOVED_IN) for old, _ in renamed)
    message += f"; the old name goes in dpr_nb {removed_in}" + (f" ({advice})." if advice else ".")
    level = _users_stacklevel() if stacklevel is None else stacklevel + 1
    warnings.warn(message, DeprecationWarning, stacklevel=level)


_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def _is_users(frame) -> bool:
    """Whether a frame is the user's code: outside dpr_nb and the import machinery, or the script being run
    (`python -m dpr_nb.cli` runs the package's own __main__)."""
    filename = frame.f_code.co_filename
    outside = not filename.startswith(_PACKAGE) and "importlib" not in filename
    return outside or frame.f_globals.get("__name__") == "__main__"


def _users_stacklevel() -> int:
    """The stacklevel that makes warnings.warn, called by this function's caller, point at the user's line.

    warnings.warn counts frames from its caller (level 1), not counting the import machinery's own
    (importlib._bootstrap), so neither does this count.
    """
    frame, level = sys._getframe(1), 1
    while frame.f_back is not None:
        frame = frame.f_back
        filename = frame.f_code.co_filename
        if not ("importlib" in filename and "_bootstrap" in filename):
            level += 1
        if _is_users(frame):
            break
    return level


def renamed_attribute(owner: str, name: str):
    """A module's __getattr__ for its old names: the new attribute's value, with the warning; AttributeError for a
    name that is neither."""
    new = RENAMED_ATTRIBUTES.get(owner, {}).get(name)
    if new is None:
        raise AttributeError(f"module {owner!r} has no attribute {name!r}")
    module, _, attribute = new.rpartition(".")
    if not _asked_by_the_import_machinery():
        warn(f"{owner}.{name}", new if module else f"{owner}.{new}")
    return getattr(importlib.import_module(module) if module else sys.modules[owner], attribute)


def _asked_by_the_import_machinery() -> bool:
    """Whether a module's __getattr__ (two frames up) was called by `from package import name`'s first asking (a
    hasattr in importlib's _handle_fromlist): the second asking, the user's line itself, says the warning. Nothing is
    cached on the module, so each use of an old name warns, wherever it is (Python shows each place once)."""
    return sys._getframe(3).f_code.co_name == "_handle_fromlist"


def renamed_property(owner: str, name: str) -> property:
    """A class attribute's old name (its table entry under "module.Class"), read and written as the new one."""
    new = RENAMED_ATTRIBUTES[owner][name]
    old_name, new_name = f"{owner.rsplit('.', 1)[-1]}.{name}", f"{owner.rsplit('.', 1)[-1]}.{new}"

    def read(self):
        warn(old_name, new_name)
        return getattr(self, new)

    def write(self, value) -> None:
        warn(old_name, new_name)
        setattr(self, new, value)

    return property(read, write, doc=f"Its name before 0.2: use {new}.")


def renamed_keywords(function):
    """A function that takes its keyword arguments' old names (RENAMED_KEYWORDS) too, each with the warning.

    >>> @renamed_keywords
    ... def score(similarity_function="dot_product"):
    ...     return similarity_function
    >>> score(similarity_function="cosine")
    'cosine'
    """
    name = function.__qualname__.removesuffix(".__init__")

    @functools.wraps(function)
    def with_old_keywords(*args, **kwargs):
        for old in RENAMED_KEYWORDS.keys() & kwargs.keys():
            new = RENAMED_KEYWORDS[old]
            if new in kwargs:
                from .errors import SettingsError  # this module imports nothing of the package when it loads

                raise SettingsError(
                    f"{name}({old}=..., {new}=...): {old!r} is the old name of {new!r}: give only {new}."
                )
            warn(f"{name}({old}=...)", f"{name}({new}=...)")
            kwargs[new] = kwargs.pop(old)
        return function(*args, **kwargs)

    return with_old_keywords


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
    if not _asked_by_the_import_machinery():
        warn(f"{folder}.{name}", f"{module.__name__}.{name}")
    return getattr(module, name)
