"""Scheduled exports, pure part: the TOML schedule file, cadences, periods, due times (no I/O)."""

from __future__ import annotations

import re
import string
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import PurePosixPath
from typing import Any, Final
from zoneinfo import ZoneInfo

from exporter.request import BadRequest, parse_request
from exporter.schema import EXPORTS, LOCALES

REQUEST_ID_PREFIX: Final = "schedule:"
WEEKDAYS: Final = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
NAME_FIELDS: Final = ("schedule", "type", "period_start", "period_end", "period_start_utc")
DEFAULT_FILE_NAME: Final = {
    "hourly": "{schedule}-{type}-{period_start_utc:%Y%m%dT%H%MZ}.csv",
    "daily": "{schedule}-{type}-{period_start:%Y%m%d}.csv",
    "weekly": "{schedule}-{type}-{period_start:%Y%m%d}.csv",
}
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", re.ASCII)
_CADENCE = re.compile(
    r"(?P<kind>hourly)(?: at :(?P<minute>\d{2}))?"
    r"|(?P<daily>daily) at (?P<dhm>\d{2}:\d{2})"
    r"|(?P<weekly>weekly) on (?P<weekday>[a-z]+) at (?P<whm>\d{2}:\d{2})",
    re.ASCII,
)
_SCHEDULE_KEYS: Final = frozenset(
    {
        "name",
        "exports",
        "cadence",
        "timezone",
        "channels",
        "locale",
        "destination",
        "file_name",
        "start",
        "until",
    }
)
_DIRECTORY_KEYS: Final = frozenset({"type", "path"})
_SFTP_KEYS: Final = frozenset(
    {"type", "host", "port", "user", "key_file", "known_hosts", "path", "attempts", "backoff_s",
     "timeout_s"}
)  # fmt: skip
_CHECK_PERIODS: Final = {"hourly": 24 * 367, "daily": 367, "weekly": 54}


class ScheduleError(ValueError):
    """The schedule file is not valid; the message says where and how to fix it."""


@dataclass(frozen=True)
class Cadence:
    """When runs are due: ``hourly`` (at ``minute`` past each hour), ``daily`` at
    ``at``, or ``weekly`` on ``weekday`` (0 = Monday) at ``at``; local wall time."""

    kind: str
    at: time = time(0)
    minute: int = 0
    weekday: int = 0

    def describe(self) -> str:
        """The cadence as written in the file."""
        if self.kind == "hourly":
            return "hourly" if not self.minute else f"hourly at :{self.minute:02d}"
        if self.kind == "daily":
            return f"daily at {self.at:%H:%M}"
        return f"weekly on {WEEKDAYS[self.weekday]} at {self.at:%H:%M}"


@dataclass(frozen=True)
class DirectoryDestination:
    """Deliver into a local (or mounted) directory."""

    path: str
    kind: str = "directory"

    def describe(self) -> str:
        """Where files go, for logs and results."""
        return f"directory {self.path}"


@dataclass(frozen=True)
class SftpDestination:
    """Deliver to a directory on an SFTP server, authenticating with a private key and
    checking the server's host key against ``known_hosts``."""

    host: str
    user: str
    key_file: str
    known_hosts: str
    path: str
    port: int = 22
    attempts: int = 5
    backoff_s: float = 2.0
    timeout_s: float = 30.0
    kind: str = "sftp"

    def describe(self) -> str:
        """Where files go, for logs and results."""
        return f"sftp://{self.user}@{self.host}:{self.port}/{self.path.lstrip('/')}"


Destination = DirectoryDestination | SftpDestination


@dataclass(frozen=True)
class Period:
    """What one run covers: ``[start, end)`` as UTC instants, and the schedule's zone.

    (Arithmetic and comparisons stay in UTC: Python compares and subtracts two datetimes
    of the same zone by wall time, which is wrong across a DST change.)"""

    start: datetime
    end: datetime
    tz: ZoneInfo

    @property
    def local_start(self) -> datetime:
        """The start in the schedule's zone."""
        return self.start.astimezone(self.tz)

    @property
    def local_end(self) -> datetime:
        """The (exclusive) end in the schedule's zone."""
        return self.end.astimezone(self.tz)

    @property
    def key(self) -> str:
        """The local start, ISO 8601 with its UTC offset (unique even in a repeated hour)."""
        return self.local_start.isoformat()


@dataclass(frozen=True)
class Schedule:
    """One ``[[schedule]]`` entry of the schedule file, validated."""

    name: str
    exports: tuple[str, ...]
    cadence: Cadence
    tz_name: str
    tz: ZoneInfo
    channels: tuple[str, ...]
    locale: str
    destination: Destination
    file_name: str
    start: datetime | None = None
    until: datetime | None = None

    # -- periods ---------------------------------------------------------------------------
    def period_containing(self, instant: datetime) -> Period:
        """The period (hour, local day or week) that contains ``instant``."""
        instant = instant.astimezone(UTC)
        if self.cadence.kind == "hourly":
            start = _hour_start(instant, self.tz)
            return Period(start, _next_hour_start(start, self.tz), self.tz)
        day = instant.astimezone(self.tz).date()
        if self.cadence.kind == "weekly":
            day -= timedelta(days=(day.weekday() - self.cadence.weekday) % 7)
            length = 7
        else:
            length = 1
        start = local_midnight(day, self.tz)
        if start > instant:  # only in zones whose midnight is repeated and the second one
            return self.period_containing(start - timedelta(microseconds=1))
        return Period(start, local_midnight(day + timedelta(days=length), self.tz), self.tz)

    def next_period(self, period: Period) -> Period:
        """The period that follows ``period``."""
        return self.first_period_from(period.end)

    def first_period_from(self, instant: datetime) -> Period:
        """The first period that starts at or after ``instant``."""
        period = self.period_containing(instant)
        if period.start < instant.astimezone(UTC):
            period = self.period_containing(period.end)
        return period

    def due_at(self, period: Period) -> datetime:
        """When the run of ``period`` is due: the cadence's wall time after its end
        (a wall time that does not exist that day is read with the offset before the
        change, i.e. it runs just after the skipped hour; a repeated one runs the first time)."""
        if self.cadence.kind == "hourly":
            return period.end + timedelta(minutes=self.cadence.minute)
        day = period.local_end.date()
        return datetime.combine(day, self.cadence.at, tzinfo=self.tz).astimezone(UTC)

    def latest_due(self, now: datetime) -> Period:
        """The most recent period whose run is due at ``now``."""
        now = now.astimezone(UTC)
        period = self.period_containing(now)
        while self.due_at(period) > now:
            period = self.period_containing(period.start - timedelta(microseconds=1))
        return period

    def due_periods(
        self, after: datetime | None, now: datetime, limit: int = 1000
    ) -> Iterator[Period]:
        """The periods due at ``now`` that start at or after ``after`` (the end of the last
        delivered period), oldest first. Without ``after``: from ``start`` when the
        schedule has one, else only the latest due period. Nothing past ``until``."""
        now = now.astimezone(UTC)
        if after is not None:
            period = self.first_period_from(max(after, self.start) if self.start else after)
        elif self.start is not None:
            period = self.first_period_from(self.start)
        else:
            period = self.latest_due(now)
        for _ in range(limit):
            if self.due_at(period) > now or (self.until is not None and period.end > self.until):
                return
            yield period
            period = self.next_period(period)

    # -- what a run sends and where it writes ------------------------------------------------
    def request_id(self, export_type: str, period: Period) -> str:
        """Deterministic: the same schedule, type and period give the same request id."""
        return f"{REQUEST_ID_PREFIX}{self.name}:{export_type}:{period.key}"

    def request(self, export_type: str, period: Period) -> dict[str, Any]:
        """The ordinary export request (docs/exports.md) of one run. Local days (daily,
        weekly) are sent as dates, exactly as `streamproc export --from D --to D` sends them;
        hours as RFC 3339 instants."""
        request: dict[str, Any] = {
            "request_id": self.request_id(export_type, period),
            "export_type": export_type,
            "timezone": self.tz_name,
            "channels": list(self.channels),
            "locale": self.locale,
        }
        if not EXPORTS[export_type].needs_range:
            return request
        if self.cadence.kind == "hourly":
            request["from"] = period.local_start.isoformat()
            request["to"] = period.local_end.isoformat()
        else:
            request["from"] = period.local_start.date().isoformat()
            last = period.local_end.date() - timedelta(days=1)
            request["to"] = last.isoformat()
        return request

    def file_name_for(self, export_type: str, period: Period) -> str:
        """The delivered file's name: ``file_name`` with the run's values."""
        return self.file_name.format(
            schedule=self.name,
            type=export_type,
            period_start=period.local_start,
            period_end=period.local_end,
            period_start_utc=period.start,
        )


@dataclass(frozen=True)
class RunId:
    """A scheduled run, decoded from its request id."""

    schedule: str
    export_type: str
    period_start: datetime


def parse_request_id(request_id: str) -> RunId | None:
    """The run a ``schedule:<name>:<type>:<period start>`` request id names, else None."""
    if not request_id.startswith(REQUEST_ID_PREFIX):
        return None
    parts = request_id[len(REQUEST_ID_PREFIX) :].split(":", 2)
    if len(parts) != 3:
        return None
    try:
        start = datetime.fromisoformat(parts[2])
    except ValueError:
        return None
    if start.tzinfo is None:
        return None
    return RunId(parts[0], parts[1], start)


# -- local time ------------------------------------------------------------------------------


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    """Where local day ``day`` starts, in UTC: the same rule as export requests (a
    repeated midnight is its first occurrence; a skipped one is the instant of the change)."""
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def _hour_start(instant: datetime, tz: ZoneInfo) -> datetime:
    """The latest UTC instant <= ``instant`` (UTC) whose local minute is 0 (offsets are
    whole quarter hours in every current zone)."""
    t = instant.replace(minute=instant.minute - instant.minute % 15, second=0, microsecond=0)
    for _ in range(8):
        if t.astimezone(tz).minute == 0:
            return t
        t -= timedelta(minutes=15)
    return instant.replace(minute=0, second=0, microsecond=0)


def _next_hour_start(start: datetime, tz: ZoneInfo) -> datetime:
    t = start + timedelta(minutes=15)
    for _ in range(8):
        if t.astimezone(tz).minute == 0:
            return t
        t += timedelta(minutes=15)
    return start + timedelta(hours=1)


# -- the file --------------------------------------------------------------------------------


def load_schedules(text: str, *, origin: str = "schedule file") -> list[Schedule]:
    """Parse and validate a whole schedule file (TOML text). Raises ScheduleError naming
    the schedule and the field at fault."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScheduleError(f"{origin}: not valid TOML: {exc}") from None
    unknown = set(doc) - {"schedule"}
    if unknown:
        raise ScheduleError(
            f"{origin}: unknown top-level key(s) {', '.join(sorted(unknown))}; "
            "write each schedule as a [[schedule]] table"
        )
    entries = doc.get("schedule", [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise ScheduleError(f"{origin}: 'schedule' must be an array of tables ([[schedule]])")
    schedules: list[Schedule] = []
    seen: set[str] = set()
    for index, entry in enumerate(entries, start=1):
        where = f"{origin}: schedule #{index}"
        if isinstance(entry.get("name"), str):
            where += f" ({entry['name']!r})"
        schedule = parse_schedule(entry, where)
        if schedule.name in seen:
            raise ScheduleError(f"{where}: the name {schedule.name!r} is used twice")
        seen.add(schedule.name)
        schedules.append(schedule)
    return schedules


def parse_schedule(entry: Mapping[str, Any], where: str = "schedule") -> Schedule:
    """Validate one ``[[schedule]]`` table."""

    def fail(message: str) -> ScheduleError:
        return ScheduleError(f"{where}: {message}")

    unknown = set(entry) - _SCHEDULE_KEYS
    if unknown:
        raise fail(
            f"unknown key(s) {', '.join(sorted(unknown))}; "
            f"valid keys: {', '.join(sorted(_SCHEDULE_KEYS))}"
        )
    name = entry.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise fail(
            f"'name' must be 1-64 letters, digits, '_', '.' or '-' (not starting with a "
            f"punctuation mark), got {name!r}"
        )
    exports = entry.get("exports")
    if isinstance(exports, str):
        exports = [exports]
    if not isinstance(exports, list) or not exports:
        raise fail("'exports' must be a non-empty list of export types")
    for export_type in exports:
        if export_type not in EXPORTS:
            raise fail(f"unknown export type {export_type!r}; valid types: {', '.join(EXPORTS)}")
    if len(set(exports)) != len(exports):
        raise fail("'exports' lists a type twice")
    cadence = parse_cadence(entry.get("cadence"), fail)
    tz_name = entry.get("timezone", "UTC")
    channels = entry.get("channels", [])
    locale = entry.get("locale", "en")
    if not isinstance(locale, str) or locale not in LOCALES:
        raise fail(f"unknown locale {locale!r}; valid locales: {', '.join(LOCALES)}")
    try:  # the request validator decides what a valid zone and channel list are
        checked = parse_request(
            {"request_id": "check", "export_type": "conversations_open", "timezone": tz_name,
             "channels": channels}
        )  # fmt: skip
    except BadRequest as exc:
        raise fail(exc.reason) from None
    tz = checked.tz
    destination = parse_destination(entry.get("destination"), fail)
    file_name = entry.get("file_name", DEFAULT_FILE_NAME[cadence.kind])
    if not isinstance(file_name, str) or not file_name:
        raise fail("'file_name' must be a non-empty string pattern")
    _check_fields(file_name, fail)
    schedule = Schedule(
        name=name,
        exports=tuple(exports),
        cadence=cadence,
        tz_name=str(tz_name),
        tz=tz,
        channels=tuple(sorted(checked.channels)),
        locale=locale,
        destination=destination,
        file_name=file_name,
        start=_instant(entry.get("start"), "start", tz, fail),
        until=_instant(entry.get("until"), "until", tz, fail),
    )
    if schedule.start and schedule.until and schedule.until <= schedule.start:
        raise fail("'until' must be after 'start'")
    _check_names(schedule, fail)
    return schedule


def parse_cadence(raw: Any, fail: Any) -> Cadence:
    """``hourly``, ``hourly at :MM``, ``daily at HH:MM``, ``weekly on <weekday> at HH:MM``."""
    usage = (
        "'cadence' must be 'hourly', 'hourly at :MM', 'daily at HH:MM' or "
        "'weekly on monday at HH:MM'"
    )
    if not isinstance(raw, str):
        raise fail(f"{usage}, got {raw!r}")
    m = _CADENCE.fullmatch(raw.strip().lower())
    if m is None:
        raise fail(f"{usage}, got {raw!r}")
    if m["kind"]:
        minute = int(m["minute"] or 0)
        if minute > 59:
            raise fail(f"'cadence' {raw!r}: the minute must be 00-59")
        return Cadence("hourly", minute=minute)
    hm = m["dhm"] or m["whm"]
    try:
        at = time.fromisoformat(hm)
    except ValueError:
        raise fail(f"'cadence' {raw!r}: {hm} is not a time HH:MM (00:00-23:59)") from None
    if m["daily"]:
        return Cadence("daily", at=at)
    if m["weekday"] not in WEEKDAYS:
        raise fail(f"'cadence' {raw!r}: unknown weekday; use one of {', '.join(WEEKDAYS)}")
    return Cadence("weekly", at=at, weekday=WEEKDAYS.index(m["weekday"]))


def parse_destination(raw: Any, fail: Any) -> Destination:
    """``{type = "directory", path = ...}`` or ``{type = "sftp", host, user, key_file,
    known_hosts, path, [port, attempts, backoff_s, timeout_s]}``."""
    if not isinstance(raw, dict):
        raise fail("'destination' is required: a table with type = 'directory' or 'sftp'")
    kind = raw.get("type")

    def text(key: str, required: bool = True) -> str:
        value = raw.get(key)
        if value is None and not required:
            return ""
        if not isinstance(value, str) or not value:
            raise fail(f"destination '{key}' must be a non-empty string, got {value!r}")
        return value

    def number(key: str, default: float, low: float, high: float, whole: bool) -> float:
        value = raw.get(key, default)
        ok = isinstance(value, int) if whole else isinstance(value, int | float)
        if isinstance(value, bool) or not ok or not low <= value <= high:
            raise fail(f"destination '{key}' must be a number from {low:g} to {high:g}")
        return float(value)

    if kind == "directory":
        unknown = set(raw) - _DIRECTORY_KEYS
        if unknown:
            raise fail(f"unknown destination key(s) {', '.join(sorted(unknown))}")
        path = text("path")
        if not PurePosixPath(path).is_absolute():
            raise fail(f"destination 'path' must be an absolute directory path, got {path!r}")
        return DirectoryDestination(path)
    if kind == "sftp":
        unknown = set(raw) - _SFTP_KEYS
        if unknown:
            raise fail(f"unknown destination key(s) {', '.join(sorted(unknown))}")
        for key in ("key_file", "known_hosts"):
            if not PurePosixPath(text(key)).is_absolute():
                raise fail(f"destination '{key}' must be an absolute path")
        return SftpDestination(
            host=text("host"),
            user=text("user"),
            key_file=text("key_file"),
            known_hosts=text("known_hosts"),
            path=text("path"),
            port=int(number("port", 22, 1, 65535, True)),
            attempts=int(number("attempts", 5, 1, 100, True)),
            backoff_s=number("backoff_s", 2.0, 0, 3600, False),
            timeout_s=number("timeout_s", 30.0, 1, 3600, False),
        )
    raise fail(f"destination 'type' must be 'directory' or 'sftp', got {kind!r}")


def _instant(raw: Any, key: str, tz: ZoneInfo, fail: Any) -> datetime | None:
    """``start``/``until``: a date (local midnight in the schedule's zone) or an
    offset-aware datetime (TOML literal or RFC 3339 string)."""
    if raw is None:
        return None
    value = raw
    if isinstance(raw, str):
        try:
            value = date.fromisoformat(raw) if len(raw) == 10 else datetime.fromisoformat(raw)
        except ValueError:
            raise fail(f"'{key}' {raw!r} is neither a date YYYY-MM-DD nor a datetime") from None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise fail(f"'{key}' {raw!r} needs a UTC offset (Z or +HH:MM)")
        return value.astimezone(UTC)
    if isinstance(value, date):
        return local_midnight(value, tz)
    raise fail(f"'{key}' must be a date or a datetime with an offset, got {raw!r}")


def _check_fields(pattern: str, fail: Any) -> None:
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(pattern) if f is not None]
    except ValueError as exc:
        raise fail(f"'file_name' {pattern!r} is not a valid pattern: {exc}") from None
    for field in fields:
        if field not in NAME_FIELDS:
            raise fail(
                f"'file_name' uses {{{field}}}; the pattern may use "
                + ", ".join(f"{{{f}}}" for f in NAME_FIELDS)
            )


def _check_names(schedule: Schedule, fail: Any) -> None:
    """Every run must get its own plain file name: render the pattern for a year of
    periods (both DST changes included) and every type; refuse a collision."""
    origin = schedule.start or datetime(2026, 1, 1, tzinfo=UTC)
    period = schedule.period_containing(origin)
    seen: dict[str, str] = {}
    for _ in range(_CHECK_PERIODS[schedule.cadence.kind]):
        for export_type in schedule.exports:
            try:
                name = schedule.file_name_for(export_type, period)
            except (ValueError, KeyError, IndexError, AttributeError) as exc:
                raise fail(
                    f"'file_name' {schedule.file_name!r} cannot be rendered: {exc}"
                ) from None
            if "/" in name or "\\" in name or "\0" in name or name.startswith(".") or not name:
                raise fail(
                    f"'file_name' gives {name!r}: a file name must not be empty, start with "
                    "'.' or contain '/'"
                )
            if name.endswith(".part"):
                raise fail("'file_name' must not end with '.part' (used while uploading)")
            this = f"{export_type} of the period starting {period.key}"
            if name in seen:
                raise fail(
                    f"'file_name' {schedule.file_name!r} gives the same name {name!r} to the "
                    f"{seen[name]} and the {this}; add {{type}} or more of the period start "
                    "(for hourly schedules in zones with DST: %z or {period_start_utc})"
                )
            seen[name] = this
        period = schedule.next_period(period)
