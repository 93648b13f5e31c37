"""The command palette (Ctrl+P): every action of the main screen, by name.

A palette entry runs the same action as the key does (the binding's own action string), so the
two can never behave differently. Themes, quitting and screenshots come from Textual's own
system commands, listed beside these.
"""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider


class MainScreenCommands(Provider):
    def _commands(self) -> list[tuple[str, str, str]]:
        """(name, help, action) of every main-screen action: from its bindings, plus the ones
        that have no key."""
        from .screens.help import key_name
        from .screens.main import MainScreen

        commands = [
            (binding.description, f"{binding.tooltip or ''} · {', '.join(key_name(key.strip()) for key in binding.key.split(','))}", binding.action)
            for binding in MainScreen.BINDINGS
            if binding.description
        ]
        in_conversation = self.app.session.conversation is not None  # type: ignore[attr-defined]
        commands += [command for command in MainScreen.PALETTE_ONLY if in_conversation or command[2] != "single_prompts"]
        return commands

    def _run(self, action: str) -> None:
        self.app.main_screen.run_action_soon(action)  # type: ignore[attr-defined]

    async def discover(self) -> Hits:
        for name, help_text, action in self._commands():
            yield DiscoveryHit(name, partial(self._run, action), help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text, action in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), partial(self._run, action), help=help_text)
