"""One export from a read model file, timed, with the process's peak RSS (for bench.run)."""

from __future__ import annotations

import resource
import time
from pathlib import Path

from exporter.formats import write_csv
from exporter.readmodel import ReadModel
from exporter.request import parse_request
from exporter.rows import BUILDERS, Context, Directory
from exporter.sqlrun import FormatPool, default_workers


def _high_water_kb() -> int:
    """This process's peak RSS. ``VmHWM`` where Linux has it: ``ru_maxrss`` of an exec'd
    child starts at its parent's peak (the benchmark process holds the whole workload)."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def run(db: str, export_type: str, out: str, workers: int | None = None) -> dict[str, float]:
    """Export everything of ``export_type`` in the model to ``out`` with a FormatPool of
    ``workers`` processes (exporter.sqlrun; None: the exporter service's, default_workers())."""
    model = ReadModel(Path(db), lock_max_ms=7_200_000)
    request = {"request_id": "bench", "export_type": export_type}
    if export_type != "conversations_open":
        request.update({"from": "2026-10-01", "to": "2027-03-31"})
    parsed = parse_request(request)
    started = time.perf_counter()
    context = Context(model.conn, parsed, Directory.load(model.conn), 2_000_000_000_000)
    size = default_workers() if workers is None else workers
    with open(out, "wb") as handle, FormatPool(size) as pool:
        result = write_csv(
            handle,
            parsed.spec,
            BUILDERS[export_type](context),
            locale="en",
            tz=parsed.tz,
            workers=pool,
        )
    seconds = time.perf_counter() - started
    peak_kb = _high_water_kb()
    # the largest formatting worker process (exporter.sqlrun), 0 without any
    worker_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {
        "rows": result.rows,
        "seconds": seconds,
        "rows_per_s": result.rows / seconds,
        "peak_rss_mb": peak_kb / 1024,
        "worker_peak_rss_mb": worker_kb / 1024,
    }
