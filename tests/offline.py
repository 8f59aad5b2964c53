"""The streaming state code without Kafka: events → stores (dicts) → read model → CSV."""

from __future__ import annotations

import io
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import fields
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from exporter.formats import write_csv
from exporter.readmodel import STATE_TABLES, ReadModel
from exporter.request import ExportRequest
from exporter.rows import BUILDERS, Context, Directory, to_ms
from streamproc.events import InvalidEvent, parse_event
from streamproc.keys import parse_activity_key
from streamproc.metrics import Admission
from streamproc.state import BatchStores, Rules, Stores, apply_event

LATENESS_MS = 3_600_000
LOCK_MAX_MS = 7_200_000
RULES = Rules(lateness_ms=LATENESS_MS, lock_max_ms=LOCK_MAX_MS)


def new_stores() -> Stores:
    return Stores(*({} for _ in fields(Stores)))


def ingest(
    lines: Iterable[bytes], stores: Stores | None = None, batch_size: int = 1
) -> tuple[Stores, list[Admission]]:
    """Apply lines in arrival order exactly as the worker does (invalid lines skipped):
    through the worker's batch stores, ``batch_size`` valid events per batch (one: each
    event a batch of one, as at low load)."""
    stores = stores or new_stores()
    events = []
    for line in lines:
        try:
            events.append(parse_event(line))
        except InvalidEvent:
            continue
    admissions = []
    for start in range(0, len(events), batch_size):
        batch = BatchStores.over(stores, RULES)
        admissions += [apply_event(batch, e, RULES) for e in events[start : start + batch_size]]
        batch.flush()
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


def per_conversation(activity: Mapping[bytes, bytes]) -> dict[tuple[Any, ...], dict[str, Any]]:
    """Each conversation's contribution to each bucket, its segments' records merged (as
    every reader does: totals add up, distinct values unite). How a log is cut into
    segments depends on arrival; what a conversation contributes does not."""
    merged: dict[tuple[Any, ...], dict[str, Any]] = defaultdict(dict)
    for key, raw in activity.items():
        total = merged[parse_activity_key(key)]
        for metric, value in orjson.loads(raw).items():
            if isinstance(value, list):
                total[metric] = sorted(set(total.get(metric, [])) | set(value))
            else:
                total[metric] = total.get(metric, 0) + value
    return dict(merged)
