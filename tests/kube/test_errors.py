"""Error mapping: HTTP status and Status reason pick the class; odd bodies still give a readable error."""

from __future__ import annotations

import json

import pytest

from crdsync.kube import errors
from crdsync.kube.errors import from_response, from_status


def _status(code: int, reason: str, message: str = "msg", **extra: object) -> bytes:
    return json.dumps({"kind": "Status", "apiVersion": "v1", "code": code, "reason": reason, "message": message,
                       **extra}).encode()


@pytest.mark.parametrize(
    ("status", "reason", "cls"),
    [
        (400, "BadRequest", errors.BadRequest),
        (401, "Unauthorized", errors.Unauthorized),
        (403, "Forbidden", errors.Forbidden),
        (404, "NotFound", errors.NotFound),
        (405, "MethodNotAllowed", errors.MethodNotAllowed),
        (409, "Conflict", errors.Conflict),
        (409, "AlreadyExists", errors.AlreadyExists),
        (410, "Expired", errors.Gone),
        (415, "UnsupportedMediaType", errors.UnsupportedMediaType),
        (422, "Invalid", errors.Invalid),
        (429, "TooManyRequests", errors.TooManyRequests),
        (500, "InternalError", errors.ServerError),
        (503, "ServiceUnavailable", errors.ServerError),
        (418, "Teapot", errors.ApiError),
    ],
)
def test_status_picks_class(status: int, reason: str, cls: type[errors.ApiError]) -> None:
    err = from_response(status, _status(status, reason, "the message"), method="GET", path="/api/v1/pods")
    assert type(err) is cls
    assert (err.status, err.reason, err.message) == (status, reason, "the message")
    assert err.body is not None and err.body["kind"] == "Status"
    assert "GET /api/v1/pods" in str(err)


def test_already_exists_is_a_conflict() -> None:
    assert isinstance(from_response(409, _status(409, "AlreadyExists")), errors.Conflict)


def test_non_json_body_keeps_text() -> None:
    err = from_response(502, b"<html>bad gateway</html>")
    assert isinstance(err, errors.ServerError)
    assert err.message == "<html>bad gateway</html>"
    assert err.reason == "InternalError"
    assert err.body is None


def test_empty_and_huge_bodies() -> None:
    assert from_response(404, b"").message == "NotFound"
    huge = from_response(500, b"x" * 5000)
    assert len(huge.message) < 600 and huge.message.endswith("...")


def test_invalid_utf8_body_does_not_raise() -> None:
    err = from_response(400, b"\xff\xfe bad")
    assert isinstance(err, errors.BadRequest)
    assert "bad" in err.message


def test_status_code_wins_over_http_status_and_retry_after_is_read() -> None:
    err = from_status({"kind": "Status", "code": 410, "reason": "Expired", "message": "too old resource version"},
                      http_status=200)
    assert isinstance(err, errors.Gone)
    throttled = from_response(429, _status(429, "TooManyRequests", details={"retryAfterSeconds": 3}))
    assert throttled.retry_after == 3.0


def test_watch_error_without_code_uses_reason_default() -> None:
    err = from_status({"kind": "Status", "message": "boom"})
    assert err.status == 0 and err.message == "boom"


def test_transport_error_is_api_error_with_status_zero() -> None:
    err = errors.Timeout("silent", method="GET", path="/x")
    assert isinstance(err, errors.TransportError) and isinstance(err, errors.ApiError)
    assert err.status == 0
