"""Checks of what a person configures, shared by the command line and the config file: a bad
value is refused at start with one line naming it, never discovered at the first send."""

from __future__ import annotations

from urllib.parse import urlsplit

from .request import APIS
from .secrets import mask_url
from .tokens import SUPPORTED_ENCODINGS

#: The range OpenAI's API accepts for temperature.
TEMPERATURE_RANGE = (0.0, 2.0)


class InvalidSetting(ValueError):
    """A configured value that cannot work; the message names it."""


def base_url(value: str) -> str:
    try:
        parts = urlsplit(value.strip())
        host = parts.hostname
    except ValueError as exc:
        raise InvalidSetting(f"{mask_url(value)!r} is not a URL ({exc})") from None
    if parts.scheme not in ("http", "https"):
        raise InvalidSetting(f"{mask_url(value)!r} is not an http:// or https:// URL")
    if not host:
        raise InvalidSetting(f"{mask_url(value)!r} has no host")
    try:
        parts.port  # noqa: B018 - raises for a port that is not a number in range
    except ValueError:
        raise InvalidSetting(f"{mask_url(value)!r} has an invalid port") from None
    return value.strip().rstrip("/")


def max_tokens(value: object) -> int:
    number = _integer(value, "max tokens")
    if number < 1:
        raise InvalidSetting(f"max tokens must be at least 1, not {number}")
    return number


def temperature(value: object) -> float:
    number = _number(value, "temperature")
    low, high = TEMPERATURE_RANGE
    if not low <= number <= high:
        raise InvalidSetting(f"temperature must be between {low:g} and {high:g}, not {number:g}")
    return number


def seed(value: object) -> int:
    return _integer(value, "seed")


def timeout(value: object, what: str = "timeout") -> float:
    number = _number(value, what)
    if not number > 0:
        raise InvalidSetting(f"{what} must be more than 0 seconds, not {number:g}")
    return number


def retries(value: object) -> int:
    number = _integer(value, "retries")
    if not 0 <= number <= 10:
        raise InvalidSetting(f"retries must be between 0 and 10, not {number}")
    return number


def api(value: object) -> str:
    if value not in APIS:
        raise InvalidSetting(f"api must be one of {', '.join(APIS)}, not {value!r}")
    return str(value)


def encoding(value: object) -> str:
    if value not in SUPPORTED_ENCODINGS:
        raise InvalidSetting(f"unknown encoding {value!r}; choose one of {', '.join(SUPPORTED_ENCODINGS)}")
    return str(value)


def _integer(value: object, what: str) -> int:
    if isinstance(value, bool):
        raise InvalidSetting(f"{what} must be a whole number, not {value!r}")
    if isinstance(value, int):
        return value
    try:
        return int(str(value).strip())
    except ValueError:
        raise InvalidSetting(f"{what} must be a whole number, not {value!r}") from None


def _number(value: object, what: str) -> float:
    if isinstance(value, bool):
        raise InvalidSetting(f"{what} must be a number, not {value!r}")
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InvalidSetting(f"{what} must be a number, not {value!r}") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise InvalidSetting(f"{what} must be a finite number, not {value!r}")
    return number
