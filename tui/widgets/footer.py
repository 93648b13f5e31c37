"""Textual's Footer, rebuilt only when its keys change, without the keys it has replaced, and
without the keys its screen can spare."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Footer as TextualFooter
from textual.widgets._footer import FooterKey


class Footer(TextualFooter):
    """Textual (8.2) rebuilds the footer's keys whenever the screen's bindings change (a run
    starting and ending changes them: Cancel is offered only while one runs). Each key binds
    itself to the footer's ``compact`` with ``data_bind``, which stores the key and a callback
    in the footer's own watcher list; Textual prunes that list only when ``compact`` changes,
    which it never does here. So every rebuild kept all the keys it replaced, each a whole
    widget with its styles, caches and message queue: about 0.6 MB a run, for as long as the
    app ran (Textual issue #6666). After each rebuild, the watchers of removed keys go.

    And the lines the removed keys drew go too: Textual's ``StylesCache.get_inner_outer`` is an
    ``lru_cache`` on a method, so it keeps the style caches of the last 1,024 widgets drawn
    alive, with the lines each drew (about 7 KB a key, 0.15 MB a run until 1,024 keys)."""

    _composed: tuple | None = None

    def compose(self) -> ComposeResult:
        # A screen short of room names the actions its footer may leave out (``footer_spare``).
        spare = getattr(self.screen, "footer_spare", frozenset())
        self._composed = self._keys_shown()
        for widget in super().compose():
            if not (isinstance(widget, FooterKey) and widget.action in spare):
                yield widget

    def _keys_shown(self) -> tuple | None:
        """What the keys would show now (None before the screen's bindings are known)."""
        if not self._bindings_ready:  # textual 8.2's Footer (the version is pinned)
            return None
        spare = getattr(self.screen, "footer_spare", frozenset())
        return tuple(
            (binding.key, binding.description, binding.action, binding.group, enabled, tooltip)
            for _node, binding, enabled, tooltip in self.screen.active_bindings.values()
            if binding.show and binding.action not in spare
        )

    async def recompose(self) -> None:
        # Textual rebuilds the keys whenever the screen's bindings might have changed: about
        # fifteen times a send (a focus, a run's start and end), each mounting and styling every
        # key (5 ms and more). Only a change of what they show rebuilds them.
        if not self.is_attached:  # its screen has gone (Textual's recompose does nothing then)
            return
        if self._composed is not None and self._keys_shown() == self._composed:
            return
        replaced = list(self.query("*"))
        await super().recompose()
        forget_closed_watchers(self)
        for widget in replaced:
            widget._styles_cache.clear()


def forget_closed_watchers(node: object) -> None:
    """Drop the watchers that removed (closing or closed) widgets hold on ``node``, as Textual
    itself does when the watched value next changes."""
    watchers = getattr(node, "__watchers", None)  # Textual's own name for a node's watchers
    if not watchers:
        return
    for entries in watchers.values():
        entries[:] = [(watcher, callback) for watcher, callback in entries if not (watcher._closing or watcher._closed)]
