"""Taking an answer out of the app: the clipboard (OSC 52) and $PAGER / $EDITOR.

The clipboard goes through the terminal (OSC 52). Terminals may ignore it: tmux passes it on
only with ``set -g set-clipboard on``, so inside tmux the notification says so. A pager or
editor runs with the app suspended, on a private temporary file that is removed afterwards.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
from pathlib import Path

from textual.app import SuspendNotSupported

from ..engine.private_files import create_private


def copy(node, text: str, what: str) -> None:  # node: a DOMNode (its app does the copying)
    if not text:
        node.notify(f"Nothing to copy: no {what} yet.", timeout=3, markup=False)
        return
    node.app.copy_to_clipboard(text)
    caveat = " Inside tmux this needs `set -g set-clipboard on`." if os.environ.get("TMUX") else ""
    node.notify(f"Copied the {what} ({len(text):,} characters) through the terminal (OSC 52).{caveat}", timeout=5, markup=False)


def open_externally(node, text: str, *, editor: bool) -> None:  # node: a DOMNode
    """Show ``text`` in $PAGER (or less), or $EDITOR / $VISUAL (or vi), the app suspended."""
    if not text:
        node.notify("Nothing to open: no answer yet.", timeout=3)
        return
    variable = ("VISUAL", "EDITOR") if editor else ("PAGER",)
    command = next((os.environ[name] for name in variable if os.environ.get(name)), "vi" if editor else "less")
    folder = Path(tempfile.mkdtemp(prefix="streamtui-"))
    path = folder / "answer.md"
    try:
        with create_private(path) as handle:
            handle.write(text)
        try:
            with node.app.suspend():
                subprocess.run([*shlex.split(command), str(path)], check=False)
        except (OSError, ValueError, SuspendNotSupported) as exc:  # no such program; a browser or test cannot suspend
            node.notify(f"Could not run {command!r}: {exc}", severity="error", timeout=6, markup=False)
    finally:
        path.unlink(missing_ok=True)
        folder.rmdir()
