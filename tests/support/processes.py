"""Processes seen through /proc (Linux): which are whose children."""

from __future__ import annotations

import os


def child_pids(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (the streaming worker's: its token counter)."""
    children = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/stat") as stat:
                parent = int(stat.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError):  # not a process, or one that just ended
            continue
        if parent == pid:
            children.append(int(entry))
    return children
