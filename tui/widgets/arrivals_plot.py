"""The Timeline's plot of characters received over time, with whole-number ticks that fit."""

from __future__ import annotations

from textual_plotext import PlotextPlot


class ArrivalsPlot(PlotextPlot):
    #: The most characters any plotted run received: the y axis's range.
    most_received = 0

    def on_resize(self) -> None:
        self.set_ticks()

    def set_ticks(self) -> None:
        """Characters come whole (plotext's own ticks read "950.8"), and there are no more
        ticks than rows (about the height less 5: border, frame, axis labels): two ticks on one
        row were drawn in an order that changed from one process to the next."""
        height = self.content_size.height
        steps = max(1, min(5, height - 6)) if height else 5
        ticks = sorted({round(self.most_received * step / steps) for step in range(steps + 1)})
        self.plt.yticks(ticks, [f"{tick:,}" for tick in ticks])
        self.refresh()
