"""A read model with N conversations and N messages, written straight into SQLite."""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import orjson

from exporter.readmodel import ReadModel

DAY_MS = 86_400_000
START_MS = 1_793_577_600_000  # 2026-11-02T00:00Z


def build_readmodel(path: Path, rows: int) -> Path:
    """Conversations (all resolved) and messages, with a small directory (cached by path)."""
    if path.exists():
        return path
    ReadModel(path, lock_max_ms=7_200_000).close()
    rng = random.Random(rows)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    directory = [
        (
            "channel",
            f"ch-{i}",
            orjson.dumps(
                {"medium": "TWITTER", "name": f"@brand{i}", "display_name": f"Brand {i}"}
            ).decode(),
            1,
            0,
        )
        for i in range(8)
    ]
    directory += [
        (
            "agent",
            f"agent-{i}",
            orjson.dumps(
                {
                    "name": f"Agent {i}",
                    "email": f"a{i}@x",
                    "reference": f"E{i}",
                    "team_id": "team-1",
                }
            ).decode(),
            1,
            0,
        )
        for i in range(50)
    ]
    directory += [
        (
            "contact",
            f"contact-{i}",
            orjson.dumps(
                {"medium": "TWITTER", "primary_identifier": f"@c{i}", "secondary_identifier": None}
            ).decode(),
            1,
            0,
        )
        for i in range(20_000)
    ]
    conn.executemany("INSERT INTO directory VALUES (?,?,?,?,?)", directory)

    def conversations() -> Iterator[tuple[object, ...]]:
        for i in range(rows):
            t = START_MS + i * (120 * DAY_MS // max(rows, 1))
            yield (
                f"conv-{i:08d}",
                f"ch-{i % 8}",
                f"contact-{i % 20_000}",
                f"https://x/{i}",
                t,
                "en",
                "RESOLVED",
                f"agent-{i % 50}",
                None,
                t + 600_000,
                3,
                4,
                t + 60_000,
                60_000,
                f"agent-{i % 50}",
                None,
                '["topic-1"]',
                "COMPLETED",
                rng.randint(1, 5),
                "Q?",
                "A",
                t + 700_000,
                t + 600_000,
                "AGENT",
                f"agent-{i % 50}",
                None,
                "Solved",
                None,
                "HUMAN_AGENT",
                600_000,
            )

    def messages() -> Iterator[tuple[object, ...]]:
        for i in range(rows):
            t = START_MS + i * (120 * DAY_MS // max(rows, 1))
            yield (
                f"msg-{i:08d}",
                f"conv-{i // 4:08d}",
                t,
                "OUTBOUND" if i % 2 else "INBOUND",
                "AGENT" if i % 2 else "CONTACT",
                f"agent-{i % 50}" if i % 2 else None,
                None,
                "DIRECT_MESSAGE",
                "INBOX",
                "REPLY" if i % 2 else None,
                None,
                f'Message number {i}, with, commas and "quotes"',
                None,
                '["tag-1"]',
                t,
                None,
            )

    conn.executemany(f"INSERT INTO conversations VALUES ({','.join('?' * 30)})", conversations())
    conn.executemany(f"INSERT INTO messages VALUES ({','.join('?' * 16)})", messages())
    conn.commit()
    conn.close()
    return path
