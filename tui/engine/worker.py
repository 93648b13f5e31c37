"""The streaming worker: a child process that runs requests and sends their events back.

    python -P -m tui.engine.worker        (started by WorkerStreamer; frames on stdin/stdout)

Why a process of its own: importing the openai SDK takes about a second on a small machine,
three times as long as Textual. In a process of its own the SDK loads while the interface
starts, so the first prompt sent the moment the screen appears is not late; and the HTTP
reading, SSE and JSON decoding and time stamping of a fast stream never compete with the
interface for its interpreter lock, so keys stay answered and every stamp is taken when the
bytes arrive, on the first send as on the tenth.

It runs ``stream.InProcessStreamer``: the same code ``streamtui compare`` runs in-process.
Commands (from the app): ``("warm", target)``, ``("stream", id, request, target, clock)``,
``("models", id, target)``, ``("cancel", id)``. Replies: ``("ready",)``, ``("batch", id,
packed events)``, ``("end", id)``, ``("models", id, names, problem)``. It ends when its stdin
closes (the app quit or died).
"""

from __future__ import annotations

import asyncio
import sys
import threading

from .clock import clock_from_spec
from .worker_protocol import pack_batch, read_frame, write_frame


def main() -> None:
    asyncio.run(_serve())


async def _serve() -> None:
    loop = asyncio.get_running_loop()
    inbox: asyncio.Queue = asyncio.Queue()
    out = sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing but frames may reach the app's pipe

    def read_commands() -> None:
        while (command := read_frame(sys.stdin.buffer)) is not None:
            loop.call_soon_threadsafe(inbox.put_nowait, command)
        loop.call_soon_threadsafe(inbox.put_nowait, None)

    threading.Thread(target=read_commands, name="streamtui-worker-commands", daemon=True).start()
    # The expensive part, while the app starts: the SDK and what it imports lazily.
    from .stream import InProcessStreamer, RequestFailed

    streamer = InProcessStreamer()
    tasks: dict[int, asyncio.Task] = {}
    write_frame(out, ("ready",))
    while (command := await inbox.get()) is not None:
        op = command[0]
        if op == "warm":
            _warm(streamer, command[1])
        elif op == "stream":
            _, number, request, target, clock = command
            tasks[number] = asyncio.create_task(_stream(out, streamer, number, request, target, clock))
            tasks[number].add_done_callback(lambda _, number=number: tasks.pop(number, None))
        elif op == "models":
            _, number, target = command
            asyncio.create_task(_models(out, streamer, number, target, RequestFailed))
        elif op == "cancel" and (task := tasks.get(command[1])) is not None:
            task.cancel()
    for task in list(tasks.values()):
        task.cancel()
    await streamer.close()


def _warm(streamer, target) -> None:  # noqa: ANN001
    """Build the client and touch what the SDK imports on first use, before the first prompt."""
    import gc

    client = streamer.client(target)
    for resource in (client.chat.completions, client.completions, client.responses):
        resource.with_streaming_response  # noqa: B018 - imports on first access
    gc.collect()
    gc.freeze()  # a long-lived heap, out of the collector's way while streaming


async def _stream(out, streamer, number: int, request, target, clock_spec) -> None:  # noqa: ANN001
    clock = clock_from_spec(clock_spec)
    try:
        async for batch in streamer.batches(request, target, clock):
            write_frame(out, ("batch", number, pack_batch(batch)))
    except asyncio.CancelledError:
        pass
    except Exception as exc:  # noqa: BLE001 - streamtui's own fault: the app says so
        from .errors import internal_problem
        from .events import Failed

        problem = internal_problem(exc, during="streaming (worker)")
        write_frame(out, ("batch", number, [Failed(problem.message, clock(), problem.kind)]))
    write_frame(out, ("end", number))


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
