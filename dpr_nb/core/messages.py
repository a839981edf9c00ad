"""The package's messages. Library modules report what a run does (resuming an encoding, skipping a download that
is already done) through `logging`, under the "dpr_nb" logger at INFO, so that a script, a torchrun job or a notebook
decides what is shown; Python shows only warnings by default. The command line and the course's notebooks show them,
as plain lines on standard output:

    >>> import logging
    >>> show_messages()
    >>> logging.getLogger("dpr_nb.tools.download").info("Found data/train.json already.")
    Found data/train.json already.
    >>> logging.getLogger("dpr_nb").setLevel(logging.WARNING)   # quiet again
"""

from __future__ import annotations

import logging
import sys

LOGGER = "dpr_nb"


class _StandardOutput(logging.StreamHandler):
    """Writes to whatever sys.stdout is when a message comes (a notebook's cell output, a redirect), not to the
    stream that was standard output when the handler was made."""

    def __init__(self):
        super().__init__(sys.stdout)

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stdout
        super().emit(record)


def show_messages(level: int = logging.INFO) -> None:
    """Show the package's messages from `level` up on standard output, each as its plain text (once, however often
    this is called). The messages then stop at this handler: a root logger configured elsewhere does not print them
    a second time."""
    logger = logging.getLogger(LOGGER)
    logger.setLevel(level)
    # Found by a mark, not by class: a module reloaded (autoreload) defines the class anew.
    if not any(getattr(handler, "dpr_nb_messages", False) for handler in logger.handlers):
        handler = _StandardOutput()
        handler.dpr_nb_messages = True
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
    logger.propagate = False
