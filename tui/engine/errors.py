"""Turn whatever went wrong into one line a person can act on, with no secret in it.

Failures of the server or the network are described as such. Anything else is streamtui's
own fault: it is called an internal error, written to the log file with its traceback, and
never blamed on the server.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from .logfile import log_failure, log_path
from .sanitize import one_line, server_text
from .secrets import mask_url, redact


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


def internal_problem(exc: BaseException, during: str = "a run") -> Problem:
    """streamtui's own failure: one line for the person, the traceback in the log."""
    log_failure(f"Internal error during {during}", exc)
    return Problem("internal", f"Internal error in streamtui ({type(exc).__name__}: {one_line(str(exc), 120)}); details are in {log_path()}")


def describe_exception(
    exc: BaseException, *, base_url: str, model: str, api_key: str | None, chunks: int, after_headers: bool = False
) -> Problem:
    """Classify an exception from the openai SDK, its HTTP library, or streamtui itself."""
    import openai

    where = mask_url(base_url)
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        detail = redact(server_text(_server_message(exc.body, exc.message)), api_key)
        retry = _retry_hint(exc)
        if status == 401:
            problem = Problem("auth", f"401 Unauthorized: {where} rejected the API key. Check OPENAI_API_KEY or --api-key-env. ({detail})")
        elif status == 403:
            problem = Problem("auth", f"403 Forbidden: the key has no access to this model or API. ({detail})")
        elif status == 404:
            problem = Problem("not_found", f"404 Not Found: model '{server_text(model)}' or this API does not exist at {where}. ({detail})")
        elif status == 429:
            problem = Problem("rate_limit", f"429 Rate limited by {where}{retry}. ({detail})")
        elif status >= 500:
            problem = Problem("server", f"{status} Server error from {where}{retry}. ({detail})")
        else:
            problem = Problem("bad_request", f"{status} Request rejected by {where}: {detail}")
    elif _is_timeout(exc):
        if after_headers:
            problem = Problem("stalled", f"Stalled: {where} sent nothing more for the read timeout" + (f" after {chunks} chunks." if chunks else " after its headers."))
        elif _is_connect_timeout(exc):
            problem = Problem("unreachable", f"Cannot connect to {where}: no answer within the connect timeout.")
        else:
            problem = Problem("timeout", f"Timed out waiting for {where} to answer (read timeout).")
    elif isinstance(exc, openai.APIConnectionError) or _is_transport_error(exc):
        if after_headers:
            problem = Problem("dropped", f"Connection to {where} dropped mid-stream after {chunks} chunks.")
        else:
            cause = exc.__cause__ or exc.__context__
            reason = f" ({redact(one_line(str(cause), 120), api_key)})" if cause and str(cause) else ""
            problem = Problem("unreachable", f"Cannot reach {where}: is the server running?{reason}")
    elif isinstance(exc, openai.APIError):
        problem = Problem("server", f"The server sent an error: {redact(server_text(_server_message(exc.body, exc.message)), api_key)}")
    elif isinstance(exc, UserFacingError):
        problem = Problem("error", str(exc))
    else:
        problem = internal_problem(exc)
    return Problem(problem.kind, one_line(problem.message))


def _retry_hint(exc) -> str:  # exc: openai.APIStatusError
    from .stream import retry_after_seconds

    after = retry_after_seconds(exc.response.headers)
    return f" (it asked to retry after {after:.1f} s)" if after is not None else ""


def describe_error_payload(payload: dict, api_key: str | None) -> Problem:
    """An ``{"error": ...}`` object sent inside the stream."""
    detail = redact(one_line(_server_message(payload, json.dumps(payload)[:200])), api_key)
    return Problem("server", f"The server sent an error: {detail}")


def _http():
    try:  # openai ≥ 3.5x is built on httpx2; earlier releases on httpx
        import httpx2 as http
    except ImportError:
        import httpx as http  # type: ignore[no-redef]
    return http


def _is_transport_error(exc: BaseException) -> bool:
    """Reads of a raw body raise the HTTP library's own errors, not the SDK's."""
    return isinstance(exc, _http().TransportError)


def _is_timeout(exc: BaseException) -> bool:
    import openai

    return isinstance(exc, (openai.APITimeoutError, _http().TimeoutException))


def _is_connect_timeout(exc: BaseException) -> bool:
    http = _http()
    return any(isinstance(e, http.ConnectTimeout) for e in (exc, exc.__cause__, exc.__context__))
