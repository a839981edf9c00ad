"""How much memory this process may use: the machine's, or less where a container caps it (Binder's 2 GB, Colab's
~12 GB), so that work that cannot fit is refused in one line before it starts, not killed an hour in.

    >>> limit = memory_limit()
    >>> limit is None or limit > 0
    True
"""

from __future__ import annotations

import os
from pathlib import Path

# A container's cap, where the kernel says it: cgroup v2, then v1 ("max" or a huge number: no cap).
CGROUP_LIMITS = (Path("/sys/fs/cgroup/memory.max"), Path("/sys/fs/cgroup/memory/memory.limit_in_bytes"))


def memory_limit() -> int | None:
    """Bytes of memory this process may use (the smaller of the machine's and its container's cap), or None where
    neither can be read (Windows)."""
    limits = []
    try:
        limits.append(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        pass
    for path in CGROUP_LIMITS:
        try:
            value = path.read_text().strip()
        except OSError:
            continue
        if value.isdigit() and int(value) < 2**60:
            limits.append(int(value))
    return min(limits) if limits else None
