"""Settings (F2): the next run's parameters, and which endpoint profile to use.

Changes apply to the next run; every run keeps the parameters it was sent with (History and
the Run panel show them). A value that cannot work is refused with one line naming it, using
the same checks as the command line and the config file. What is applied is said back in
its normal form ("max tokens 1" for ``01``), so a person sees what the next run will send.

Profile names (from the config file) and the refusal line (which repeats the typed value) are
data: shown as ``Text``, never parsed as markup.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, VerticalScroll
from textual.widgets import Button, Input, Label, Select, Static, Switch

from ..engine import validation
from ..engine.request import APIS
from ..engine.sanitize import one_line
from ..engine.session import RunParams
from ..widgets.footer import Footer
from .watched import WatchedScreen


@dataclass(frozen=True)
class SettingsResult:
    """What the person chose: the next runs' parameters, the read timeout, and a profile to
    switch to (None: keep the endpoint)."""

    params: RunParams
    read_timeout: float
    profile: str | None

    def summary(self) -> str:
        """What applies, each value in its normal form (``01`` max tokens reads "max tokens 1").
        A profile brings its own parameters, so then only the profile is named."""
        if self.profile is not None:
            return f"Profile {one_line(self.profile, 60)} picked: its endpoint, model and parameters apply from the next run."
        params = self.params
        parts = [
            f"{params.api} API",
            f"streaming {'on' if params.stream else 'off'}",
            f"system prompt of {len(params.system_prompt):,} characters" if params.system_prompt else "no system prompt",
            f"temperature {params.temperature:g}" if params.temperature is not None else "temperature: the server's default",
            f"max tokens {params.max_tokens}" if params.max_tokens is not None else "max tokens: the server's default",
            f"seed {params.seed}" if params.seed is not None else "no seed",
            f"read timeout {self.read_timeout:g} s",
        ]
        return "Applied: " + ", ".join(parts) + "."


class SettingsScreen(WatchedScreen[SettingsResult | None]):
    CSS_PATH = "settings.tcss"
    BINDINGS = [
        Binding("ctrl+s", "apply", "Apply"),
        Binding("escape", "cancel", "Cancel"),
    ]

    def __init__(self, params: RunParams, read_timeout: float, profiles: list[str], profile: str | None) -> None:
        super().__init__()
        self.params = params
        self.read_timeout = read_timeout
        self.profiles = profiles
        self.profile = profile

    def compose(self) -> ComposeResult:
        params = self.params
        with VerticalScroll(id="settings"):
            yield Static("Settings for the next run. Ctrl+S applies, Escape leaves them as they were.", id="intro")
            with Grid(id="fields"):
                yield Label("Profile")
                # Text, not str: Select parses a str prompt as markup, and a profile name is data.
                options = [(Text(one_line(name, 60)), name) for name in self.profiles]
                yield Select(options, value=self.profile if self.profile in self.profiles else Select.NULL, prompt="(as started)", allow_blank=True, id="profile", disabled=not options)
                yield Label("API")
                yield Select([(Text(api), api) for api in APIS], value=params.api, allow_blank=False, id="api")
                yield Label("Streaming")
                yield Switch(value=params.stream, id="stream")
                yield Label("System prompt")
                yield Input(params.system_prompt or "", placeholder="none (chat and responses APIs)", id="system_prompt")
                yield Label("Temperature")
                yield Input(_text(params.temperature), placeholder="the server's default (0 to 2)", id="temperature")
                yield Label("Max tokens")
                yield Input(_text(params.max_tokens), placeholder="the server's default", id="max_tokens")
                yield Label("Seed")
                yield Input(_text(params.seed), placeholder="none", id="seed")
                yield Label("Read timeout (s)")
                yield Input(_text(self.read_timeout), id="read_timeout")
            yield Static("", id="problem")
            with Horizontal(id="buttons"):
                yield Button("Apply", variant="primary", id="apply")
                yield Button("Cancel", id="cancel")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#settings").border_title = "Settings"
        self.query_one("#api", Select).focus()

    @on(Button.Pressed, "#apply")
    def action_apply(self) -> None:
        try:
            result = self._result()
        except validation.InvalidSetting as exc:
            message = one_line(f"Not applied: {exc}", 600)
            problem = self.query_one("#problem", Static)
            problem.update(Text(message))
            # At 80×24 the line sits below the form: scrolled to, and said where the eye is.
            self.call_after_refresh(problem.scroll_visible, animate=False)
            self.notify(message, title="Settings", severity="error", timeout=6, markup=False)
            return
        self.notify(result.summary(), title="Settings", timeout=6, markup=False)
        self.dismiss(result)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)

    def _result(self) -> SettingsResult:
        def value(field: str) -> str:
            return self.query_one(f"#{field}", Input).value.strip()

        def optional(field: str, check):  # noqa: ANN001, ANN202 - a validation function
            text = value(field)
            return check(text) if text else None

        profile = self.query_one("#profile", Select).value
        params = replace(
            self.params,
            api=str(self.query_one("#api", Select).value),  # type: ignore[arg-type]
            stream=self.query_one("#stream", Switch).value,
            system_prompt=value("system_prompt") or None,
            temperature=optional("temperature", validation.temperature),
            max_tokens=optional("max_tokens", validation.max_tokens),
            seed=optional("seed", validation.seed),
        )
        read_timeout = validation.timeout(value("read_timeout") or self.read_timeout, "read timeout")
        return SettingsResult(params, read_timeout, None if profile is Select.NULL or profile == self.profile else str(profile))


def _text(value: object) -> str:
    return "" if value is None else f"{value:g}" if isinstance(value, float) else str(value)
