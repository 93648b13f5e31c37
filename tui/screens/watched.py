"""The base of every streamtui screen: no failure of its workers goes unseen.

Textual tells only the node that started a worker when it fails (the message does not
bubble), so each screen hands a failed worker to the app, which shows one line and logs the
traceback.
"""

from __future__ import annotations

from typing import TypeVar

from textual.screen import ModalScreen, Screen
from textual.worker import Worker, WorkerState

from ..engine.errors import internal_problem

ResultType = TypeVar("ResultType")


class WatchesWorkers:
    """Mixed into a screen: its failed workers are reported (one line, traceback logged)."""

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            report_worker_failure(self, event.worker)


class WatchedScreen(WatchesWorkers, Screen[ResultType]):
    def take_size_classes(self) -> None:
        """The breakpoint classes for the terminal's size, before the widgets are styled (call
        it in ``compose``). Set by the screen's first resize instead, they restyled every
        widget once more (about 30 ms at startup), and a screen laid out first the wide way
        drew its first frame so (the Timeline's plot kept ticks for the other size)."""
        width, height = self.app.size
        horizontal, vertical = self.HORIZONTAL_BREAKPOINTS or [], self.VERTICAL_BREAKPOINTS or []
        classes = {name: False for _, name in horizontal + vertical}
        for breakpoints, size in ((horizontal, width), (vertical, height)):
            reached = [point for point in breakpoints if point[0] <= size]
            if reached:
                classes[max(reached)[1]] = True
        self.update_classes(classes, animate=False)


class WatchedModalScreen(WatchesWorkers, ModalScreen[ResultType]):
    pass


def report_worker_failure(node, worker: Worker) -> None:  # node: a DOMNode with notify()
    problem = internal_problem(worker.error, during=f"the {worker.name or worker.group} worker")  # type: ignore[arg-type]
    node.notify(problem.message, title="streamtui hit a problem", severity="error", timeout=10, markup=False)
