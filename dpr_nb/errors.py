"""The errors a user's run can end with, apart from the code that raises them.

The command line catches these to print one line instead of a traceback. They live here, with no torch or
transformers import, so that `dpr-nb data stats` and `dpr-nb --help` can name them without loading the model stack.
Bad data is `data.DPRDataError`; files that cannot be written are `files.SaveFailedError` and `FolderInUseError`.
"""


class TrainingMemoryError(RuntimeError):
    """The GPU ran out of memory; the message says which settings to change."""


class TrainingDivergedError(RuntimeError):
    """The loss became NaN or infinite: training stopped before the weights were stepped, checkpointed or saved."""


class DamagedCheckpointError(RuntimeError):
    """A checkpoint that cannot be read; the message names it and the fix."""
