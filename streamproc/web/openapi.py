"""The OpenAPI 3.1 document of the HTTP API (served at /api/v1/openapi.json)."""

from __future__ import annotations

from typing import Any

from exporter.formats import CONTENT_TYPES, FORMATS
from streamproc.settings import Settings


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def openapi_document(settings: Settings) -> dict[str, Any]:
    """The document; ``servers`` is the public base URL export results link to."""
    result_schema = {
        "type": "object",
        "required": ["request_id", "status", "export_type"],
        "properties": {
            "request_id": {"type": "string"},
            "status": {"type": "string", "enum": ["succeeded"]},
            "export_type": {"type": "string"},
            "format": {"type": "string", "enum": list(FORMATS)},
            "bom": {"type": "boolean"},
            "file_name": {"type": "string"},
            "content_type": {"type": "string"},
            "url": {"type": "string", "format": "uri"},
            "rows": {"type": "integer"},
            "bytes": {"type": "integer", "description": "size of the file"},
            "sha256": {"type": "string", "description": "SHA-256 (hex) of the file's bytes"},
            "as_of": {"type": "string", "format": "date-time"},
            "started_at": {"type": "string", "format": "date-time"},
            "finished_at": {"type": "string", "format": "date-time"},
            "expired_at": {
                "type": "string",
                "format": "date-time",
                "description": "set once the file was removed by retention",
            },
        },
    }
    file_content = {
        ct: {"schema": {"type": "string", "format": "binary"}} for ct in CONTENT_TYPES.values()
    }
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "streamproc HTTP API",
            "version": "1",
            "description": (
                "Downloads of the exports the exporter wrote (docs/exports.md). Every error "
                'is JSON: {"error": {"status", "code", "message"}}.'
            ),
        },
        "servers": [{"url": settings.export_base_url}],
        "paths": {
            "/api/v1/health": {
                "get": {
                    "summary": "Liveness, and whether the read model and export dir are there",
                    "operationId": "health",
                    "responses": {
                        "200": {
                            "description": "up",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        }
                    },
                }
            },
            "/api/v1/openapi.json": {
                "get": {
                    "summary": "This document",
                    "operationId": "openapi",
                    "responses": {"200": {"description": "OpenAPI 3.1 document"}},
                }
            },
            "/api/v1/exports": {
                "get": {
                    "summary": "Recent export results, newest first",
                    "operationId": "listExports",
                    "parameters": [
                        {
                            "name": "limit",
                            "in": "query",
                            "schema": {
                                "type": "integer",
                                "minimum": 1,
                                "maximum": 500,
                                "default": 50,
                            },
                        }
                    ],
                    "responses": {
                        "200": {
                            "description": "results (the exporter's local path left out)",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "properties": {
                                            "exports": {
                                                "type": "array",
                                                "items": {
                                                    "$ref": "#/components/schemas/ExportResult"
                                                },
                                            },
                                            "count": {"type": "integer"},
                                        },
                                    }
                                }
                            },
                        },
                        "400": _error("bad limit"),
                        "503": _error("the exporter's read model does not exist yet"),
                    },
                }
            },
            "/api/v1/exports/{request_id}": {
                "get": {
                    "summary": "Download an export's file",
                    "description": (
                        "The file as the exporter wrote it (Content-Disposition: attachment "
                        "with the service's file name). Supports Range requests (206, 416) "
                        "and conditional requests (ETag, Last-Modified). X-Checksum-SHA256 "
                        "is the SHA-256 of the whole file, as in the result."
                    ),
                    "operationId": "downloadExport",
                    "parameters": [
                        {
                            "name": "request_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                            "description": "the request's id, percent-encoded",
                        },
                        {"name": "Range", "in": "header", "schema": {"type": "string"}},
                    ],
                    "responses": {
                        "200": {"description": "the whole file", "content": file_content},
                        "206": {"description": "the requested byte range", "content": file_content},
                        "404": _error("no succeeded export with this request id"),
                        "410": _error("the export expired (retention) and its file was removed"),
                        "416": {"description": "the range is outside the file"},
                        "503": _error("the exporter's read model does not exist yet"),
                    },
                }
            },
        },
        "components": {
            "schemas": {
                "ExportResult": result_schema,
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {
                            "type": "object",
                            "required": ["status", "code", "message"],
                            "properties": {
                                "status": {"type": "integer"},
                                "code": {"type": "string"},
                                "message": {"type": "string"},
                            },
                        }
                    },
                },
            }
        },
    }
    from streamproc.live.api import openapi_paths

    document["paths"].update(openapi_paths())
    from streamproc.web.dashboard import openapi_directory, openapi_post

    document["paths"]["/api/v1/exports"]["post"] = openapi_post()
    document["paths"]["/api/v1/dashboard/directory"] = {"get": openapi_directory()}
    return document
