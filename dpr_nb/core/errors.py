"""The errors a user's run can end with, apart from the code that raises them: one family under `DPRNBError`.

Every error a user's run can end with derives from `DPRNBError`, so a script can catch that one class; each also keeps
the built-in base it always had, so code that catches ValueError, ImportError, RuntimeError or OSError still does:
- `SettingsError` (a ValueError): a setting, argument or input given wrongly; the message names it and the fix;
- `MissingDependencyError` (an ImportError): an optional dependency is not installed; the message says the pip command;
- `TrainingMemoryError`, `TrainingDivergedError`, `DamagedCheckpointError` (RuntimeErrors): below;
- elsewhere: bad data is `data.DPRDataError` (a ValueError); files that cannot be written are
  `files.SaveFailedError` and `FolderInUseError` (OSErrors); a server's refusal is `download.HTTPDownloadError`.

The command line catches `DPRNBError` (and OSError, the environment's: a missing file, a full disk, a lost
connection) to print one line instead of a traceback; any other error is a bug in the code and shows its traceback.
They live here, with no torch or transformers import, so that `dpr-nb data stats` and `dpr-nb --help` can name them
without loading the model stack; this module imports nothing from the package.
"""


class DPRNBError(Exception):
    """The base of every error a user's run can end with: what the command line prints in one line, no traceback."""


class SettingsError(DPRNBError, ValueError):
    """A setting, argument or input the user gave wrongly; the message names it and says the fix."""


class MissingDependencyError(DPRNBError, ImportError):
    """An optional dependency is not installed; the message says the pip command that installs it."""


class TrainingMemoryError(DPRNBError, RuntimeError):
    """The GPU ran out of memory; the message says which settings to change."""


class TrainingDivergedError(DPRNBError, RuntimeError):
    """The loss became NaN or infinite: training stopped before the weights were stepped, checkpointed or saved."""


class DamagedCheckpointError(DPRNBError, RuntimeError):
    """A checkpoint that cannot be read; the message names it and the fix."""
