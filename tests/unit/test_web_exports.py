"""The HTTP service's export routes on a real server: downloads, ranges, JSON errors, expiry."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from openapi_spec_validator import validate

from exporter.download import DownloadError, Unreachable, download
from exporter.expiry import TOMBSTONE_DAYS, sweep
from exporter.formats import write_export
from exporter.readmodel import ReadModel
from exporter.request import parse_request
from exporter.urls import delivery_fields, export_path
from streamproc.settings import Settings
from streamproc.web.app import create_app

NOW = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
ROWS = [
    {
        "created_at": datetime(2026, 11, 2, 9, tzinfo=UTC),
        "team_id": f"team-{i}",
        "team_name": "Atención al cliente" if i % 2 else "=SUM(A1)",
        "resolves_with_reply": i,
        "resolves_without_reply": 0,
        "average_first_response_time": 1500 * i,
        "average_resolution_time": None,
        "total_handle_time": 1000,
        "total_no_reply_time": 0,
        "total_cherry_pick_time": 0,
        "average_handle_time": 999,
        "contacts_helped": 3,
        "csat_with_score_1": 0,
        "csat_with_score_2": 0,
        "csat_with_score_3": 0,
        "csat_with_score_4": 0,
        "csat_with_score_5": 1,
        "tags_added": 2,
        "topics_added": 1,
        "replies": 7,
    }
    for i in range(2000)
]


def settings_for(tmp_path: Path) -> Settings:
    return replace(
        Settings(),
        data_dir=tmp_path,
        export_retention_hours=24.0,
        public_url="http://files.example:8080/",
    )


def store_export(
    settings: Settings,
    model: ReadModel,
    request_id: str,
    *,
    fmt: str = "csv",
    finished: datetime = NOW,
    bom: bool = False,
) -> dict[str, Any]:
    """Write a ``teams`` export file and remember its result, as the exporter does."""
    request = parse_request(
        {
            "request_id": request_id,
            "export_type": "teams",
            "from": "2026-11-02",
            "to": "2026-11-02",
            "format": fmt,
            "bom": bom,
        }
    )
    digest = hashlib.sha256(request_id.encode()).hexdigest()[:12]
    suffix = {"csv": ".csv", "csv.gz": ".csv.gz", "parquet": ".parquet"}[fmt]
    path = settings.exports_dir / f"teams-20261203T080000-{digest}{suffix}"
    written = write_export(path, request, ROWS)
    result = {
        "request_id": request_id,
        "export_type": "teams",
        "status": "succeeded",
        "path": str(path),
        "rows": written.rows,
        "bytes": written.bytes,
        "sha256": written.sha256,
        **delivery_fields(settings, request, path),
        "started_at": finished.isoformat().replace("+00:00", "Z"),
        "finished_at": finished.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }
    model.remember_result(request_id, result)
    return result


@contextlib.asynccontextmanager
async def serving(tmp_path: Path) -> AsyncIterator[tuple[Settings, ReadModel, TestClient]]:
    """The web app on a real local port, over a fresh read model and export dir."""
    settings = settings_for(tmp_path)
    model = ReadModel(settings.readmodel_file, 7_200_000)
    client = TestClient(TestServer(create_app(settings, follow_live_feed=False)))
    await client.start_server()
    try:
        yield settings, model, client
    finally:
        await client.close()
        model.close()


def test_download_is_the_file_as_an_attachment_with_ranges(tmp_path: Path) -> None:
    async def main() -> None:
        async with serving(tmp_path) as (settings, model, client):
            result = store_export(settings, model, "r-1")
            assert result["url"] == "http://files.example:8080/api/v1/exports/r-1"
            data = Path(result["path"]).read_bytes()
            response = await client.get(export_path("r-1"))
            assert response.status == 200
            assert await response.read() == data
            assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
            name = Path(result["path"]).name
            assert response.headers["Content-Disposition"] == f'attachment; filename="{name}"'
            assert response.headers["X-Checksum-SHA256"] == hashlib.sha256(data).hexdigest()
            assert response.headers["Accept-Ranges"] == "bytes"

            part = await client.get(export_path("r-1"), headers={"Range": "bytes=100-199"})
            assert part.status == 206
            assert await part.read() == data[100:200]
            assert part.headers["Content-Range"] == f"bytes 100-199/{len(data)}"
            tail = await client.get(export_path("r-1"), headers={"Range": "bytes=-50"})
            assert (tail.status, await tail.read()) == (206, data[-50:])

            beyond = await client.get(export_path("r-1"), headers={"Range": f"bytes={len(data)}-"})
            assert beyond.status == 416
            assert beyond.headers["Content-Range"] == f"bytes */{len(data)}"
            assert (await beyond.json())["error"]["code"] == "range_not_satisfiable"
            bad = await client.get(export_path("r-1"), headers={"Range": "lines=1-2"})
            assert bad.status == 416
            assert "malformed Range" in (await bad.json())["error"]["message"]

            head = await client.head(export_path("r-1"))
            assert head.status == 200
            assert int(head.headers["Content-Length"]) == len(data)

    asyncio.run(main())


@pytest.mark.parametrize(
    ("fmt", "content_type"),
    [("csv.gz", "application/gzip"), ("parquet", "application/vnd.apache.parquet")],
)
def test_compressed_and_parquet_files_are_served_as_they_are(
    tmp_path: Path, fmt: str, content_type: str
) -> None:
    async def main() -> None:
        async with serving(tmp_path) as (settings, model, client):
            result = store_export(settings, model, "r-z", fmt=fmt)
            response = await client.get(export_path("r-z"), headers={"Accept-Encoding": "gzip, br"})
            assert response.status == 200
            assert response.headers["Content-Type"] == content_type
            assert "Content-Encoding" not in response.headers
            body = await response.read()  # not decompressed: no Content-Encoding
            assert body == Path(result["path"]).read_bytes()
            assert hashlib.sha256(body).hexdigest() == result["sha256"]

    asyncio.run(main())


def test_request_ids_with_any_characters_have_working_urls(tmp_path: Path) -> None:
    async def main() -> None:
        async with serving(tmp_path) as (settings, model, client):
            rid = "team a/b ?x=1#ñ%20"
            result = store_export(settings, model, rid)
            assert result["url"].endswith("/api/v1/exports/team%20a%2Fb%20%3Fx%3D1%23%C3%B1%2520")
            response = await client.get(export_path(rid))
            assert response.status == 200
            assert await response.read() == Path(result["path"]).read_bytes()

    asyncio.run(main())


def test_errors_are_json(tmp_path: Path) -> None:
    async def main() -> None:
        async with serving(tmp_path) as (settings, model, client):
            store_export(settings, model, "r-1")
            for path, status, code in [
                (export_path("nope"), 404, "not_found"),
                ("/api/v1/nothing-here", 404, "not_found"),
                ("/nothing-here", 404, "not_found"),  # ("/" is the dashboard page)
                ("/api/v1/exports?limit=0", 400, "bad_request"),
                ("/api/v1/exports?limit=many", 400, "bad_request"),
            ]:
                response = await client.get(path)
                assert response.status == status, path
                assert response.content_type == "application/json", path
                error = (await response.json())["error"]
                assert (error["status"], error["code"]) == (status, code)
                assert error["message"]
            posted = await client.post(export_path("r-1"))
            assert posted.status == 405
            assert (await posted.json())["error"]["code"] == "method_not_allowed"
            # The file removed by hand (not by retention): gone.
            Path(settings.exports_dir).joinpath(
                next(p.name for p in settings.exports_dir.iterdir())
            ).unlink()
            gone = await client.get(export_path("r-1"))
            assert gone.status == 410

    asyncio.run(main())


def test_no_read_model_yet_is_503(tmp_path: Path) -> None:
    async def main() -> None:
        settings = settings_for(tmp_path)
        async with TestClient(TestServer(create_app(settings, follow_live_feed=False))) as client:
            response = await client.get("/api/v1/exports")
            assert response.status == 503
            assert "streamproc exporter" in (await response.json())["error"]["message"]
            health = await client.get("/api/v1/health")
            assert health.status == 200
            assert (await health.json())["read_model"] is False

    asyncio.run(main())


def test_list_openapi_and_health(tmp_path: Path) -> None:
    async def main() -> None:
        async with serving(tmp_path) as (settings, model, client):
            store_export(settings, model, "old", finished=NOW - timedelta(hours=2))
            store_export(settings, model, "new", finished=NOW)
            listed = await (await client.get("/api/v1/exports")).json()
            assert [e["request_id"] for e in listed["exports"]] == ["new", "old"]
            assert listed["count"] == 2
            assert all("path" not in e and e["url"] for e in listed["exports"])
            one = await (await client.get("/api/v1/exports?limit=1")).json()
            assert [e["request_id"] for e in one["exports"]] == ["new"]

            doc = await (await client.get("/api/v1/openapi.json")).json()
            validate(doc)  # a valid OpenAPI 3.1 document (raises otherwise)
            assert doc["openapi"].startswith("3.")
            assert set(doc["paths"]) == {
                "/api/v1/health",
                "/api/v1/openapi.json",
                "/api/v1/exports",
                "/api/v1/exports/{request_id}",
                "/api/v1/metrics",
                "/api/v1/live",
                "/api/v1/live/stream",
                "/api/v1/dashboard/directory",
            }
            responses = doc["paths"]["/api/v1/exports/{request_id}"]["get"]["responses"]
            assert {"200", "206", "404", "410", "416"} <= set(responses)
            assert doc["servers"] == [{"url": "http://files.example:8080"}]
            health = await (await client.get("/api/v1/health")).json()
            assert health["status"] == "ok" and health["read_model"] is True

    asyncio.run(main())


def test_expired_exports_answer_410_then_404(tmp_path: Path) -> None:
    async def main() -> None:
        async with serving(tmp_path) as (settings, model, client):
            old = store_export(settings, model, "old", finished=NOW - timedelta(hours=25))
            new = store_export(settings, model, "new", finished=NOW - timedelta(hours=23))
            report = sweep(model, settings.exports_dir, timedelta(hours=24), NOW)
            assert (report.expired, report.files_removed) == (1, 1)
            assert not Path(old["path"]).exists()
            assert Path(new["path"]).exists()
            response = await client.get(export_path("old"))
            assert response.status == 410
            error = (await response.json())["error"]
            assert error["code"] == "gone" and error["expired_at"] == "2026-12-03T08:00:00.000Z"
            assert (await client.get(export_path("new"))).status == 200
            # A second sweep changes nothing; past the tombstone period the id is unknown.
            again = sweep(model, settings.exports_dir, timedelta(hours=24), NOW)
            assert (again.expired, again.files_removed, again.tombstones_dropped) == (0, 0, 0)
            later = NOW + timedelta(days=TOMBSTONE_DAYS, minutes=1)
            last = sweep(model, settings.exports_dir, timedelta(hours=24 * 365), later)
            assert last.tombstones_dropped == 1
            assert (await client.get(export_path("old"))).status == 404
            assert (await client.get(export_path("new"))).status == 200

    asyncio.run(main())


def test_sweep_removes_only_old_files_of_the_exporter(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    model = ReadModel(settings.readmodel_file, 7_200_000)
    try:
        live = store_export(settings, model, "live", finished=NOW)
        exports = settings.exports_dir
        orphan = exports / "messages-20261101T000000-0123456789ab.csv.partial"
        foreign = exports / "notes.txt"
        fresh_orphan = exports / "teams-20261203T075900-abcdefabcdef.parquet"
        for path in (orphan, foreign, fresh_orphan):
            path.write_bytes(b"x")
        old_s = (NOW - timedelta(days=3)).timestamp()
        for path in (orphan, foreign, Path(live["path"])):
            os.utime(path, (old_s, old_s))
        report = sweep(model, exports, timedelta(hours=24), NOW)
        assert report.files_removed == 1
        assert not orphan.exists()
        # Not the exporter's naming, newer than the retention, or a live result's file.
        assert foreign.exists() and fresh_orphan.exists() and Path(live["path"]).exists()
    finally:
        model.close()


def test_cli_download_verifies_checksum_and_resumes(tmp_path: Path) -> None:
    """exporter.download against a server that drops the first connection half-way."""
    payload = bytes(range(256)) * 8000
    calls: list[str | None] = []

    async def flaky(request: web.Request) -> web.StreamResponse:
        calls.append(request.headers.get("Range"))
        if len(calls) == 1:
            response = web.StreamResponse(headers={"Content-Length": str(len(payload))})
            await response.prepare(request)
            await response.write(payload[:300_000])
            request.transport.close()  # type: ignore[union-attr]
            return response
        start = int(request.headers["Range"].removeprefix("bytes=").rstrip("-"))
        return web.Response(
            status=206,
            body=payload[start:],
            headers={"Content-Range": f"bytes {start}-{len(payload) - 1}/{len(payload)}"},
        )

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/f", flaky)
        async with TestClient(TestServer(app)) as client:
            url = str(client.make_url("/f"))
            out = tmp_path / "got.bin"
            size = await asyncio.to_thread(
                download, url, out, sha256=hashlib.sha256(payload).hexdigest(), size=len(payload)
            )
            assert size == len(payload) and out.read_bytes() == payload
            assert calls[0] is None and calls[1] is not None and calls[1].startswith("bytes=")
            calls.clear()
            with pytest.raises(DownloadError, match="checksum mismatch"):
                await asyncio.to_thread(
                    download, url, tmp_path / "bad.bin", sha256="0" * 64, size=len(payload)
                )
            assert not (tmp_path / "bad.bin").exists()
            assert not list(tmp_path.glob("*.partial"))

    asyncio.run(main())


def test_download_errors_say_what_happened(tmp_path: Path) -> None:
    async def main() -> None:
        async with serving(tmp_path) as (_settings, _model, client):
            url = str(client.make_url(export_path("missing")))
            with pytest.raises(DownloadError, match="404 no export with request_id 'missing'"):
                await asyncio.to_thread(download, url, tmp_path / "m", sha256=None, size=None)

    asyncio.run(main())
    with pytest.raises(Unreachable, match="cannot reach"):
        download("http://127.0.0.1:9/x", tmp_path / "n", sha256=None, size=None, timeout_s=5)
    with pytest.raises(DownloadError, match="not an http"):
        download("file:///etc/passwd", tmp_path / "p", sha256=None, size=None)


def test_the_web_service_serves_the_live_api_too(tmp_path: Path) -> None:
    from aiohttp.test_utils import TestClient, TestServer

    settings = replace(Settings(), data_dir=tmp_path, readmodel_path=tmp_path / "none.sqlite")

    async def go() -> None:
        async with TestClient(TestServer(create_app(settings, follow_live_feed=False))) as c:
            live = await c.get("/api/v1/live")
            assert live.status == 200 and (await live.json()) is not None
            bad = await c.get("/api/v1/metrics?metric=nope")
            assert bad.status == 400 and "error" in await bad.json()
            doc = await (await c.get("/api/v1/openapi.json")).json()
            assert {"/api/v1/metrics", "/api/v1/live", "/api/v1/exports"} <= set(doc["paths"])

    asyncio.run(go())
