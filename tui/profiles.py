"""Switching between the config file's profiles inside the app (the Settings screen).

A profile picked in the app is resolved as at start, without the command line's options
(the environment still wins over it, as at start): its endpoint, model and parameters apply
from the next run, and it is remembered as ``default_profile`` for the next start (written
back with comments kept, in a thread).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from .engine.config import ConfigError, ConfigFile, load_config, resolve
from .engine.logfile import log_failure
from .engine.session import RunSession
from .engine.settings import Settings


class Profiles:
    def __init__(self, config_path: Path | None, names: list[str], current: str | None) -> None:
        self.config_path = config_path
        self._names = names
        #: The profile in use (None: as the command line and environment gave it).
        self.current = current

    @classmethod
    def of(cls, settings: Settings) -> Profiles:
        config = load_config(settings.config_path)
        return cls(settings.config_path, sorted(config.profiles), settings.profile)

    def names(self) -> list[str]:
        return list(self._names)

    def switch(self, name: str, session: RunSession) -> None:
        """Use profile ``name`` from the next run. Raises ConfigError with one line."""
        from .cli import make_local_server

        resolved = resolve({"profile": name}, load_config(self.config_path))
        settings = Settings(endpoint=resolved.endpoint, sources=dict(resolved.sources), **resolved.values)
        connection = session.connection
        left = connection.local_server
        if settings.endpoint.kind == "local" and left is not None and left.model_path == settings.model_path:
            server = left  # the same model: keep it, warm
        else:
            server = make_local_server(settings)
        connection.use(settings.endpoint, settings.model, server)
        if left is not None and left is not server:
            # Stopped once no run uses it (stopping blocks: in a thread), or it keeps its RAM until quit.
            session.when_idle(lambda: asyncio.to_thread(left.stop))
        connection.set_read_timeout(settings.read_timeout)
        session.params = settings.run_params()
        self.current = name
        asyncio.get_running_loop().run_in_executor(None, self._remember, name)

    def _remember(self, name: str) -> None:
        try:
            config = ConfigFile.load(self.config_path)
            config.set_default_profile(name)
            config.save()
        except (ConfigError, OSError) as exc:
            log_failure(f"Could not remember profile {name!r} in the config file", exc)


def remember_theme(config_path: Path | None, theme: str) -> tuple[bool, str | None]:
    """Write the theme picked in the app to the config file (call it in a thread). Returns
    whether it was written (not if the file has it already: the theme applied at launch), and
    why it could not be, in one line, or None."""
    try:
        config = ConfigFile.load(config_path)
        if config.theme == theme:
            return False, None
        config.set_theme(theme)
        config.save()
    except (ConfigError, OSError) as exc:
        log_failure(f"Could not remember theme {theme!r} in the config file", exc)
        return False, str(exc) if isinstance(exc, ConfigError) else (exc.strerror or str(exc))
    return True, None
