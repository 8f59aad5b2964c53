"""Validation of export requests (docs/exports.md, "Request") into typed, UTC-normalized values."""

from __future__ import annotations

import re
import reprlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson

from exporter.formats import BOM_FORMATS, DEFAULT_FORMAT, FORMATS
from exporter.schema import EXPORTS, LOCALES, ExportSpec

MAX_REQUEST_ID_LEN: Final = 200
MAX_RANGE_DAYS: Final = 400
#: Channel ids a request may name (more: a failed result; bound as one JSON array).
MAX_CHANNELS: Final = 1000
#: Characters of one channel id in a request.
MAX_CHANNEL_ID_LEN: Final = 256
#: Bytes of one request message (a larger one is refused before it is decoded).
MAX_REQUEST_BYTES: Final = 1024 * 1024
#: Characters of a time zone name (the longest IANA name has 32).
MAX_TIMEZONE_LEN: Final = 64
#: Characters of a request field echoed into a result that did not validate it.
MAX_ECHO_LEN: Final = 64
#: Characters of a failed result's ``error``.
MAX_REASON_LEN: Final = 500
DEFAULT_TIMEZONE: Final = "UTC"
DEFAULT_LOCALE: Final = "en"

# Only plain zone names: no dots, no leading slash, nothing zoneinfo could read as a path.
_TZ_NAME = re.compile(r"[A-Za-z0-9_+\-]+(/[A-Za-z0-9_+\-]+)*")
# Files in the zoneinfo tree that are not stable civil zones: "localtime" is the host's own
# setting, "posixrules" a template, and "right/..." zones count leap seconds (UTC is off by
# ~27 s from POSIX time in them).
_HOST_DEPENDENT: Final = frozenset({"localtime", "posixrules"})
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_DATETIME = re.compile(
    r"(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(\.\d+)?([Zz]|[+-](?:[01]\d|2[0-3]):[0-5]\d)",
    re.ASCII,
)


class BadRequest(ValueError):
    """The request is not valid; ``reason`` is one line saying why (for the failed result)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ExportRequest:
    """A valid export request; ``start``/``end`` are aware UTC, half-open ``[start, end)``."""

    request_id: str
    export_type: str
    tz_name: str
    tz: ZoneInfo
    start: datetime | None
    end: datetime | None
    channels: frozenset[str]
    locale: str
    format: str = DEFAULT_FORMAT
    bom: bool = False

    @property
    def spec(self) -> ExportSpec:
        """The export type's schema."""
        return EXPORTS[self.export_type]


_SHOW = reprlib.Repr()
_SHOW.maxlevel, _SHOW.maxdict, _SHOW.maxlist = 2, 3, 3
_SHOW.maxstring, _SHOW.maxlong, _SHOW.maxother = 60, 40, 60


def _show(value: Any, limit: int = 60) -> str:
    # reprlib: bounded work and size whatever the value (a huge string or deep list).
    try:
        text = one_line(_SHOW.repr(value), limit * 2)
    except ValueError:  # e.g. an int of more digits than str() allows
        text = f"a {type(value).__name__}"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def one_line(text: str, limit: int = MAX_REASON_LEN) -> str:
    """``text`` on one line (control characters as spaces), at most ``limit`` characters
    (cut ones end in ``...``)."""
    flat = "".join(c if c.isprintable() else " " for c in text[: limit + 1])
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def decode_request(raw: bytes | None) -> Any:
    """The JSON value of a request message, or BadRequest (too large, not JSON, not UTF-8,
    nested deeper than orjson's limit)."""
    if raw is not None and len(raw) > MAX_REQUEST_BYTES:
        raise BadRequest(
            f"the request is {len(raw)} bytes; the maximum is {MAX_REQUEST_BYTES} bytes"
        )
    try:
        return orjson.loads(raw or b"")
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"request is not JSON (UTF-8): {one_line(str(exc), 120)}") from None


def echo_fields(obj: Any) -> dict[str, Any]:
    """``request_id`` and ``export_type`` of a request that may be invalid, for its result:
    only strings, at most MAX_ECHO_LEN characters each (plus ``<field>_truncated: true``
    when cut), so that a failed result stays small whatever the request held."""
    echo: dict[str, Any] = {"request_id": None, "export_type": None}
    if not isinstance(obj, Mapping):
        return echo
    for name, check in (("request_id", _request_id), ("export_type", _export_type)):
        value = obj.get(name)
        if not isinstance(value, str):
            continue
        try:
            echo[name] = check(obj)  # valid: in full
            continue
        except BadRequest:
            pass
        if len(value) > MAX_ECHO_LEN or not _utf8(value):
            echo[name] = value[:MAX_ECHO_LEN].encode("utf-8", "replace").decode("utf-8")
            echo[f"{name}_truncated"] = True
        else:
            echo[name] = value
    return echo


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates (only from Python callers: JSON has none)
        return False
    return True


def _request_id(obj: Mapping[str, Any]) -> str:
    rid = obj.get("request_id")
    if rid is None:
        raise BadRequest("missing field 'request_id'")
    if not isinstance(rid, str) or not rid:
        raise BadRequest(f"'request_id' must be a non-empty string, got {_show(rid)}")
    if len(rid) > MAX_REQUEST_ID_LEN:
        raise BadRequest(
            f"'request_id' is {len(rid)} characters long; the maximum is {MAX_REQUEST_ID_LEN}"
        )
    if not rid.isprintable() or not _utf8(rid):
        raise BadRequest(
            f"'request_id' {_show(rid)} holds control, separator or invisible characters;"
            " use printable characters only"
        )
    return rid


def _export_type(obj: Mapping[str, Any]) -> str:
    valid = ", ".join(EXPORTS)
    et = obj.get("export_type")
    if et is None:
        raise BadRequest(f"missing field 'export_type'; valid types: {valid}")
    if not isinstance(et, str) or et not in EXPORTS:
        raise BadRequest(f"unknown export_type {_show(et)}; valid types: {valid}")
    return et


def _timezone(obj: Mapping[str, Any]) -> tuple[str, ZoneInfo]:
    name = obj.get("timezone")
    if name is None:
        return DEFAULT_TIMEZONE, ZoneInfo(DEFAULT_TIMEZONE)
    if not isinstance(name, str):
        raise BadRequest(f"'timezone' must be an IANA time zone name, got {_show(name)}")
    if len(name) > MAX_TIMEZONE_LEN:
        raise BadRequest(f"'timezone' {_show(name)} is too long to be an IANA time zone name")
    if not _TZ_NAME.fullmatch(name):
        raise BadRequest(f"'timezone' {_show(name)} is not a valid IANA time zone name")
    if name in _HOST_DEPENDENT or name.startswith("right/"):
        raise BadRequest(
            f"'timezone' {_show(name)} is not usable (host-dependent or leap-second zone)"
        )
    try:
        return name, ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise BadRequest(f"unknown timezone {_show(name)} (expected an IANA name)") from None


def _local_midnight(day: date, tz: ZoneInfo) -> datetime:
    # fold=0: an ambiguous midnight is its first occurrence; a skipped one maps to the
    # transition instant, which is where that local day really starts.
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def _parse_date(field: str, text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise BadRequest(f"'{field}' {_show(text)} is not a valid date") from None


def _parse_datetime(field: str, m: re.Match[str]) -> datetime:
    day, hms, frac, offset = m.groups()
    frac = (frac or "")[:7]  # '.' + at most microseconds; finer digits are truncated
    offset = "+00:00" if offset in ("Z", "z") else offset
    try:
        return datetime.fromisoformat(f"{day}T{hms}{frac}{offset}").astimezone(UTC)
    except (ValueError, OverflowError):
        raise BadRequest(f"'{field}' {_show(m.string)} is not a valid datetime") from None


def _range_text(field: str, raw: Any, spec: ExportSpec) -> str:
    if raw is None:
        raise BadRequest(f"missing field '{field}' (required for {spec.id})")
    if not isinstance(raw, str):
        raise BadRequest(
            f"'{field}' must be a date YYYY-MM-DD or an RFC 3339 datetime, got {_show(raw)}"
        )
    return raw


def _range(
    obj: Mapping[str, Any], spec: ExportSpec, tz: ZoneInfo
) -> tuple[datetime | None, datetime | None]:
    raw_from, raw_to = obj.get("from"), obj.get("to")
    if not spec.needs_range:
        if raw_from is not None or raw_to is not None:
            raise BadRequest(
                f"{spec.id} takes no 'from'/'to' (it reflects the moment of the export); "
                "remove them"
            )
        return None, None
    if raw_from is None and raw_to is None:
        raise BadRequest(f"missing fields 'from' and 'to' (required for {spec.id})")
    raw_from = _range_text("from", raw_from, spec)
    raw_to = _range_text("to", raw_to, spec)
    dates = [_DATE.fullmatch(raw_from), _DATE.fullmatch(raw_to)]
    stamps = [_DATETIME.fullmatch(raw_from), _DATETIME.fullmatch(raw_to)]
    for field, raw, d, s in zip(("from", "to"), (raw_from, raw_to), dates, stamps, strict=True):
        if d is None and s is None:
            raise BadRequest(
                f"'{field}' {_show(raw)} is neither a date YYYY-MM-DD nor an RFC 3339 "
                "datetime with an offset"
            )
    if dates[0] and dates[1]:
        first, last = _parse_date("from", raw_from), _parse_date("to", raw_to)
        if last < first:
            raise BadRequest(f"'to' {raw_to} is before 'from' {raw_from}")
        days = (last - first).days + 1
        if days > MAX_RANGE_DAYS:
            raise BadRequest(f"the range is {days} days long; the maximum is {MAX_RANGE_DAYS} days")
        try:
            return _local_midnight(first, tz), _local_midnight(last + timedelta(days=1), tz)
        except OverflowError:
            raise BadRequest(f"the range {raw_from}..{raw_to} is out of bounds") from None
    if stamps[0] and stamps[1]:
        start, end = _parse_datetime("from", stamps[0]), _parse_datetime("to", stamps[1])
        if end <= start:
            raise BadRequest(f"'to' {raw_to} is not after 'from' {raw_from}")
        if end - start > timedelta(days=MAX_RANGE_DAYS):
            raise BadRequest(f"the range is longer than the maximum of {MAX_RANGE_DAYS} days")
        return start, end
    raise BadRequest(
        "'from' and 'to' must both be dates (YYYY-MM-DD) or both RFC 3339 datetimes, not a mix"
    )


def _channels(obj: Mapping[str, Any]) -> frozenset[str]:
    raw = obj.get("channels")
    if raw is None:
        return frozenset()
    if not isinstance(raw, list):
        raise BadRequest(f"'channels' must be a list of channel ids, got {_show(raw)}")
    if len(raw) > MAX_CHANNELS:
        raise BadRequest(
            f"'channels' lists {len(raw)} channel ids; the maximum is {MAX_CHANNELS}"
            " (leave it empty for all channels, or split the export)"
        )
    for ch in raw:
        if not isinstance(ch, str) or not ch:
            raise BadRequest(f"'channels' entries must be non-empty strings, got {_show(ch)}")
        if len(ch) > MAX_CHANNEL_ID_LEN or not _utf8(ch):
            raise BadRequest(
                f"'channels' entry {_show(ch)} is not a channel id (at most"
                f" {MAX_CHANNEL_ID_LEN} characters of valid Unicode)"
            )
    return frozenset(raw)


def _locale(obj: Mapping[str, Any]) -> str:
    loc = obj.get("locale")
    if loc is None:
        return DEFAULT_LOCALE
    if not isinstance(loc, str) or loc not in LOCALES:
        raise BadRequest(f"unknown locale {_show(loc)}; valid locales: {', '.join(LOCALES)}")
    return loc


def _format(obj: Mapping[str, Any]) -> str:
    fmt = obj.get("format")
    if fmt is None:
        return DEFAULT_FORMAT
    if not isinstance(fmt, str) or fmt not in FORMATS:
        raise BadRequest(f"unknown format {_show(fmt)}; valid formats: {', '.join(FORMATS)}")
    return fmt


def _bom(obj: Mapping[str, Any], fmt: str) -> bool:
    bom = obj.get("bom")
    if bom is None:
        return False
    if not isinstance(bom, bool):
        raise BadRequest(f"'bom' must be true or false, got {_show(bom)}")
    if bom and fmt not in BOM_FORMATS:
        raise BadRequest(f"'bom' applies to the csv and csv.gz formats only, not {fmt}")
    return bom


def parse_request(obj: Any) -> ExportRequest:
    """Validate a decoded JSON request into an ExportRequest, or raise BadRequest.

    - ``request_id``: required non-empty string of at most 200 printable characters.
    - ``export_type``: one of ``EXPORTS``.
    - ``timezone``: IANA name (default ``UTC``); names that are not plain
      ``Area/Location`` words (dots, leading slash, ...) are refused before zoneinfo
      sees them, and so are ``localtime``, ``posixrules`` and the ``right/...`` zones.
    - ``from``/``to``: both dates ``YYYY-MM-DD`` -> ``[from 00:00, to + 1 day 00:00)``
      local in ``timezone`` (23/24/25-hour days via zoneinfo; to == from is one day), or
      both RFC 3339 datetimes with an offset (``Z`` or ``±HH:MM``; ``T``, ``t`` or space
      as separator; sub-microsecond digits truncated) -> ``[from, to)``, ``to`` strictly
      after ``from``. Mixing the two forms is refused. Ranges longer than 400 days
      (400 calendar days for dates, 400 x 24 h for datetimes) are refused. Both are
      required unless the type has no range (``conversations_open``): for that type
      giving either is a bad request, so nobody believes an open-conversations export
      was range-filtered.
    - ``channels``: list of at most 1,000 non-empty strings of at most 256 characters;
      absent or empty = all channels.
    - ``locale``: ``en`` (default) or ``es``.
    - ``format``: ``csv`` (default), ``csv.gz`` or ``parquet`` (exporter.formats).
    - ``bom``: boolean, default false; true starts the CSV with a UTF-8 byte-order mark
      (Excel); csv and csv.gz only.

    A JSON ``null`` counts as absent for every field. Unknown fields are ignored.
    Returned ``start``/``end`` are aware UTC datetimes (None without a range).
    """
    if not isinstance(obj, Mapping):
        raise BadRequest(f"the request must be a JSON object, got {type(obj).__name__}")
    request_id = _request_id(obj)
    export_type = _export_type(obj)
    tz_name, tz = _timezone(obj)
    start, end = _range(obj, EXPORTS[export_type], tz)
    return ExportRequest(
        request_id=request_id,
        export_type=export_type,
        tz_name=tz_name,
        tz=tz,
        start=start,
        end=end,
        channels=_channels(obj),
        locale=_locale(obj),
        format=(fmt := _format(obj)),
        bom=_bom(obj, fmt),
    )
