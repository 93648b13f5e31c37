"""The streaming worker: a child process that runs requests and sends their events back.

    python -P -m tui.engine.worker        (started by WorkerStreamer; frames on stdin/stdout)

At launch it is instead a fork of the ``streamtui`` command, which runs :func:`main` the same
way (``worker_process.fork_worker``).

Why a process of its own: importing the openai SDK takes about a second on a small machine,
three times as long as Textual. In a process of its own the SDK loads while the interface
starts, so the first prompt sent the moment the screen appears is not late; and the HTTP
reading, SSE and JSON decoding and time stamping of a fast stream never compete with the
interface for its interpreter lock, so keys stay answered and every stamp is taken when the
bytes arrive, on the first send as on the tenth.

It runs ``stream.InProcessStreamer``: the same code ``streamtui compare`` runs in-process.
Commands (from the app): ``("warm", target, api, encoding)``, ``("stream", id, request, target,
clock)``, ``("models", id, target)``, ``("encoding", id, name)``, ``("count", id, *the token
counter's "count" or "each" command)``, ``("cancel", id)``. Replies: ``("ready",)`` once the SDK
is imported, ``("warm", 0)`` once a client is built, ``("batch", id, packed events)``, ``("end",
id)``, ``("models", id, names, problem)``, ``("encoding", id)``, ``("count", id, the count,
problem)``.
It ends when its stdin closes (the app quit or died). A command it fails on is answered as its
request expects (a run ends ``Failed``, a listing or a count with its problem) and logged; the
worker goes on.

Every tiktoken count is made by the worker's own child, the token counter (``counter.py``): a
run's live counts, and the count of a run cut off before its stream's last one (``count``).
Building an encoding there never delays a stream here. The app's process never builds an
encoding (each costs a process about 80 MB).

Frames leave on a descriptor of their own: fd 1, which C code and ``os.write(1, …)`` write to,
is pointed at stderr, so nothing but frames can reach the app's pipe.
"""

from __future__ import annotations

# The SDK before anything else, the worker's own modules included: it is most of a second,
# all of it on the path of a prompt sent the moment the screen appears. With the collector off
# (a fork of the command has it off already; see tui/launch.py): a tenth of the import.
import gc

gc.disable()
import openai  # noqa: E402, F401

# isort: split
import asyncio
import os
import sys
import threading

from .clock import clock_from_spec, monotonic_clock
from .heap import return_big_blocks
from .logfile import log_failure
from .worker_protocol import pack_batch, read_frame, write_frame


def main() -> None:
    gc.freeze()  # what the imports made is out of the collector's way for good
    gc.enable()
    # A thread of the worker's (reading commands, or pickling a long text for the token counter)
    # gives the interpreter back to the event loop within a millisecond (not the default 5 ms),
    # so every read is stamped on time.
    sys.setswitchinterval(0.001)
    return_big_blocks()  # a huge chunk's bytes and text, given back once passed on
    asyncio.run(_serve())


async def _serve() -> None:
    loop = asyncio.get_running_loop()
    inbox: asyncio.Queue = asyncio.Queue()
    out = os.fdopen(os.dup(1), "wb")  # the frames' own descriptor (not inherited by children)
    os.dup2(2, 1)  # nothing but frames may reach the app's pipe, whoever writes to fd 1
    sys.stdout = sys.stderr

    def read_commands() -> None:
        try:
            while (command := read_frame(sys.stdin.buffer)) is not None:
                loop.call_soon_threadsafe(inbox.put_nowait, command)
        except Exception as exc:  # noqa: BLE001 - a torn command: nothing after it can be trusted
            log_failure("The streaming worker received a command it could not read; it ends", exc)
        loop.call_soon_threadsafe(inbox.put_nowait, None)

    threading.Thread(target=read_commands, name="streamtui-worker-commands", daemon=True).start()
    from .counter import CounterProcess
    from .stream import InProcessStreamer, RequestFailed

    counter = CounterProcess()
    streamer = InProcessStreamer(counter)
    tasks: dict[int, asyncio.Task] = {}
    later: list[asyncio.TimerHandle] = []

    def start_counter(encoding: str) -> None:
        # A run's first text may have started it already, building the run's own encoding.
        if not counter.started:
            asyncio.create_task(_load_encoding(out, counter, None, encoding))

    write_frame(out, ("ready",))
    while (command := await inbox.get()) is not None:
        try:
            op = command[0]
            if op == "warm":
                _, target, api, encoding = command
                _warm(streamer, target, api)
                await asyncio.sleep(0)  # commands read meanwhile reach the inbox
                if inbox.empty():  # a send already waiting warms the SDK itself, sooner
                    await _rehearsal(api)
                gc.freeze()  # a long-lived heap, out of the collector's way while streaming
                write_frame(out, ("warm", 0))
                if encoding:  # beside whatever streams (see counter.py), after a send made at once
                    later.append(loop.call_later(ENCODING_AFTER, start_counter, encoding))
            elif op == "stream":
                _, number, request, target, spec = command
                clock = clock_from_spec(spec)
                tasks[number] = asyncio.create_task(_stream(out, streamer, number, request, target, clock))
                tasks[number].add_done_callback(lambda _, number=number: tasks.pop(number, None))
            elif op == "encoding":  # build it now and say so (tests start from a counted state)
                _, number, name = command
                asyncio.create_task(_load_encoding(out, counter, number, name))
            elif op == "models":
                _, number, target = command
                asyncio.create_task(_models(out, streamer, number, target, RequestFailed))
            elif op == "count":
                _, number, *what = command
                asyncio.create_task(_count(out, counter, number, tuple(what)))
            elif op == "cancel":
                if (task := tasks.get(command[1])) is not None:
                    task.cancel()
            else:
                raise ValueError(f"unknown command {op!r}")
        except Exception as exc:  # noqa: BLE001 - one command failed, not the worker
            _answer_failed(out, command, exc)
    for handle in later:
        handle.cancel()
    for task in list(tasks.values()):
        task.cancel()
    await streamer.close()
    counter.stop()


def _answer_failed(out, command, exc: Exception) -> None:  # noqa: ANN001
    """Log a command the worker failed on and answer it as its request expects, so that
    nothing in the app waits for an answer that will not come."""
    from .errors import internal_problem
    from .events import Failed

    op = command[0] if isinstance(command, tuple) and command else None
    number = command[1] if isinstance(command, tuple) and len(command) > 1 else None
    problem = internal_problem(exc, during=f"the streaming worker's {op!r} command")
    if op == "warm":  # the app waits for the worker to be warm; a run to that target says what is wrong
        write_frame(out, ("warm", 0))
    elif op == "stream" and isinstance(number, int):
        write_frame(out, ("batch", number, [Failed(problem.message, _now(command), problem.kind)]))
        write_frame(out, ("end", number))
    elif op == "models" and isinstance(number, int):
        write_frame(out, ("models", number, None, problem))
    elif op == "encoding" and isinstance(number, int):
        write_frame(out, ("encoding", number))
    elif op == "count" and isinstance(number, int):
        write_frame(out, ("count", number, None, problem))


def _now(command: tuple) -> float:
    """Now on the clock of a ``stream`` command, or the monotonic clock if that one is unreadable."""
    try:
        return clock_from_spec(command[4])()
    except Exception:  # noqa: BLE001
        return monotonic_clock()


def _warm(streamer, target, api: str) -> None:  # noqa: ANN001
    """Build the client and load, before the first prompt, what the first request of ``api``
    loaded on its way: 20–40 ms of a send right after launch (the other APIs' modules load if
    they are ever used)."""
    import anyio

    from .tokens import encoding_for_model

    client = streamer.client(target)
    resource = {"chat": lambda: client.chat.completions, "completions": lambda: client.completions, "responses": lambda: client.responses}[api]()
    resource.with_streaming_response  # noqa: B018 - imports on first access
    try:
        anyio.Lock()  # anyio's asyncio backend: the connection pool's first lock loads it
        encoding_for_model("")  # tiktoken and its model table: a run's encoding is chosen at its first text
    except Exception as exc:  # noqa: BLE001 - only time is lost: the first run loads them itself
        log_failure("Warming up the streaming worker", exc)


async def _rehearsal(api: str) -> None:
    from .events import Failed
    from .stream import rehearse

    try:
        ended = await rehearse(api)
        if isinstance(ended, Failed):
            log_failure(f"Rehearsing a request in the streaming worker failed: {ended.message}")
    except Exception as exc:  # noqa: BLE001 - only time is lost: the first send warms the SDK itself
        log_failure("Rehearsing a request in the streaming worker", exc)


async def _load_encoding(out, counter, number: int | None, name: str) -> None:  # noqa: ANN001
    """Have the counter build ``name`` now, and say so for request ``number`` if there is one (a
    failure shows when a run needs the encoding: its counting is logged as off)."""
    try:
        await counter.request("load", name)
    except Exception:  # noqa: BLE001
        pass
    if number is not None:
        write_frame(out, ("encoding", number))


#: How long after warming up the counter starts (and builds the likely encoding): a run sent
#: sooner starts it with its first text, once that text is on its way.
ENCODING_AFTER = 1.0

#: Batches made within this long of the last frame wait for the next one (a flood of tiny
#: reads then costs a frame per millisecond, not one per read; every event keeps its own
#: stamp). A batch after a quieter spell goes at once.
FRAME_EVERY = 0.001


async def _stream(out, streamer, number: int, request, target, clock) -> None:  # noqa: ANN001
    loop = asyncio.get_running_loop()
    pending: list = []
    flush_handle: asyncio.TimerHandle | None = None
    flushed_at = 0.0

    def flush() -> None:
        nonlocal flush_handle, flushed_at
        flush_handle = None
        flushed_at = loop.time()
        if pending:
            write_frame(out, ("batch", number, list(pending)))
            pending.clear()

    try:
        async for batch in streamer.batches(request, target, clock):
            pending.extend(pack_batch(batch))
            if flush_handle is None:
                wait = flushed_at + FRAME_EVERY - loop.time()
                if wait <= 0:  # a quiet stream: every read goes out at once
                    flush()
                else:  # a flood: one frame a millisecond
                    flush_handle = loop.call_later(wait, flush)
    except asyncio.CancelledError:
        pending.clear()
    except Exception as exc:  # noqa: BLE001 - streamtui's own fault: the app says so
        from .errors import internal_problem
        from .events import Failed

        problem = internal_problem(exc, during="streaming (worker)")
        pending.append(Failed(problem.message, clock(), problem.kind))
    if flush_handle is not None:
        flush_handle.cancel()
    flush()
    write_frame(out, ("end", number))


async def _count(out, counter, number: int, what: tuple) -> None:  # noqa: ANN001
    """A count the app asks for, made by the token counter (``what`` is its command: a cut-off
    run's whole text, or the Timeline's chunks), which builds the encoding first if need be."""
    try:
        count = await counter.request(*what)
    except Exception as exc:  # noqa: BLE001 - a count is a figure: the app logs it, the run stays
        from .errors import internal_problem

        write_frame(out, ("count", number, None, internal_problem(exc, during="counting tokens (worker)")))
    else:
        write_frame(out, ("count", number, count, None))


async def _models(out, streamer, number: int, target, request_failed) -> None:  # noqa: ANN001
    try:
        write_frame(out, ("models", number, await streamer.list_models(target), None))
    except request_failed as exc:
        write_frame(out, ("models", number, None, exc.problem))
    except Exception as exc:  # noqa: BLE001
        from .errors import internal_problem

        write_frame(out, ("models", number, None, internal_problem(exc, during="listing models (worker)")))


if __name__ == "__main__":
    main()
