"""Files that hold prompts, answers or logs are private to their owner: folders 0700, files 0600.

One rule for every folder streamtui writes into (history, logs, exports, config): a folder it
creates is 0700; an existing folder is tightened only if it is streamtui's own (the config,
data, state, log or cache folder platformdirs names). Any other existing folder is left as it
is: a path the user chose (``STREAMTUI_HISTORY=./runs.sqlite3``, ``STREAMTUI_LOG=~/x.log``)
may sit in a folder others share, and its files are private anyway.

On systems without POSIX permissions (Windows) the modes are ignored, as Python does.
"""

from __future__ import annotations

import os
from pathlib import Path

FOLDER_MODE = 0o700
FILE_MODE = 0o600


def streamtui_folders() -> set[Path]:
    """streamtui's own folders, as platformdirs names them (honouring XDG_*_HOME)."""
    import platformdirs

    kinds = (platformdirs.user_config_dir, platformdirs.user_data_dir, platformdirs.user_state_dir, platformdirs.user_log_dir, platformdirs.user_cache_dir)
    return {Path(kind("streamtui")) for kind in kinds}


def _is_streamtui_folder(folder: Path) -> bool:
    try:
        return folder.resolve() in {own.resolve() for own in streamtui_folders()}
    except OSError:
        return False


def private_folder(folder: Path) -> Path:
    """Make sure ``folder`` exists: each missing folder on the way is created 0700; an existing
    one is tightened to 0700 only if it is streamtui's own (see the module docstring)."""
    missing: list[Path] = []
    probe = folder
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    if not missing:
        if _is_streamtui_folder(folder):
            _restrict(folder, FOLDER_MODE)
        return folder
    for path in reversed(missing):
        try:
            path.mkdir(mode=FOLDER_MODE)
        except FileExistsError:  # made meanwhile by someone else: not ours to change
            continue
        _restrict(path, FOLDER_MODE)  # mkdir's mode went through the umask
    return folder


def private_file(path: Path) -> Path:
    """Make sure ``path`` exists and only its owner can read or write it (its folder as
    :func:`private_folder` prepares it)."""
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
