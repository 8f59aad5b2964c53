"""Export formats benchmark: messages as csv, csv.gz, parquet vs sqlite3, pyarrow; HTTP download."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import click
import orjson

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
RANGE = {"from": "2026-10-01", "to": "2027-03-31"}
AS_OF_MS = 2_000_000_000_000


def _peak_kb() -> int:
    from bench.export_once import _high_water_kb

    return _high_water_kb()


def export_once(db: str, fmt: str, out: str) -> dict[str, float]:
    """(In a fresh process.) One `messages` export of the whole model in ``fmt``."""
    import resource

    from exporter.formats import write_export
    from exporter.readmodel import ReadModel
    from exporter.request import parse_request
    from exporter.rows import BUILDERS, Context, Directory

    model = ReadModel(Path(db), lock_max_ms=7_200_000)
    request = parse_request(
        {"request_id": "bench", "export_type": "messages", "format": fmt, **RANGE}
    )
    started = time.perf_counter()
    context = Context(model.conn, request, Directory.load(model.conn), AS_OF_MS)
    written = write_export(Path(out), request, BUILDERS["messages"](context), as_of_ms=AS_OF_MS)
    seconds = time.perf_counter() - started
    return {
        "rows": written.rows,
        "bytes": written.bytes,
        "seconds": seconds,
        "rows_per_s": written.rows / seconds,
        "peak_rss_mb": _peak_kb() / 1024,
        "worker_peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }


def pyarrow_once(db: str, fmt: str, out: str) -> dict[str, float]:
    """(In a fresh process.) The same typed rows loaded into an Arrow table (not timed),
    then written by pyarrow alone (timed): the ceiling of "rows from memory"."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    from exporter.parquet import _CONVERT, ARROW_TYPES, _record_batch, arrow_schema
    from exporter.readmodel import ReadModel
    from exporter.request import parse_request
    from exporter.rows import BUILDERS, Context, Directory

    model = ReadModel(Path(db), lock_max_ms=7_200_000)
    request = parse_request({"request_id": "bench", "export_type": "messages", **RANGE})
    spec = request.spec
    schema = arrow_schema(spec, request, AS_OF_MS)
    plan = [(c.key, _CONVERT[c.kind], ARROW_TYPES[c.kind]) for c in spec.columns]
    context = Context(model.conn, request, Directory.load(model.conn), AS_OF_MS)
    batches = []
    chunk: list[Mapping[str, Any]] = []
    for row in BUILDERS["messages"](context):
        chunk.append(row)
        if len(chunk) == 50_000:
            batches.append(_record_batch(spec, schema, plan, chunk))
            chunk = []
    batches.append(_record_batch(spec, schema, plan, chunk))
    table = pa.Table.from_batches(batches, schema=schema)
    del batches, chunk
    started = time.perf_counter()
    if fmt == "parquet":
        pq.write_table(table, out, compression="snappy", row_group_size=50_000)
    else:
        # pyarrow's CSV writer has no list type: lists joined with "|" first (not timed).
        columns = []
        for name in table.column_names:
            column = table.column(name)
            if pa.types.is_list(column.type):
                column = pc.binary_join(column, "|")
            columns.append(column)
        flat = pa.table(columns, names=table.column_names)
        started = time.perf_counter()
        pacsv.write_csv(flat, out)
    seconds = time.perf_counter() - started
    return {
        "rows": table.num_rows,
        "seconds": seconds,
        "rows_per_s": table.num_rows / seconds,
        "peak_rss_mb": _peak_kb() / 1024,
    }


def sqlite_once(db: str, out: str) -> dict[str, float]:
    """(In a fresh process.) sqlite3 -csv dumping the same rows: rows/s, its peak RSS."""
    import resource

    query = "SELECT * FROM messages ORDER BY created_t, message_id"
    started = time.perf_counter()
    with open(out, "wb") as handle:
        subprocess.run(["sqlite3", "-csv", db, query], stdout=handle, check=True)
    seconds = time.perf_counter() - started
    rows = sum(1 for _ in open(out, "rb"))  # noqa: SIM115
    return {
        "rows": rows,
        "seconds": seconds,
        "rows_per_s": rows / seconds,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }


def in_subprocess(function: str, *args: str) -> dict[str, Any]:
    code = (
        f"import sys, orjson; from bench.formats import {function};"
        f"print(orjson.dumps({function}(*sys.argv[1:])).decode())"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, *args], cwd=ROOT, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr)
    return dict(json.loads(done.stdout))


def download_rate(work: Path, db: Path, csv_file: Path, rows: int) -> dict[str, float]:
    """`streamproc web` serving ``csv_file`` as an export result; the CLI's downloader
    (urllib, SHA-256 checked) fetching it over loopback."""
    from exporter.download import download
    from exporter.readmodel import ReadModel
    from streamproc.settings import Settings, settings_to_env

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    exports = work / "served"
    exports.mkdir(exist_ok=True)
    name = "messages-20261203T000000-0123456789ab.csv"
    target = exports / name
    if not target.exists():
        os.link(csv_file, target)
    digest = hashlib.sha256(target.read_bytes()).hexdigest()
    settings = replace(
        Settings(),
        data_dir=work,
        export_dir=exports,
        readmodel_path=work / "served.sqlite",
        http_port=port,
    )
    model = ReadModel(settings.readmodel_file, 7_200_000)
    model.remember_result(
        "bench",
        {
            "request_id": "bench",
            "status": "succeeded",
            "path": str(target),
            "file_name": name,
            "format": "csv",
            "sha256": digest,
            "bytes": target.stat().st_size,
            "finished_at": "2099-01-01T00:00:00.000Z",
        },
    )
    model.close()
    env = {**os.environ, **settings_to_env(settings)}
    web = subprocess.Popen(
        [sys.executable, "-m", "streamproc", "web", "--loglevel", "warning"], cwd=ROOT, env=env
    )
    url = f"http://127.0.0.1:{port}/api/v1/exports/bench"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/health", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        size = target.stat().st_size
        started = time.perf_counter()
        download(url, work / "downloaded.csv", sha256=digest, size=size)
        seconds = time.perf_counter() - started
        started = time.perf_counter()
        with urllib.request.urlopen(url, timeout=60) as response:
            while response.read(1 << 20):
                pass
        raw_seconds = time.perf_counter() - started
    finally:
        web.terminate()
        web.wait(timeout=30)
    return {
        "bytes": size,
        "cli_seconds": seconds,
        "cli_mb_per_s": size / seconds / 1e6,
        "cli_rows_per_s": rows / seconds,
        "raw_mb_per_s": size / raw_seconds / 1e6,
    }


@click.command()
@click.option("--rows", type=click.IntRange(1000), default=1_000_000, help="messages rows")
@click.option("--work", type=click.Path(path_type=Path), default=None, help="work dir (kept)")
def main(rows: int, work: Path | None) -> None:
    """Benchmark the export formats; JSON to stdout and bench/results/."""
    from bench.exportdb import build_readmodel

    work = work or Path(tempfile.mkdtemp(prefix="bench-formats-"))
    work.mkdir(parents=True, exist_ok=True)
    db = build_readmodel(work / f"readmodel-{rows}.sqlite", rows)
    report: dict[str, Any] = {"rows": rows, "machine": {"cpus": os.cpu_count()}}
    for fmt, suffix in (("csv", ".csv"), ("csv.gz", ".csv.gz"), ("parquet", ".parquet")):
        report[fmt] = in_subprocess("export_once", str(db), fmt, str(work / f"m{suffix}"))
        click.echo(f"{fmt}: {report[fmt]}", err=True)
    report["sqlite3_csv"] = in_subprocess("sqlite_once", str(db), str(work / "sqlite.csv"))
    click.echo(f"sqlite3: {report['sqlite3_csv']}", err=True)
    for fmt in ("csv", "parquet"):
        key = f"pyarrow_{fmt}_from_memory"
        report[key] = in_subprocess("pyarrow_once", str(db), fmt, str(work / f"pa.{fmt}"))
        click.echo(f"{key}: {report[key]}", err=True)
    report["http_download"] = download_rate(work, db, work / "m.csv", rows)
    click.echo(f"download: {report['http_download']}", err=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y-%m-%dT%H%M%SZ", time.gmtime())
    (RESULTS / f"{stamp}-formats-{rows}.json").write_text(json.dumps(report, indent=2))
    click.echo(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())


if __name__ == "__main__":
    main()
