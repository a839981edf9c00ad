"""One error family: every error a user's run can end with is a DPRNBError, which the command line prints in one line;
any other exception is a bug in the code and keeps its traceback."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import dpr_nb
from dpr_nb.cli import main
from dpr_nb.core.errors import (
    DamagedCheckpointError,
    DPRNBError,
    MissingDependencyError,
    SettingsError,
    TrainingDivergedError,
    TrainingMemoryError,
)
from dpr_nb.core.files import FolderInUseError, SaveFailedError
from dpr_nb.data.dpr_file import DPRDataError
from dpr_nb.tools import data_tools
from dpr_nb.tools.download import HTTPDownloadError

# Exception classes of dpr_nb that are not errors a user sees, each with why.
NOT_USER_ERRORS = {
    "dpr_nb.training.runs.RunStopped",  # control flow: a callback stops a run, and train_run records it as stopped
}


def exception_classes() -> dict[str, type]:
    """Every exception class defined in a dpr_nb module, by its qualified name."""
    found = {}
    for module_info in pkgutil.walk_packages(dpr_nb.__path__, "dpr_nb."):
        if module_info.name.endswith("__main__"):
            continue  # running it is the command line itself
        module = importlib.import_module(module_info.name)
        for _, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, BaseException) and value.__module__ == module.__name__:
                found[f"{value.__module__}.{value.__qualname__}"] = value
    return found


def test_every_exception_a_user_can_see_is_a_dpr_nb_error():
    classes = exception_classes()
    expected = {
        "dpr_nb.core.errors.SettingsError",
        "dpr_nb.data.dpr_file.DPRDataError",
        "dpr_nb.core.files.SaveFailedError",
    }
    assert expected <= set(classes)
    assert NOT_USER_ERRORS <= set(classes), "an allowed exception is gone: take it off NOT_USER_ERRORS"
    outside = sorted(
        name for name, cls in classes.items() if name not in NOT_USER_ERRORS and not issubclass(cls, DPRNBError)
    )
    assert outside == [], "derive these from dpr_nb.core.errors.DPRNBError (or allow one, saying why)"


def test_each_error_keeps_the_built_in_base_it_always_had():
    for error, base in [
        (SettingsError, ValueError),
        (DPRDataError, ValueError),
        (MissingDependencyError, ImportError),
        (TrainingMemoryError, RuntimeError),
        (TrainingDivergedError, RuntimeError),
        (DamagedCheckpointError, RuntimeError),
        (HTTPDownloadError, RuntimeError),
        (SaveFailedError, OSError),
        (FolderInUseError, OSError),
    ]:
        assert issubclass(error, DPRNBError) and issubclass(error, base), error
    assert str(HTTPDownloadError("https://example.org/x", 404, "Not Found")).startswith("Downloading https://")
    assert dpr_nb.DPRNBError is DPRNBError and dpr_nb.SettingsError is SettingsError


@pytest.mark.parametrize(
    "error",
    [
        SettingsError("--n 0: a subset needs at least 1 question."),
        DPRDataError("data.json, record 3: field 'question' is empty."),
        MissingDependencyError('FAISSDocumentStore needs faiss: pip install "dpr_nb[faiss]"'),
        FileNotFoundError("DPR data file not found: data.json."),  # the machine's: an OSError
    ],
    ids=lambda e: type(e).__name__,
)
def test_the_command_line_prints_a_user_error_in_one_line(error, monkeypatch, capsys):
    def fails(path):
        raise error

    monkeypatch.setattr(data_tools, "file_stats", fails)
    assert main(["data", "stats", "data.json"]) == 1
    captured = capsys.readouterr()
    assert captured.err == f"error: {error}\n" and "Traceback" not in captured.err


@pytest.mark.parametrize("bug", [KeyError("x"), ValueError("not a user's"), TypeError("wrong type")], ids=repr)
def test_the_command_line_lets_a_programming_error_show_its_traceback(bug, monkeypatch):
    def fails(path):
        raise bug

    monkeypatch.setattr(data_tools, "file_stats", fails)
    with pytest.raises(type(bug)):
        main(["data", "stats", "data.json"])
