"""The dashboard's routes without Kafka: the page and its files, the directory of names,
and bad export requests answered 400 before anything is sent."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson

from tests.unit.test_web_exports import serving


def test_page_and_static_files_are_served(tmp_path: Path) -> None:
    async def main() -> None:
        async with serving(tmp_path) as (_settings, _model, client):
            page = await client.get("/")
            assert page.status == 200
            assert page.headers["Content-Type"].startswith("text/html")
            html = await page.text()
            assert '<script src="/static/dashboard.js">' in html
            assert "/static/dashboard.css" in html
            assert "http://" not in html and "https://" not in html, "no CDN"
            script = await client.get("/static/dashboard.js")
            assert script.status == 200
            text = await script.text()
            assert 'EventSource("/api/v1/live/stream")' in text
            assert "requestAnimationFrame" in text
            assert (await client.get("/static/dashboard.css")).status == 200
            missing = await client.get("/static/nothing.js")
            assert missing.status == 404

    asyncio.run(main())


def test_directory_names_teams_agents_and_away_status(tmp_path: Path) -> None:
    async def main() -> None:
        async with serving(tmp_path) as (_settings, model, client):
            rows = [
                ("team", "t1", {"team_id": "t1", "name": "Atención"}),
                ("channel", "c1", {"channel_id": "c1", "name": "x", "display_name": "Web"}),
                ("agent", "a1", {"agent_id": "a1", "name": "Ana", "team_id": "t1"}),
                ("agent", "a2", {"agent_id": "a2", "name": "Ben", "team_id": None}),
                ("topic", "p1", {"topic_id": "p1", "name": "not listed"}),
            ]
            for kind, entity, fields in rows:
                model.conn.execute(
                    "INSERT INTO directory VALUES (?,?,?,1,0)",
                    (kind, entity, orjson.dumps(fields).decode()),
                )
            model.conn.executemany(
                "INSERT INTO presence_intervals VALUES (?,?,?,?,?,?)",
                [("a1", 0, 10, 20, "AWAY", "Old"), ("a1", 0, 20, None, "AWAY", "Lunch"),
                 ("a2", 0, 20, None, "AVAILABLE", None)],
            )  # fmt: skip
            model.conn.commit()
            body = await (await client.get("/api/v1/dashboard/directory")).json()
            assert body == {
                "teams": {"t1": "Atención"},
                "channels": {"c1": "Web"},
                "agents": {
                    "a1": {"name": "Ana", "team_id": "t1", "away_status": "Lunch"},
                    "a2": {"name": "Ben", "team_id": None, "away_status": None},
                },
            }

    asyncio.run(main())


def test_directory_without_a_read_model_is_503(tmp_path: Path) -> None:
    async def main() -> None:
        async with serving(tmp_path) as (settings, model, client):
            model.close()
            settings.readmodel_file.unlink()
            response = await client.get("/api/v1/dashboard/directory")
            assert response.status == 503
            assert "exporter" in (await response.json())["error"]["message"]

    asyncio.run(main())


def test_bad_export_requests_are_400_with_the_reason(tmp_path: Path) -> None:
    async def main() -> None:
        async with serving(tmp_path) as (_settings, _model, client):
            cases = [
                (b"not json", "JSON object"),
                (b"[1, 2]", "JSON object"),
                (b'{"export_type": "teams", "request_id": "x"}', "request_id"),
                (b'{"export_type": "nope"}', "valid types"),
                (b'{"export_type": "teams", "from": "2026-11-02"}', "to"),
                (b'{"export_type": "teams", "from": "2026-11-02", "to": "2026-11-02",'
                 b' "timezone": "Mars/Base"}', "Mars/Base"),
                (b"{" + b" " * 20_000 + b"}", "over"),
            ]  # fmt: skip
            for body, reason in cases:
                response = await client.post("/api/v1/exports", data=body)
                assert response.status == 400, body[:60]
                error = (await response.json())["error"]
                assert error["code"] == "bad_request" and reason in error["message"], error

    asyncio.run(main())
