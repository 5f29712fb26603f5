"""Errors of the cluster IO layer, one class per status the sync engine reacts to differently.

Every failure of a request against an apiserver surfaces as an `ApiError` (or a subclass picked from the HTTP status
and the Status object's `reason`), so callers catch one type and switch on the class. Transport failures (connection
refused, TLS, read timeouts) are `TransportError` with status 0, so they are ApiErrors too. `from_response` never
raises itself: a body that is not a JSON Status still produces an error carrying the raw text.

`ConfigError` is separate: it means the kubeconfig could not be loaded, which is a user mistake, not a cluster fault.
The errors live and die in the process that raised them (crdsync has no worker processes), so they are not picklable.
"""

from __future__ import annotations

import json
from typing import Any


class ApiError(Exception):
    """A request failed. `status` is the HTTP status (0 for transport failures), `reason` the Status reason
    (e.g. "NotFound", "AlreadyExists", "Conflict", "Expired"), `message` the server's human-readable message and
    `body` the decoded Status object when there was one."""

    def __init__(
        self,
        status: int,
        reason: str,
        message: str,
        body: dict[str, Any] | None = None,
        *,
        method: str | None = None,
        path: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.status = status
        self.reason = reason
        self.message = message
        self.body = body
        self.method = method
        self.path = path
        self.retry_after = retry_after
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f" ({self.method} {self.path})" if self.method and self.path else ""
        return f"{self.status} {self.reason}: {self.message}{where}"


class BadRequest(ApiError):
    """400: malformed request (e.g. a bad label selector or patch body)."""


class Unauthorized(ApiError):
    """401: credentials missing, wrong or expired."""


class Forbidden(ApiError):
    """403: RBAC denies the verb on the resource."""


class NotFound(ApiError):
    """404: the object, or the whole resource (CRD deleted, group not served), does not exist."""


class MethodNotAllowed(ApiError):
    """405: the resource does not support the verb."""


class Conflict(ApiError):
    """409: an optimistic-concurrency (resourceVersion / uid precondition) or apply conflict."""


class AlreadyExists(Conflict):
    """409 with reason AlreadyExists: create of a name that is taken. A Conflict, so `except Conflict` sees it."""


class Gone(ApiError):
    """410: the requested resourceVersion (watch start, list continue token) is too old; relist."""


class UnsupportedMediaType(ApiError):
    """415: the patch type is not supported (e.g. strategic merge on a custom resource)."""


class Invalid(ApiError):
    """422: the object failed validation; `body["details"]["causes"]` names the fields."""


class TooManyRequests(ApiError):
    """429: the apiserver throttled us (priority and fairness, or max-in-flight); `retry_after` says how long."""


class ServerError(ApiError):
    """5xx: the apiserver (or an aggregated API or webhook behind it) failed."""


class TransportError(ApiError):
    """No HTTP answer: connection refused or reset, TLS failure, or a read timed out. Status 0."""

    def __init__(self, message: str, *, method: str | None = None, path: str | None = None) -> None:
        super().__init__(0, "TransportError", message, None, method=method, path=path)


class Timeout(TransportError):
    """The server sent nothing within the client-side read timeout (for a watch: a silent, probably dead stream)."""


class ConfigError(Exception):
    """The kubeconfig (or in-cluster configuration) could not be loaded; the message says which file and why."""


_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    405: MethodNotAllowed,
    409: Conflict,
    410: Gone,
    415: UnsupportedMediaType,
    422: Invalid,
    429: TooManyRequests,
}


def error_class(status: int, reason: str = "") -> type[ApiError]:
    """The ApiError subclass for an HTTP status and Status reason."""
    if status == 409 and reason == "AlreadyExists":
        return AlreadyExists
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    if 500 <= status < 600:
        return ServerError
    return ApiError


def from_status(
    status_obj: dict[str, Any],
    *,
    http_status: int | None = None,
    method: str | None = None,
    path: str | None = None,
    retry_after: float | None = None,
) -> ApiError:
    """The error for a decoded metav1.Status (a response body or the object of a watch ERROR event)."""
    code = status_obj.get("code")
    status = code if isinstance(code, int) and code > 0 else (http_status or 0)
    reason = status_obj.get("reason")
    reason = reason if isinstance(reason, str) and reason else _default_reason(status)
    message = status_obj.get("message")
    message = message if isinstance(message, str) and message else reason
    if retry_after is None:
        details = status_obj.get("details")
        if isinstance(details, dict) and isinstance(details.get("retryAfterSeconds"), int | float):
            retry_after = float(details["retryAfterSeconds"])
    cls = error_class(status, reason)
    return cls(status, reason, message, status_obj, method=method, path=path, retry_after=retry_after)


def from_response(
    status: int,
    body_bytes: bytes,
    *,
    method: str | None = None,
    path: str | None = None,
    retry_after: float | None = None,
) -> ApiError:
    """The error for an HTTP error response: its Status body when it has one, else the raw text (shortened)."""
    try:
        decoded = json.loads(body_bytes) if body_bytes else None
    except (ValueError, UnicodeDecodeError):
        decoded = None
    if isinstance(decoded, dict) and decoded.get("kind") == "Status":
        return from_status(decoded, http_status=status, method=method, path=path, retry_after=retry_after)
    text = body_bytes.decode("utf-8", errors="replace").strip()
    if len(text) > 500:
        text = text[:500] + "..."
    reason = _default_reason(status)
    cls = error_class(status, reason)
    body = decoded if isinstance(decoded, dict) else None
    return cls(status, reason, text or reason, body, method=method, path=path, retry_after=retry_after)


_REASONS: dict[int, str] = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    409: "Conflict",
    410: "Expired",
    413: "RequestEntityTooLarge",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


def _default_reason(status: int) -> str:
    if status in _REASONS:
        return _REASONS[status]
    if 500 <= status < 600:
        return "InternalError"
    return f"HTTP{status}" if status else "Unknown"
