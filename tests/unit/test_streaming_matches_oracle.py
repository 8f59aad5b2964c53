"""The streaming state code (stores → read model → CSV) equals the batch oracle, byte for byte."""

from __future__ import annotations

import io

import pytest

from exporter.formats import write_csv
from exporter.request import parse_request
from exporter.rows import at
from exporter.schema import EXPORTS
from streamproc.testing.oracle import oracle_rows
from streamproc.testing.simulate import SimulationConfig, simulate
from tests.offline import export_csv, ingest, load_model

VARIANTS = [
    {"timezone": "UTC"},
    {"timezone": "America/New_York", "locale": "es"},
    {"timezone": "UTC", "channels": ["channel-02", "channel-05"]},
    {"timezone": "Asia/Kolkata", "from": "2026-11-02T09:07:00+05:30", "to": "2026-11-03T11:00:00Z"},
]


@pytest.fixture(
    scope="module",
    params=[(3, 1), (3, 500), (17, 1), (17, 500)],
    ids=lambda p: f"seed{p[0]}-batches-of-{p[1]}",
)
def simulated(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple:
    """Two simulated days (shuffled, duplicated, malformed) through the worker's batch
    update code: each event a batch of one (as at low load), and batches of 500 (a busy
    fetch)."""
    seed, batch_size = request.param
    lines = list(simulate(SimulationConfig(seed=seed, days=2, conversations=60)))
    stores, _ = ingest(lines, batch_size=batch_size)
    model = load_model(stores, tmp_path_factory.mktemp("rm") / "readmodel.sqlite")
    return lines, model, at(model.watermark_ms())


@pytest.mark.parametrize("variant", VARIANTS, ids=["utc", "new-york-es", "channels", "datetimes"])
@pytest.mark.parametrize("export_type", list(EXPORTS))
def test_export_matches_oracle(simulated: tuple, export_type: str, variant: dict) -> None:
    lines, model, as_of = simulated
    request_obj = {"request_id": "t", "export_type": export_type, **variant}
    if not EXPORTS[export_type].needs_range:
        request_obj.pop("from", None)
        request_obj.pop("to", None)
    else:
        request_obj.setdefault("from", "2026-11-02")
        request_obj.setdefault("to", "2026-11-03")
    request = parse_request(request_obj)
    streamed = export_csv(model, request, as_of)
    reference = io.BytesIO()
    write_csv(
        reference,
        request.spec,
        oracle_rows(lines, request, as_of),
        locale=request.locale,
        tz=request.tz,
    )
    if streamed != reference.getvalue():
        ours = streamed.decode().split("\r\n")
        theirs = reference.getvalue().decode().split("\r\n")
        first = next(
            (i for i, (a, b) in enumerate(zip(ours, theirs, strict=False)) if a != b),
            min(len(ours), len(theirs)),
        )
        pytest.fail(
            f"{len(ours)} vs {len(theirs)} lines; first difference at line {first}:\n"
            f"streaming: {ours[first] if first < len(ours) else '<none>'}\n"
            f"oracle:    {theirs[first] if first < len(theirs) else '<none>'}"
        )
