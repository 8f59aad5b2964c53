"""Export file formats (csv, csv.gz, parquet): the one place that picks the renderer."""

from __future__ import annotations

import gzip
import hashlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Final

from exporter.csvfmt import CsvResult, write_csv

if TYPE_CHECKING:
    from exporter.request import ExportRequest

FORMATS: Final = ("csv", "csv.gz", "parquet")
"""Valid values of a request's ``format``; the first is the default."""
DEFAULT_FORMAT: Final = "csv"
#: Formats a ``bom`` applies to (the BOM is the first bytes of the CSV text).
BOM_FORMATS: Final = frozenset({"csv", "csv.gz"})
#: File name suffix of each format.
SUFFIXES: Final[Mapping[str, str]] = {"csv": ".csv", "csv.gz": ".csv.gz", "parquet": ".parquet"}
#: Content-Type of each format (served by streamproc/web).
CONTENT_TYPES: Final[Mapping[str, str]] = {
    "csv": "text/csv; charset=utf-8",
    "csv.gz": "application/gzip",
    "parquet": "application/vnd.apache.parquet",
}
#: zlib level of csv.gz: 6 is gzip's own default; 9 costs ~2x the time for ~2% less.
GZIP_LEVEL: Final = 6


@dataclass(frozen=True)
class Written:
    """A finished export file: data rows, and size and SHA-256 (hex) of the file's bytes."""

    rows: int
    bytes: int
    sha256: str


class HashingWriter:
    """A binary sink in front of a file that counts and hashes every byte written."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self._hash = hashlib.sha256()
        self.total = 0

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        self._hash.update(view)
        self.total += len(view)
        self._out.write(view)
        return len(view)

    def flush(self) -> None:
        self._out.flush()

    def hexdigest(self) -> str:
        return self._hash.hexdigest()

    # What file-like consumers (gzip, pyarrow) ask of a writable stream.
    @property
    def closed(self) -> bool:
        return self._out.closed

    def writable(self) -> bool:
        return True

    def readable(self) -> bool:
        return False

    def seekable(self) -> bool:
        return False

    def tell(self) -> int:
        return self.total

    def close(self) -> None:
        """Closing is the owner's business (the file object passed in)."""


def suffix(fmt: str) -> str:
    """The file name suffix of ``fmt``."""
    return SUFFIXES[fmt]


def write_export(
    path: Path,
    request: ExportRequest,
    rows: Iterable[Mapping[str, Any]],
    *,
    as_of_ms: int | None = None,
) -> Written:
    """Write ``rows`` of ``request`` to ``path`` in the request's format, atomically
    (a ``.partial`` file renamed into place), and describe the file.

    - ``csv``: exporter.csvfmt.write_csv, byte-identical to the CSV of earlier versions
      (with ``bom``: the UTF-8 BOM ``EF BB BF`` first);
    - ``csv.gz``: the same CSV bytes through gzip (level 6, no name or time in the header,
      so the same CSV always gives the same file);
    - ``parquet``: typed columns (exporter.parquet).

    ``bytes``/``sha256`` are those of the file written (what a download must match).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    try:
        with partial.open("wb") as raw:
            if request.format == "csv":  # write_csv counts and hashes what it writes
                result = _csv(raw, request, rows)
                written = Written(rows=result.rows, bytes=result.bytes, sha256=result.sha256)
            else:
                out = HashingWriter(raw)
                if request.format == "parquet":
                    from exporter.parquet import write_parquet

                    count = write_parquet(out, request, rows, as_of_ms=as_of_ms)
                elif request.format == "csv.gz":
                    with gzip.GzipFile(
                        filename="", mode="wb", fileobj=out, compresslevel=GZIP_LEVEL, mtime=0
                    ) as zipped:
                        count = _csv(zipped, request, rows).rows  # type: ignore[arg-type]
                else:  # pragma: no cover - parse_request admits FORMATS only
                    raise ValueError(f"unknown format {request.format!r}")
                out.flush()
                written = Written(rows=count, bytes=out.total, sha256=out.hexdigest())
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return written


def _csv(out: BinaryIO, request: ExportRequest, rows: Iterable[Mapping[str, Any]]) -> CsvResult:
    return write_csv(out, request.spec, rows, locale=request.locale, tz=request.tz, bom=request.bom)
