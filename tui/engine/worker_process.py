"""Starting the streaming worker's process, with nothing but the standard library's lightest
modules: ``streamtui`` starts it before it imports anything else (argparse, asyncio, pathlib,
Textual), so the worker's import of the SDK, about a second on a small machine, overlaps the
whole of the interface's start. ``WorkerStreamer`` adopts it (see ``worker_client.py``).

At launch the worker is a fork of the command itself (``fork_worker``): it begins its import
of the SDK at once, where a new interpreter would first start up and find its modules (about
70 ms on two cores, most of the first send's lateness against a bare SDK script). A worker
started later (one that died), or for a process that cannot fork safely (see
``fork_worker``), is a new interpreter (``spawn_worker``).

The worker's stderr is a temporary file with no name (0600): nothing is left behind however
the app ends, and the app reads its end once the worker has ended (the log keeps it).
"""

from __future__ import annotations

import os
import sys
import tempfile

_PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
#: streamtui web hands each browser session its prompt in this variable: no child gets it.
PROMPT_ENV = "STREAMTUI_PROMPT"


def spawn_worker():  # -> tuple[subprocess.Popen[bytes], BinaryIO]
    """A new interpreter running the worker, and its stderr: a temporary file with no name
    (nothing is left behind, however the app ends), which the app reads once the worker ended
    (see worker_client)."""
    import subprocess

    stderr = tempfile.TemporaryFile()
    try:
        process = subprocess.Popen(
            [sys.executable, "-P", "-m", "tui.engine.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            env=_worker_environment(os.environ),
            close_fds=True,
        )
    except BaseException:
        stderr.close()
        raise
    return process, stderr


def fork_worker():  # -> tuple[ForkedWorker | subprocess.Popen[bytes], BinaryIO]
    """The worker as a fork of this process, if that is safe (no other thread, which might hold
    a lock the child would inherit held; and no web session's prompt in the environment, which a
    fork would carry in its memory); else ``spawn_worker()``."""
    _fill_standard_streams()
    if not hasattr(os, "fork") or PROMPT_ENV in os.environ or _threads_running():
        return spawn_worker()
    stderr = tempfile.TemporaryFile()
    commands_read, commands_write = os.pipe()
    replies_read, replies_write = os.pipe()
    parent = os.getpid()
    try:
        pid = os.fork()
    except BaseException:
        if os.getpid() != parent:  # a Ctrl+C that reached the child before its first line
            os._exit(1)
        for fd in (commands_read, commands_write, replies_read, replies_write):
            os.close(fd)
        stderr.close()
        raise
    if pid == 0:
        try:
            _be_the_worker(commands_read, replies_write, stderr.fileno())
        finally:
            os._exit(1)  # whatever happens in the child never returns to the app's code
    for fd in (commands_read, replies_write):
        os.close(fd)
    return ForkedWorker(pid, os.fdopen(commands_write, "wb"), os.fdopen(replies_read, "rb")), stderr


def discard_worker(spawned) -> None:  # noqa: ANN001 - what spawn_worker or fork_worker returned
    """Stop a worker that nothing adopted, and close its stderr file."""
    if spawned is None:
        return
    process, stderr = spawned
    if process.poll() is None:
        process.kill()
        process.wait()
    stderr.close()


class ForkedWorker:
    """What the app uses of ``subprocess.Popen`` (``pid``, ``stdin``, ``stdout``,
    ``returncode``, ``poll``, ``wait``, ``terminate``, ``kill``), for a child made by
    ``os.fork``, which Popen cannot adopt. Like Popen's, ``wait`` and ``poll`` may be called
    from any thread."""

    def __init__(self, pid: int, stdin, stdout) -> None:  # noqa: ANN001 - binary files
        import _thread  # threading is not imported yet at launch; its lock is this one

        self.pid = pid
        self.stdin = stdin
        self.stdout = stdout
        self.returncode: int | None = None
        self._reaping = _thread.allocate_lock()

    def poll(self) -> int | None:
        if self.returncode is None and self._reaping.acquire(False):
            try:
                self._reap(os.WNOHANG)
            finally:
                self._reaping.release()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if timeout is None:
            with self._reaping:
                self._reap(0)
            return self.returncode  # type: ignore[return-value]
        import time

        deadline = time.monotonic() + timeout
        delay = 0.0005
        while self.poll() is None:  # as Popen waits with a timeout: polls, each longer
            left = deadline - time.monotonic()
            if left <= 0:
                import subprocess

                raise subprocess.TimeoutExpired(["streamtui worker"], timeout)
            time.sleep(min(delay, left))
            delay = min(delay * 2, 0.05)
        return self.returncode  # type: ignore[return-value]

    def terminate(self) -> None:
        import signal

        self._signal(signal.SIGTERM)

    def kill(self) -> None:
        import signal

        self._signal(signal.SIGKILL)

    def _signal(self, number: int) -> None:
        if self.poll() is None:
            try:
                os.kill(self.pid, number)
            except ProcessLookupError:
                pass

    def _reap(self, options: int) -> None:
        if self.returncode is not None:
            return
        try:
            pid, status = os.waitpid(self.pid, options)
        except ChildProcessError:  # reaped by someone else: its status is lost
            self.returncode = 255
            return
        if pid == self.pid:
            self.returncode = os.waitstatus_to_exitcode(status)


def _be_the_worker(commands: int, replies: int, stderr: int) -> None:
    """The forked child: the worker on its pipes, as ``python -P -m tui.engine.worker`` runs it
    (see worker.py). It ends the process itself; ``fork_worker`` makes sure it never returns."""
    code = 1
    try:
        for fd, target in ((commands, 0), (replies, 1), (stderr, 2)):
            os.dup2(fd, target)
        os.closerange(3, os.sysconf("SC_OPEN_MAX"))  # as Popen's close_fds: nothing of the app's
        try:
            with open("/proc/self/comm", "w") as comm:  # ps and top tell it from the app (Linux)
                comm.write("streamtui-worker")
        except OSError:
            pass
        sys.stdin = open(0, "r", closefd=False)  # noqa: SIM115 - the process's own, for its life
        sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", buffering=1, errors="backslashreplace", closefd=False)  # noqa: SIM115
        if not sys.flags.safe_path and sys.path:
            del sys.path[0]  # -P: not the script's folder or the current one (an openai.py there)
        if _PACKAGE_ROOT not in sys.path:
            sys.path.insert(0, _PACKAGE_ROOT)  # as the new interpreter's PYTHONPATH
        os.environ.update(_worker_environment(os.environ))  # (it has no prompt: see fork_worker)
        from . import worker

        worker.main()
        code = 0
    except BaseException:  # noqa: BLE001 - said on stderr (the app logs it), then the process ends
        import traceback

        traceback.print_exc()
    finally:
        try:
            sys.stderr.flush()
        finally:
            os._exit(code)


def _worker_environment(environ) -> dict[str, str]:  # noqa: ANN001 - a mapping
    """The worker's environment (its token counter inherits it): without a web session's
    prompt, and with this package on the path."""
    env = {name: value for name, value in environ.items() if name != PROMPT_ENV}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, (_PACKAGE_ROOT, environ.get("PYTHONPATH"))))
    return env


def _threads_running() -> bool:
    threading = sys.modules.get("threading")
    return threading is not None and threading.active_count() > 1


def _fill_standard_streams() -> None:
    """A standard stream closed at launch (``streamtui 2>&-``) is opened on /dev/null: else the
    worker's stderr file or one of its pipes would take its number, and the app would write its
    screen or its errors there."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            os.open(os.devnull, os.O_RDWR)  # the lowest free number: this one
