"""The ``streamtui`` command. Before it imports anything else (argparse, asyncio, Textual), it
starts the streaming worker (a fork of itself, see worker_process.py), whose import of the SDK
(about a second on a small machine) then overlaps the whole of the interface's start: the first
send after launch waits the least.
Anything but the TUI (a sub-command, ``--help``) never starts one."""

import sys

#: Arguments after which the command is not the TUI (a value that happens to equal one only
#: means the worker starts a little later, as the TUI starts it).
_NOT_THE_TUI = frozenset({"compare", "serve", "config", "web", "-h", "--help", "--version"})


def main() -> int:
    spawned = None
    if _NOT_THE_TUI.isdisjoint(sys.argv[1:]):
        import gc

        # The imports (the SDK's in the worker, Textual's here) run with the collector off: their
        # thousands of classes set off collections that find nothing, a tenth of the SDK's
        # import. Each process freezes its heap and turns it on again (worker.py, app.py).
        gc.disable()
        from .engine.worker_process import fork_worker

        spawned = fork_worker()
    try:
        from .cli import main as cli_main
    except BaseException:  # Ctrl+C during the imports, or a broken install
        from .engine.worker_process import discard_worker

        discard_worker(spawned)
        raise
    return cli_main(spawned=spawned)
