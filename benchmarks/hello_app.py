"""A bare Textual app (one focused Input): the startup baseline for tmux (benchmarks/run.py)."""

from textual.app import App, ComposeResult
from textual.widgets import Input


class Hello(App[None]):
    def compose(self) -> ComposeResult:
        yield Input(placeholder="Hello")


if __name__ == "__main__":
    Hello().run()
