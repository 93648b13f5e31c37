"""Turn whatever went wrong into one line a person can act on, with no secret in it."""

from __future__ import annotations

import json
from dataclasses import dataclass

from .secrets import redact


class UserFacingError(RuntimeError):
    """Raised with a message already written for a person: shown as it is."""


@dataclass(frozen=True)
class Problem:
    kind: str
    message: str


def _server_message(body: object, fallback: str) -> str:
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
        if isinstance(inner, str):
            return inner
        if body.get("message"):
            return str(body["message"])
        if body.get("detail"):
            return str(body["detail"])
    return fallback


def one_line(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def describe_exception(exc: BaseException, *, base_url: str, model: str, api_key: str | None, chunks: int) -> Problem:
    """Classify an exception from the openai SDK, httpx or JSON decoding."""
    import openai

    where = base_url
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        detail = _server_message(exc.body, exc.message)
        if status == 401:
            problem = Problem("auth", f"401 Unauthorized: {where} rejected the API key. Check OPENAI_API_KEY or --api-key-env. ({detail})")
        elif status == 403:
            problem = Problem("auth", f"403 Forbidden: the key has no access to this model or API. ({detail})")
        elif status == 404:
            problem = Problem("not_found", f"404 Not Found: model '{model}' or this API does not exist at {where}. ({detail})")
        elif status == 429:
            problem = Problem("rate_limit", f"429 Rate limited by {where}: wait and try again. ({detail})")
        elif status >= 500:
            problem = Problem("server", f"{status} Server error from {where}. ({detail})")
        else:
            problem = Problem("bad_request", f"{status} Request rejected by {where}: {detail}")
    elif isinstance(exc, openai.APITimeoutError):
        problem = Problem("timeout", f"Timed out waiting for {where}" + (f" after {chunks} chunks." if chunks else "."))
    elif isinstance(exc, openai.APIConnectionError) or _is_httpx_transport_error(exc):
        if chunks:
            problem = Problem("dropped", f"Connection to {where} dropped mid-stream after {chunks} chunks.")
        else:
            cause = exc.__cause__ or exc.__context__
            reason = f" ({one_line(str(cause), 120)})" if cause and str(cause) else ""
            problem = Problem("unreachable", f"Cannot reach {where}: is the server running?{reason}")
    elif isinstance(exc, openai.APIError):
        problem = Problem("server", f"The server sent an error: {_server_message(exc.body, exc.message)}")
    elif isinstance(exc, (ValueError, KeyError, TypeError, IndexError)):
        problem = Problem("malformed", f"Malformed chunk from the server after {chunks} chunks: {exc}")
    elif isinstance(exc, UserFacingError):
        problem = Problem("error", str(exc))
    else:
        problem = Problem("error", f"{type(exc).__name__}: {exc}")
    return Problem(problem.kind, redact(one_line(problem.message), api_key))


def describe_error_payload(payload: dict, api_key: str | None) -> Problem:
    """An ``{"error": ...}`` object sent inside the stream."""
    return Problem("server", redact(one_line(f"The server sent an error: {_server_message(payload, json.dumps(payload)[:200])}"), api_key))


def _is_httpx_transport_error(exc: BaseException) -> bool:
    """Reads of a raw body raise the HTTP library's own errors, not the SDK's."""
    try:  # openai ≥ 3.5x is built on httpx2; earlier releases on httpx
        import httpx2 as http
    except ImportError:
        import httpx as http  # type: ignore[no-redef]
    return isinstance(exc, http.TransportError)
