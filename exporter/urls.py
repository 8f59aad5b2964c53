"""How an export reaches its user over HTTP: the download URL and file facts a result carries."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote

from exporter.formats import CONTENT_TYPES

if TYPE_CHECKING:
    from exporter.request import ExportRequest
    from streamproc.settings import Settings

EXPORTS_PATH: Final = "/api/v1/exports"
"""Where the HTTP service (streamproc/web) lists exports; one export is ``/{request_id}``."""


def export_path(request_id: str) -> str:
    """The URL path of one export's download (the id percent-encoded, ``/`` included)."""
    return f"{EXPORTS_PATH}/{quote(request_id, safe='')}"


def export_url(settings: Settings, request_id: str) -> str:
    """The absolute download URL of one export (STREAMPROC_PUBLIC_URL + ``export_path``)."""
    return settings.export_base_url + export_path(request_id)


def delivery_fields(settings: Settings, request: ExportRequest, path: Path) -> dict[str, Any]:
    """The fields a succeeded result carries besides ``path``: format, bom, the file name
    the service chose, its Content-Type, and the download URL."""
    return {
        "format": request.format,
        "bom": request.bom,
        "file_name": path.name,
        "content_type": CONTENT_TYPES[request.format],
        "url": export_url(settings, request.request_id),
    }
