"""Turn whatever went wrong into one line a person can act on, with no secret in it.

Failures of the server or the network are described as such. Anything else is streamtui's
own fault: it is called an internal error, written to the log file with its traceback, and
never blamed on the server.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from . import format as fmt
from .endpoint import PLACEHOLDER_KEY
from .logfile import log_failure, log_path
from .sanitize import one_line, server_text
from .secrets import mask_url, redact, redact_all


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


def server_detail(text: object, api_key: str | None, limit: int = 300) -> str:
    """A server's words for one line: safe to draw, no URL credentials, no echo of the key
    (the placeholder sent to servers without auth is no secret: "needed" stays "needed")."""
    detail = redact_all(one_line(str(text), limit))  # every secret this process knows, URLs masked
    return detail if api_key in (None, PLACEHOLDER_KEY) else redact(detail, api_key)


def internal_problem(exc: BaseException, during: str = "a run") -> Problem:
    """streamtui's own failure: one line for the person, the traceback in the log. An
    exception's text may hold anything (a URL with its password, a key): it is redacted."""
    log_failure(f"Internal error during {during}", exc)
    return Problem("internal", f"Internal error in streamtui ({type(exc).__name__}: {redact_all(one_line(str(exc), 120))}); details are in {log_path()}")


def describe_exception(
    exc: BaseException, *, base_url: str, model: str, api_key: str | None, chunks: int, after_headers: bool = False
) -> Problem:
    """Classify an exception from the openai SDK, its HTTP library, or streamtui itself."""
    import openai

    where = mask_url(base_url)
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        detail = server_detail(_server_message(exc.body, exc.message), api_key)
        retry = _retry_hint(exc)
        title = f"{status} {_phrase(status)}"
        if status == 401 and api_key in (None, PLACEHOLDER_KEY):
            problem = Problem("auth", f"{title}: {where} wants an API key, and none was sent. Set OPENAI_API_KEY, or name its variable with --api-key-env. ({detail})")
        elif status == 401:
            problem = Problem("auth", f"{title}: {where} rejected the API key. Check OPENAI_API_KEY or --api-key-env. ({detail})")
        elif status == 403:
            problem = Problem("auth", f"{title}: the key has no access to this model or API. ({detail})")
        elif status == 404:
            problem = Problem("not_found", f"{title}: model '{server_text(model)}' or this API does not exist at {where}. ({detail})")
        elif status == 408:
            problem = Problem("timeout", f"{title}: {where} gave up waiting for the request{retry}. ({detail})")
        elif status == 429:
            problem = Problem("rate_limit", f"{title}: rate limited by {where}{retry}. ({detail})")
        elif status >= 500:
            problem = Problem("server", f"{title}: server error from {where}{retry}. ({detail})")
        else:
            problem = Problem("bad_request", f"{title}: the request was rejected by {where}: {detail}")
    elif _is_timeout(exc):
        patience = _timeout_seconds(exc, "connect" if _is_connect_timeout(exc) else "read")
        if after_headers:
            problem = Problem("stalled", f"Stalled: {where} sent nothing more for {patience} (the read timeout) after " + (chunks_phrase(chunks) + "." if chunks else "its headers."))
        elif _is_connect_timeout(exc):
            problem = Problem("unreachable", f"Cannot connect to {where}: no answer within {patience} (the connect timeout).")
        else:
            problem = Problem("timeout", f"Timed out: {where} accepted the request but sent no answer within {patience} (the read timeout).")
    elif isinstance(exc, openai.APIConnectionError) or _is_transport_error(exc):
        if after_headers:
            if _is_a(exc, "RemoteProtocolError"):
                how = "closed the connection before the end of the answer"
            elif _is_a(exc, "ReadError") or _is_a(exc, "NetworkError"):
                how = "reset the connection (or it was lost)"
            else:
                how = "dropped the connection"
            problem = Problem("dropped", f"Dropped mid-stream: {where} {how}, after {chunks_phrase(chunks)}.")
        else:
            cause = exc.__cause__ or exc.__context__
            reason = f" ({server_detail(cause, api_key, 120)})" if cause and str(cause) else ""
            problem = Problem("unreachable", f"Cannot reach {where}: is the server running?{reason}")
    elif isinstance(exc, openai.APIError):
        problem = Problem("server", f"The server sent an error: {server_detail(_server_message(exc.body, exc.message), api_key)}")
    elif isinstance(exc, UserFacingError):
        problem = Problem("error", str(exc))
    else:
        problem = internal_problem(exc)
    return Problem(problem.kind, one_line(problem.message))


def _phrase(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def chunks_phrase(count: int) -> str:
    """"1 chunk", "2 chunks"."""
    return fmt.quantity(count, "chunk")


def _timeout_seconds(exc: BaseException, which: str) -> str:
    """The timeout that ran out, as the request carried it ("0.3 s"), or its name alone."""
    for error in (exc, exc.__cause__, exc.__context__):
        try:
            seconds = error.request.extensions["timeout"][which]  # type: ignore[union-attr]
        except (AttributeError, KeyError, TypeError, RuntimeError):  # RuntimeError: httpx's unset .request
            continue
        if isinstance(seconds, (int, float)):
            return f"{seconds:g} s"
    return "too long"


def _is_a(exc: BaseException, name: str) -> bool:
    """``exc`` (or what caused it) is the HTTP library's ``name`` error."""
    kind = getattr(_http(), name, None)
    return kind is not None and any(isinstance(error, kind) for error in (exc, exc.__cause__, exc.__context__))


def _retry_hint(exc) -> str:  # exc: openai.APIStatusError
    from .stream import retry_after_seconds

    after = retry_after_seconds(exc.response.headers)
    return f" (it asked to retry after {after:.1f} s)" if after is not None else ""


def describe_error_payload(payload: dict, api_key: str | None) -> Problem:
    """An ``{"error": ...}`` object sent inside the stream."""
    return Problem("server", f"The server sent an error: {server_detail(_server_message(payload, json.dumps(payload)[:200]), api_key)}")


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
