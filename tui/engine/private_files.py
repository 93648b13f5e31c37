"""Files that hold prompts, answers or logs are private to their owner: folders 0700, files 0600.

On systems without POSIX permissions (Windows) the modes are ignored, as Python does.
"""

from __future__ import annotations

import os
from pathlib import Path

FOLDER_MODE = 0o700
FILE_MODE = 0o600


def private_folder(path: Path) -> Path:
    """Create ``path`` (and missing parents) readable by its owner only; tighten it if it exists."""
    path.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
    _restrict(path, FOLDER_MODE)
    return path


def private_file(path: Path) -> Path:
    """Make sure ``path`` exists and only its owner can read or write it (its folder likewise)."""
    private_folder(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), FILE_MODE)
    os.close(fd)
    _restrict(path, FILE_MODE)
    return path


def create_private(path: Path, *, exclusive: bool = True):
    """Open a new file for writing text, mode 0600. With ``exclusive`` it must not exist yet,
    so an export never overwrites a file silently (FileExistsError instead)."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else os.O_TRUNC) | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags, FILE_MODE)
    return os.fdopen(fd, "w", encoding="utf-8", newline="\n")


def _restrict(path: Path, mode: int) -> None:
    try:
        if os.stat(path).st_mode & 0o777 != mode:
            os.chmod(path, mode)
    except (NotImplementedError, PermissionError):  # not ours to change: leave it
        pass
