"""The ops dashboard: its static page at ``/`` and ``POST /api/v1/exports`` (request an export)."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from pathlib import Path
from typing import Any, Final

import orjson
from aiohttp import web

from exporter.request import BadRequest, parse_request
from exporter.urls import EXPORTS_PATH
from streamproc.settings import Settings
from streamproc.web.common import SETTINGS, ApiError

STATIC_DIR: Final = Path(__file__).resolve().parent / "static"
#: The most a request body may hold (an export request is a few hundred bytes).
MAX_BODY: Final = 16 * 1024


async def index(_request: web.Request) -> web.FileResponse:
    """``GET /``: the dashboard page (HTML; its script and style under ``/static/``)."""
    return web.FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})


async def send_export_request(settings: Settings, request: dict[str, Any]) -> None:
    """Publish one export request on the command topic, keyed by its id (as
    ``streamproc export`` does)."""
    from aiokafka import AIOKafkaProducer

    from streamproc.security import client_kwargs

    producer = AIOKafkaProducer(**client_kwargs(settings), acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(
            settings.topic_export_requests,
            value=orjson.dumps(request),
            key=request["request_id"].encode(),
        )
    finally:
        await producer.stop()


async def request_export(request: web.Request) -> web.Response:
    """``POST /api/v1/exports``: validate an export request (the command topic's schema,
    without ``request_id``), send it to the exporter and answer ``202`` with its id and
    the URL its file will be at once the exporter wrote it."""
    settings = request.app[SETTINGS]
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise ApiError(400, f"the request body is over {MAX_BODY} bytes")
    raw = await request.read()
    if len(raw) > MAX_BODY:
        raise ApiError(400, f"the request body is over {MAX_BODY} bytes")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ApiError(400, "the body must be a JSON object (an export request)") from None
    if not isinstance(body, dict):
        raise ApiError(400, "the body must be a JSON object (an export request, docs/exports.md)")
    if "request_id" in body:
        raise ApiError(400, "leave out 'request_id': the service assigns it")
    body["request_id"] = f"web-{uuid.uuid4()}"
    try:
        parse_request(body)
    except BadRequest as exc:
        raise ApiError(400, str(exc)) from None
    try:
        await send_export_request(settings, body)
    except Exception as exc:
        raise ApiError(
            503, f"cannot send the request to Kafka at {settings.bootstrap_servers}: {exc}"
        ) from None
    return web.json_response(
        {"request_id": body["request_id"], "url": f"{EXPORTS_PATH}/{body['request_id']}"},
        status=202,
    )


def read_directory(readmodel: Path) -> dict[str, Any]:
    """Names for the page: teams, channels and agents (with primary team and the away
    status of an open AWAY presence interval) from the read model's directory."""
    if not readmodel.exists():
        raise ApiError(503, "the exporter has not created its read model yet (start it)")
    conn = sqlite3.connect(f"{readmodel.resolve().as_uri()}?mode=ro", uri=True, timeout=5)
    try:
        away = dict(
            conn.execute(
                "SELECT agent_id, away_status FROM presence_intervals"
                " WHERE end_t IS NULL AND presence = 'AWAY' ORDER BY start"
            )
        )
        body: dict[str, Any] = {"teams": {}, "channels": {}, "agents": {}}
        for kind, entity, fields in conn.execute(
            "SELECT kind, id, fields FROM directory WHERE kind IN ('team', 'channel', 'agent')"
        ):
            record = orjson.loads(fields) if fields else {}
            name = record.get("display_name") or record.get("name") or entity
            if kind == "agent":
                body["agents"][entity] = {"name": name, "team_id": record.get("team_id"),
                                          "away_status": away.get(entity)}  # fmt: skip
            else:
                body[kind + "s"][entity] = name
        for agent, status in away.items():
            body["agents"].setdefault(agent, {"name": agent, "team_id": None})
            body["agents"][agent]["away_status"] = status
        return body
    finally:
        conn.close()


async def directory(request: web.Request) -> web.Response:
    """``GET /api/v1/dashboard/directory``: names of teams, channels and agents."""
    body = await asyncio.to_thread(read_directory, request.app[SETTINGS].readmodel_file)
    return web.Response(body=orjson.dumps(body), content_type="application/json")


def add_routes(app: web.Application) -> None:
    """Mount ``/``, ``/static/``, ``GET /api/v1/dashboard/directory`` and
    ``POST /api/v1/exports`` on ``app``."""
    app.router.add_get("/", index)
    app.router.add_get("/api/v1/dashboard/directory", directory)
    app.router.add_static("/static/", STATIC_DIR)
    app.router.add_post(EXPORTS_PATH, request_export)


def openapi_directory() -> dict[str, Any]:
    """The OpenAPI operation of ``GET /api/v1/dashboard/directory``."""
    error = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    return {
        "summary": "Names of teams, channels and agents (agents: team_id, away_status)",
        "operationId": "dashboardDirectory",
        "responses": {
            "200": {"description": "{teams: {id: name}, channels: {id: name}, agents: {id:"
                                   " {name, team_id, away_status}}}",
                    "content": {"application/json": {"schema": {"type": "object"}}}},
            "503": {"description": "no read model yet", **error},
        },
    }  # fmt: skip


def openapi_post() -> dict[str, Any]:
    """The OpenAPI operation of ``POST /api/v1/exports``."""
    error = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    return {
        "summary": "Request an export (sent on the command topic, as `streamproc export` does)",
        "operationId": "requestExport",
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {
                "type": "object",
                "required": ["export_type"],
                "description": "an export request of docs/exports.md without request_id",
            }}},
        },
        "responses": {
            "202": {"description": "sent; {request_id, url}: the file is at url once written",
                    "content": {"application/json": {"schema": {"type": "object"}}}},
            "400": {"description": "invalid request", **error},
            "503": {"description": "Kafka unreachable", **error},
        },
    }  # fmt: skip
