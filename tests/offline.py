"""The streaming state code without Kafka: events → stores (dicts) → read model → CSV."""

from __future__ import annotations

import io
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from exporter.csvfmt import write_csv
from exporter.readmodel import STATE_TABLES, ReadModel
from exporter.request import ExportRequest
from exporter.rows import BUILDERS, Context, Directory, to_ms
from streamproc.events import InvalidEvent, parse_event
from streamproc.metrics import Admission
from streamproc.state import Rules, Stores, apply_event

LATENESS_MS = 3_600_000
LOCK_MAX_MS = 7_200_000
RULES = Rules(lateness_ms=LATENESS_MS, lock_max_ms=LOCK_MAX_MS)


def new_stores() -> Stores:
    return Stores({}, {}, {}, {}, {}, {})


def ingest(lines: Iterable[bytes], stores: Stores | None = None) -> tuple[Stores, list[Admission]]:
    """Apply lines in arrival order exactly as the worker does (invalid lines skipped)."""
    stores = stores or new_stores()
    admissions = []
    for line in lines:
        try:
            event = parse_event(line)
        except InvalidEvent:
            continue
        admissions.append(apply_event(stores, event, RULES))
    return stores, admissions


def load_model(stores: Stores, path: Path) -> ReadModel:
    """A read model holding the stores' contents (as if their changelogs were consumed)."""
    model = ReadModel(path, LOCK_MAX_MS)
    for name in STATE_TABLES:
        model.apply_batch(name, dict(getattr(stores, name)), {})
    return model


def export_csv(model: ReadModel, request: ExportRequest, as_of: datetime) -> bytes:
    """The CSV bytes the exporter writes for ``request`` at ``as_of``."""
    context = Context(model.conn, request, Directory.load(model.conn), to_ms(as_of))
    out = io.BytesIO()
    write_csv(
        out,
        request.spec,
        BUILDERS[request.export_type](context),
        locale=request.locale,
        tz=request.tz,
    )
    return out.getvalue()
