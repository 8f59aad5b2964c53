"""Fetching an export over HTTP (the result's ``url``): resumable with Range, checksum-verified."""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

import orjson

CHUNK: Final = 1 << 20
#: Attempts after a connection drops mid-file; each resumes with a Range request.
RESUMES: Final = 3


class DownloadError(RuntimeError):
    """The file could not be fetched or did not match its checksum (message says why)."""


class Unreachable(DownloadError):
    """Nothing answered at the URL (no HTTP response at all)."""


def _error_message(exc: urllib.error.HTTPError) -> str:
    try:
        body = orjson.loads(exc.read())
        return f"{exc.code} {body['error']['message']}"
    except Exception:
        return f"{exc.code} {exc.reason}"


def download(
    url: str,
    out: Path,
    *,
    sha256: str | None,
    size: int | None,
    timeout_s: float = 60.0,
    progress: Callable[[int, int | None], None] | None = None,
) -> int:
    """Download ``url`` to ``out`` (via ``out.partial``, renamed when complete and
    verified) and return its size. A dropped connection is resumed with ``Range:
    bytes=N-`` up to ``RESUMES`` times; the whole file must then hash to ``sha256`` and
    weigh ``size`` bytes (when given), else DownloadError and no ``out``."""
    if urlsplit(url).scheme not in ("http", "https"):
        raise DownloadError(f"not an http(s) URL: {url!r}")
    partial = out.with_name(out.name + ".partial")
    digest = hashlib.sha256()
    received = 0
    attempts = 0
    try:
        with partial.open("wb") as sink:
            while True:
                request = urllib.request.Request(url)  # noqa: S310 - scheme checked above
                if received:
                    request.add_header("Range", f"bytes={received}-")
                try:
                    with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310
                        if received and response.status != 206:
                            raise DownloadError(
                                f"the server ignored the Range request (status {response.status})"
                            )
                        while chunk := response.read(CHUNK):
                            sink.write(chunk)
                            digest.update(chunk)
                            received += len(chunk)
                            if progress is not None:
                                progress(received, size)
                    if size is None or received >= size:
                        break
                    raise ConnectionError(f"connection closed after {received} of {size} bytes")
                except urllib.error.HTTPError as exc:
                    raise DownloadError(f"{url}: {_error_message(exc)}") from None
                except (urllib.error.URLError, OSError) as exc:
                    if received == 0 and attempts == 0 and isinstance(exc, urllib.error.URLError):
                        raise Unreachable(f"cannot reach {url}: {exc.reason}") from None
                    attempts += 1
                    if attempts > RESUMES:
                        raise DownloadError(
                            f"{url}: {exc} (gave up after {RESUMES} resumes)"
                        ) from None
        if size is not None and received != size:
            raise DownloadError(f"{url}: got {received} bytes, the result says {size}")
        if sha256 is not None and digest.hexdigest() != sha256:
            raise DownloadError(
                f"{url}: checksum mismatch: sha256 {digest.hexdigest()}, the result says {sha256}"
            )
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
    return received
