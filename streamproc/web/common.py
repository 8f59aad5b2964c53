"""Shared parts of the web service: API prefix, app keys, the JSON error shape and middleware."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Final

from aiohttp import web

from streamproc.settings import Settings

log = logging.getLogger(__name__)

API: Final = "/api/v1"
OPENAPI_PATH: Final = f"{API}/openapi.json"
SETTINGS: Final = web.AppKey("settings", Settings)
_REASONS: Final = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    410: "gone",
    416: "range_not_satisfiable",
    500: "internal_error",
    503: "unavailable",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_error(status: int, message: str, **extra: Any) -> web.Response:
    """The one error shape of the API: ``{"error": {"status", "code", "message", ...}}``."""
    code = _REASONS.get(status, "error")
    body = {"error": {"status": status, "code": code, "message": message, **extra}}
    return web.json_response(body, status=status)


class ApiError(Exception):
    """Raised by handlers for an error answer (status, one-line message, extra fields)."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error as JSON: handler errors, unknown paths and methods, and crashes."""
    try:
        return await handler(request)
    except ApiError as exc:
        response = json_error(exc.status, exc.message, **exc.extra)
        if exc.status == 416 and "size" in exc.extra:
            response.headers["Content-Range"] = f"bytes */{exc.extra['size']}"
        return response
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        message = {
            404: f"no such resource: {request.path} (see {OPENAPI_PATH})",
            405: f"method {request.method} is not allowed on {request.path}",
        }.get(exc.status, exc.reason)
        response = json_error(exc.status, message)
        for name in ("Allow", "Content-Range"):
            if name in exc.headers:
                response.headers[name] = exc.headers[name]
        return response
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return json_error(500, f"internal error: {type(exc).__name__}")
