"""Starting the streaming worker's process, with nothing but the standard library's lightest
modules: ``streamtui`` starts it before it imports anything else (argparse, asyncio, pathlib,
Textual), so the worker's import of the SDK, about a second on a small machine, overlaps the
whole of the interface's start. ``WorkerStreamer`` adopts it (see ``worker_client.py``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

_PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
#: streamtui web hands each browser session its prompt in this variable: no child gets it.
PROMPT_ENV = "STREAMTUI_PROMPT"


def spawn_worker() -> tuple[subprocess.Popen[bytes], str]:
    """The worker's process and the path of its private stderr file (0600, see worker_client)."""
    env = {name: value for name, value in os.environ.items() if name != PROMPT_ENV}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, (_PACKAGE_ROOT, os.environ.get("PYTHONPATH"))))
    handle, stderr_path = tempfile.mkstemp(prefix="streamtui-worker-", suffix=".log")
    try:
        process = subprocess.Popen(
            [sys.executable, "-P", "-m", "tui.engine.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=handle,
            env=env,
            close_fds=True,
        )
    except BaseException:
        os.unlink(stderr_path)
        raise
    finally:
        os.close(handle)
    return process, stderr_path


def discard_worker(spawned: tuple[subprocess.Popen[bytes], str] | None) -> None:
    """Stop a worker ``spawn_worker()`` started that nothing adopted, and remove its file."""
    if spawned is None:
        return
    process, stderr_path = spawned
    if process.poll() is None:
        process.kill()
        process.wait()
    try:
        os.unlink(stderr_path)
    except FileNotFoundError:
        pass
