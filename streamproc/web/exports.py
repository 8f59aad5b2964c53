"""Export downloads and the list of recent exports, read from the exporter's results and files."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any, Final

import orjson
from aiohttp import web

from exporter.formats import CONTENT_TYPES
from exporter.urls import EXPORTS_PATH
from streamproc.web.common import SETTINGS, ApiError

DEFAULT_LIMIT: Final = 50
MAX_LIMIT: Final = 500
#: Fields of a result that describe the file on the exporter's disk: not for HTTP clients
#: (they are kept in the results topic for processes on the same machine).
_PRIVATE: Final = ("path", "cut")


class ResultStore:
    """Read-only view of the exporter's results (the ``export_results`` table of its read
    model, a SQLite file in WAL mode: this process never blocks the exporter)."""

    def __init__(self, readmodel_file: Path) -> None:
        self.path = readmodel_file

    def _connect(self) -> sqlite3.Connection:
        if not self.path.exists():
            raise ApiError(
                503,
                "the exporter has not created its read model yet "
                f"({self.path.name}); is `streamproc exporter` running with the same "
                "STREAMPROC_DATA_DIR / STREAMPROC_READMODEL_PATH?",
            )
        conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, timeout=5)
        conn.execute("PRAGMA query_only=1")
        return conn

    def get(self, request_id: str) -> dict[str, Any] | None:
        """The stored result of ``request_id`` (succeeded, possibly expired), or None."""
        conn = self._connect()
        try:
            row = conn.execute(
                "SELECT result FROM export_results WHERE request_id = ?", (request_id,)
            ).fetchone()
        finally:
            conn.close()
        return None if row is None else dict(orjson.loads(row[0]))

    def recent(self, limit: int) -> list[dict[str, Any]]:
        """The latest ``limit`` results, newest first (by ``finished_at``)."""
        conn = self._connect()
        try:
            rows = conn.execute(
                "SELECT result FROM export_results"
                " ORDER BY json_extract(result, '$.finished_at') DESC, request_id LIMIT ?",
                (limit,),
            ).fetchall()
        finally:
            conn.close()
        return [dict(orjson.loads(text)) for (text,) in rows]


def public(result: dict[str, Any]) -> dict[str, Any]:
    """A result as the API shows it: without the exporter's local path."""
    return {k: v for k, v in result.items() if k not in _PRIVATE}


STORE: Final = web.AppKey("export_results", ResultStore)


async def list_exports(request: web.Request) -> web.Response:
    """``GET /api/v1/exports?limit=N``: recent results, newest first."""
    raw = request.query.get("limit", str(DEFAULT_LIMIT))
    try:
        limit = int(raw)
    except ValueError:
        raise ApiError(400, f"'limit' must be a whole number, got {raw!r}") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise ApiError(400, f"'limit' must be between 1 and {MAX_LIMIT}, got {limit}")
    # SQLite reads run off the event loop (a busy read model must not stall other requests).
    results = [public(r) for r in await asyncio.to_thread(request.app[STORE].recent, limit)]
    return web.json_response({"exports": results, "count": len(results)})


async def download(request: web.Request) -> web.StreamResponse:
    """``GET /api/v1/exports/{request_id}``: the export's file (Range requests supported),
    as an attachment named as the service named it."""
    settings = request.app[SETTINGS]
    request_id = request.match_info["request_id"]
    result = await asyncio.to_thread(request.app[STORE].get, request_id)
    if result is None:
        raise ApiError(
            404,
            f"no export with request_id {request_id!r} (never succeeded, or removed "
            "long after it expired)",
        )
    if result.get("expired_at"):
        raise ApiError(
            410,
            f"export {request_id!r} expired at {result['expired_at']} and its file was "
            f"removed (retention {settings.export_retention_hours:g} h); request it again",
            expired_at=result["expired_at"],
        )
    name = Path(result.get("file_name") or result["path"]).name
    # The exporter's directory as mounted here (the results' absolute path may be another
    # container's); only a plain name inside it is ever served.
    target = settings.exports_dir / name
    if not target.is_file():
        raise ApiError(
            410,
            f"the file of export {request_id!r} is no longer in the export directory",
        )
    _check_range(request, target.stat().st_size)
    content_type = result.get("content_type") or CONTENT_TYPES.get(
        result.get("format", "csv"), "application/octet-stream"
    )
    # No Content-Encoding is ever set: a csv.gz is served as the gzip file it is (the
    # checksum is of those bytes). aiohttp would serve a "<name>.gz" sibling to clients
    # accepting gzip; export file names are unique per request id, so there is none.
    return web.FileResponse(
        target,
        headers={
            "Content-Type": content_type,
            "Content-Disposition": f'attachment; filename="{name}"',
            "X-Checksum-SHA256": str(result.get("sha256", "")),
            "Cache-Control": "private, max-age=0",
        },
    )


def _check_range(request: web.Request, size: int) -> None:
    """Unsatisfiable or malformed ranges as JSON 416 errors (aiohttp would answer them
    with an empty body); satisfiable ones are served by FileResponse."""
    if "Range" not in request.headers:
        return
    try:
        wanted = request.http_range
    except ValueError:
        raise ApiError(
            416,
            f"malformed Range header {request.headers['Range']!r}; use bytes=START-[END]",
            size=size,
        ) from None
    start = wanted.start
    if start is not None and start >= 0 and start >= size:
        raise ApiError(416, f"the range starts at byte {start}; the file has {size}", size=size)


def add_routes(app: web.Application) -> None:
    """Register the export routes on ``app`` (which holds the settings)."""
    app[STORE] = ResultStore(app[SETTINGS].readmodel_file)
    app.router.add_get(EXPORTS_PATH, list_exports)
    app.router.add_get(EXPORTS_PATH + "/{request_id}", download)
