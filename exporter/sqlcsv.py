"""The fast export path: SQLite formats every CSV record, Python only moves the bytes.

An export listed in ``SQL_EXPORTS`` declares, for the columns of its spec
(exporter.schema), the SQL value of each column; the cell formatting comes from the
column's kind, exactly as exporter.csvfmt.format_cell does it:

- TEXT: the formula-injection guard (a leading ``'``; decided in SQL for a text that
  starts with printable ASCII, by exporter.csvfmt.needs_guard otherwise) and RFC 4180
  quoting in a ``CASE``;
- TIMESTAMP: epoch ms -> ``datetime(s + offset, 'unixepoch')`` where the offset of the
  requested zone comes from a binary ``CASE`` over the zone's UTC-offset transitions
  between 1970 and 2100 (precomputed once per zone with zoneinfo); instants outside
  that window go through a Python function;
- SECONDS: ms -> whole seconds, half away from zero, in integer arithmetic; COUNT as is;
- LIST: ``|``-joined items of a JSON array, each with ``\\`` and ``|`` escaped
  (``json_each`` + ``group_concat``, with a shortcut for the one-item list).

Directory values (channel, contact, agent, team, tag and topic names) are formatted in
Python once per export into small temporary lookup tables. One ``printf`` builds the
record; rows are sorted on their keys only (their rowids go into a temporary table),
then formatted in chunks of consecutive rows, one blob per chunk, possibly by several
worker processes at once (exporter.sqlrun: those of the FormatPool the caller passes).

Iterating the object returned by a builder still gives the row dicts of exporter.rows
(the general path); exporter.formats.write_records takes the fast path when it can. When
the directory holds a value the general path would refuse (not a string), the general
path runs, so errors stay the same. The cell SQL below follows exporter.csvfmt.CELL_RULES
(``SQL_CELLS``), the selections and row orders exporter.queries (shared with
exporter.rows).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final
from zoneinfo import ZoneInfo

from exporter import queries as q
from exporter.csvfmt import CELL_RULES, escape_item, format_cell, quote_field
from exporter.readmodel import NUL_TEXTS
from exporter.schema import EXPORTS, ExportSpec, Kind
from exporter.sqlrun import CHUNK_ROWS, KEYS, FormatPool, Job, run

if TYPE_CHECKING:
    from exporter.rows import Context, Directory, Row

#: The window (UTC epoch seconds) covered by the precomputed zone transitions.
WINDOW_START_S: Final = 0  # 1970-01-01
WINDOW_END_S: Final = 4_102_444_800  # 2100-01-01

_GUARD_CODES: Final = ",".join(str(ord(p)) for p in "=+-@")
_CRLF: Final = "\r\n"


# ---------------------------------------------------------------------------------------
# Cell expressions
# ---------------------------------------------------------------------------------------


def guard_sql(x: str) -> str:
    """Whether the text ``x`` gets the formula guard (exporter.csvfmt.needs_guard): decided
    in SQL when it starts with printable ASCII, else by the Python function."""
    return (
        f"CASE WHEN unicode({x}) BETWEEN 33 AND 126 THEN unicode({x}) IN ({_GUARD_CODES})"
        f" ELSE _export_guard({x}) END"
    )


def escape_item_sql(x: str) -> str:
    """A list item as written in its cell (exporter.csvfmt.escape_item)."""
    return rf"replace(replace({x},'\','\\'),'|','\|')"


def text_sql(x: str) -> str:
    """A TEXT cell of the SQL value ``x`` (a cheap expression: it is repeated)."""
    guard = guard_sql(x)
    return (
        f"CASE WHEN instr({x},',') OR instr({x},'\"') OR instr({x},char(10))"
        f" OR instr({x},char(13)) THEN '\"'||CASE WHEN {guard} THEN '''' ELSE '' END"
        f"||replace({x},'\"','\"\"')||'\"' WHEN {guard} THEN ''''||{x} ELSE {x} END"
    )


def seconds_sql(x: str) -> str:
    """A SECONDS cell: integer ms -> whole seconds, halves away from zero."""
    return f"CASE WHEN {x} >= 0 THEN (2*{x}+1000)/2000 WHEN {x} < 0 THEN -((1000-2*{x})/2000) END"


@functools.lru_cache(maxsize=64)
def zone_offsets(tz: ZoneInfo) -> tuple[tuple[int, int], ...]:
    """``(from_s, offset_s)`` pairs: the zone's UTC offset from each instant (epoch
    seconds) until the next one, over [WINDOW_START_S, WINDOW_END_S).

    Found by sampling every 6 hours and bisecting to the second where the offset changes.
    """

    fromtimestamp = datetime.fromtimestamp

    def offset(s: int) -> timedelta | None:
        return fromtimestamp(s, tz).utcoffset()

    def seconds(delta: timedelta | None) -> int:
        assert delta is not None  # noqa: S101 - zoneinfo always answers
        return int(delta.total_seconds())

    step = 6 * 3600
    first = offset(WINDOW_START_S)
    pairs = [(WINDOW_START_S, seconds(first))]
    previous_s, previous = WINDOW_START_S, first
    for s in range(WINDOW_START_S + step, WINDOW_END_S + step, step):
        s = min(s, WINDOW_END_S - 1)
        current = offset(s)
        if current != previous:
            lo, hi = previous_s, s  # offset(lo) == previous != offset(hi)
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if offset(mid) == previous:
                    lo = mid
                else:
                    hi = mid
            pairs.append((hi, seconds(current)))
        previous_s, previous = s, current
    return tuple(pairs)


def _offset_tree(s: str, pairs: Sequence[tuple[int, int]]) -> str:
    if len(pairs) == 1:
        return str(pairs[0][1])
    mid = len(pairs) // 2
    return (
        f"CASE WHEN {s} < {pairs[mid][0]} THEN {_offset_tree(s, pairs[:mid])}"
        f" ELSE {_offset_tree(s, pairs[mid:])} END"
    )


def timestamp_sql(x: str, tz: ZoneInfo) -> str:
    """A TIMESTAMP cell of epoch ms ``x``, in ``tz`` (``_export_ts`` outside the window)."""
    s = f"{x}/1000"  # floor division: x >= 0 in the window
    pairs = zone_offsets(tz)
    local = s if pairs == ((WINDOW_START_S, 0),) else f"{s}+{_offset_tree(s, pairs)}"
    return (
        f"CASE WHEN {x} >= {WINDOW_START_S * 1000} AND {x} < {WINDOW_END_S * 1000}"
        f" THEN datetime({local},'unixepoch') WHEN {x} IS NOT NULL THEN _export_ts({x}) END"
    )


SQL_CELLS: Final[Mapping[Kind, Callable[[str, ZoneInfo], str]]] = MappingProxyType(
    {
        Kind.TEXT: lambda x, tz: text_sql(x),
        Kind.TIMESTAMP: timestamp_sql,
        Kind.SECONDS: lambda x, tz: seconds_sql(x),
        Kind.COUNT: lambda x, tz: x,
    }
)
"""The SQL form of the cell kinds that have one (exporter.csvfmt.CELL_RULES says which:
checked at import); each gives the text exporter.csvfmt.format_cell gives."""

_without_sql = {kind for kind, rule in CELL_RULES.items() if not rule.sql}
if set(SQL_CELLS) != set(CELL_RULES) - _without_sql:  # pragma: no cover - tables in step
    raise AssertionError("exporter.sqlcsv.SQL_CELLS and exporter.csvfmt.CELL_RULES differ")


def cell_sql(kind: Kind, x: str, tz: ZoneInfo) -> str:
    """The cell text of SQL value ``x`` of ``kind`` (NULL is the empty cell)."""
    form = SQL_CELLS.get(kind)
    if form is None:
        raise ValueError(f"no SQL form for {kind} cells")
    return form(x, tz)


# ---------------------------------------------------------------------------------------
# Column values
# ---------------------------------------------------------------------------------------


class Plan:
    """What rendering one export's SQL needs: the zone, and the lookup tables it uses."""

    def __init__(self, directory: Directory, tz: ZoneInfo) -> None:
        self.directory = directory
        self.tz = tz
        self.tables: dict[tuple[Any, ...], tuple[str, list[tuple[str, str]]]] = {}
        self.usable = True

    def table(self, key: tuple[Any, ...], fill: Callable[[], list[tuple[str, str]] | None]) -> str:
        """The name of the lookup table ``key`` (id -> formatted text), filled once."""
        if key not in self.tables:
            rows = fill()
            if rows is None or any("\x00" in v for row in rows for v in row):
                self.usable = False  # printf would cut a text at a NUL
                rows = []
            self.tables[key] = (f"temp.export_lookup_{len(self.tables)}", rows)
        return self.tables[key][0]

    def text(self, value: Any) -> str:
        """A directory value as a quoted TEXT cell."""
        return quote_field(format_cell(Kind.TEXT, value, self.tz))

    def list_of_one(self, value: str) -> str:
        """A directory value as a quoted LIST cell of one item."""
        return quote_field(format_cell(Kind.LIST, [value], self.tz))

    def records(self, kind: str) -> Iterator[tuple[str, dict[str, Any]]]:
        for entity_id, (fields, _active, _lu) in self.directory.records.get(kind, {}).items():
            if not isinstance(fields, dict):
                self.usable = False
                return
            yield entity_id, fields


def _lookup(table: str, key: str, default: str) -> str:
    return f"ifnull((SELECT v FROM {table} WHERE id = {key}),'{default}')"  # noqa: S608


class Value:
    """The SQL of one or more consecutive columns."""

    @property
    def span(self) -> int:
        """How many columns."""
        return 1

    def sql(self, kinds: Sequence[Kind], plan: Plan) -> str:  # pragma: no cover - abstract
        raise NotImplementedError


@dataclass(frozen=True)
class Col(Value):
    """A SQL expression formatted per the column's kind; NULL unless ``when`` holds.

    A TEXT column is checked with the row's other TEXT columns at once (see ``_record``),
    unless it is ``free`` text (likely to need quoting: checked on its own).
    """

    expr: str
    when: str | None = None
    free: bool = False

    def sql(self, kinds: Sequence[Kind], plan: Plan) -> str:
        cell = cell_sql(kinds[0], self.expr, plan.tz)
        return cell if self.when is None else f"CASE WHEN {self.when} THEN {cell} END"

    def raw(self) -> str:
        """The value itself (for a TEXT cell that needs neither guard nor quotes)."""
        return self.expr if self.when is None else f"CASE WHEN {self.when} THEN {self.expr} END"


@dataclass(frozen=True)
class Fields(Value):
    """TEXT fields of the directory record ``kind``/``key`` (empty when unknown)."""

    kind: str
    key: str
    names: tuple[str, ...]

    @property
    def span(self) -> int:
        return len(self.names)

    def sql(self, kinds: Sequence[Kind], plan: Plan) -> str:
        def fill() -> list[tuple[str, str]] | None:
            rows = []
            for entity_id, fields in plan.records(self.kind):
                values = [fields.get(name) for name in self.names]
                if any(v is not None and not isinstance(v, str) for v in values):
                    return None
                rows.append((entity_id, ",".join(plan.text(v) for v in values)))
            return rows

        table = plan.table(("fields", self.kind, self.names), fill)
        return _lookup(table, self.key, "," * (self.span - 1))


@dataclass(frozen=True)
class TeamOf(Value):
    """Team ID and Team Name: the event's team, else the agent's primary team; both empty
    without an agent (exporter.rows.Directory.team_of)."""

    agent: str
    team: str

    @property
    def span(self) -> int:
        return 2

    def sql(self, kinds: Sequence[Kind], plan: Plan) -> str:
        def fill() -> list[tuple[str, str]] | None:
            names: dict[str, str | None] = {}
            for team_id, fields in plan.records("team"):
                name = fields.get("name")
                if name is not None and not isinstance(name, str):
                    return None
                names[team_id] = name
            rows = []
            for agent_id, fields in plan.records("agent"):
                primary = fields.get("team_id")
                if primary is not None and not isinstance(primary, str):
                    return None
                cells = ","
                if primary is not None:
                    cells = f"{plan.text(primary)},{plan.text(names.get(primary))}"
                rows.append((agent_id, cells))
            return rows

        table = plan.table(("team_of",), fill)
        own_team = Fields("team", self.team, ("name",)).sql(kinds[1:], plan)
        return (
            f"CASE WHEN {self.agent} IS NULL OR {self.agent} = '' THEN ','"
            f" WHEN {self.team} IS NOT NULL THEN {text_sql(self.team)}||','||{own_team}"
            f" ELSE {_lookup(table, self.agent, ',')} END"
        )


@dataclass(frozen=True)
class Labels(Value):
    """Two LIST columns from a JSON array of ids: the ids, and their names in the
    directory (``kind``; an unknown id or a missing name gives an empty name).

    An array of one id with no double quote nor backslash in it (``["id"]``, the JSON
    exporter.readmodel writes) is read with string functions; others with ``json_each``.
    """

    kind: str
    json: str

    @property
    def span(self) -> int:
        return 2

    def sql(self, kinds: Sequence[Kind], plan: Plan) -> str:
        def names() -> list[tuple[str, str]] | None:
            rows = []
            for entity_id, fields in plan.records(self.kind):
                name = fields.get("name") or ""
                if not isinstance(name, str):
                    return None
                rows.append((entity_id, name))
            return rows

        def items() -> list[tuple[str, str]] | None:
            found = names()
            return None if found is None else [(i, escape_item(n)) for i, n in found]

        def cells() -> list[tuple[str, str]] | None:
            found = names()
            return None if found is None else [(i, plan.list_of_one(n)) for i, n in found]

        name_table = plan.table(("name_items", self.kind), items)
        cell_table = plan.table(("name_cells", self.kind), cells)
        x = self.json
        inner = f"substr({x},3,length({x})-4)"
        # The id holds no double quote and no backslash, so no CR or LF either (JSON
        # escapes them): as a list item only its '|' is escaped.
        one_id = text_sql(f"replace({inner},'|','\\|')")
        one_name = f"ifnull((SELECT v FROM {cell_table} WHERE id = {inner}),'')"  # noqa: S608
        one = f"{x} GLOB '[[]\"*\"]' AND {x} NOT GLOB '[[]\"*\"*\"]' AND {x} NOT GLOB '*\\*'"
        ids = text_sql(f"group_concat({escape_item_sql('j.value')},'|')")
        labels = text_sql("group_concat(ifnull(n.v,''),'|')")
        items_sql = (
            "(SELECT CASE WHEN count(*) != count(CASE WHEN j.type = 'text' THEN 1 END)"  # noqa: S608
            f" OR json_type({x}) != 'array' THEN _export_fail('list cell items must be str')"
            f" ELSE printf('%s,%s',{ids},{labels}) END"
            f" FROM json_each({x}) j LEFT JOIN {name_table} n ON n.id = j.value)"
        )
        return (
            f"CASE WHEN {x} = '[]' THEN ',' WHEN {one}"
            f" THEN printf('%s,%s',{one_id},{one_name}) ELSE {items_sql} END"
        )


@dataclass(frozen=True)
class Sub(Value):
    """Columns computed by one correlated aggregate subquery over ``source``."""

    source: str
    values: tuple[Value, ...]

    @property
    def span(self) -> int:
        return sum(v.span for v in self.values)

    def sql(self, kinds: Sequence[Kind], plan: Plan) -> str:
        return f"(SELECT {_record(self.values, kinds, plan, '')} FROM {self.source})"  # noqa: S608


def _record(
    values: Sequence[Value], kinds: Sequence[Kind], plan: Plan, end: str, *, group: bool = False
) -> str:
    """One ``printf`` of ``values``. With ``group``, the TEXT columns that are not free
    text are first checked together: when none of them starts with an injection prefix
    or holds a comma, a double quote, CR or LF, they are written as they are (a first
    character outside printable ASCII takes the checked path too). The values cover
    ``kinds`` exactly (every export's are checked against its spec at import: ``_check``)."""
    parts, raw, grouped, i = [], [], [], 0
    for value in values:
        these = kinds[i : i + value.span]
        i += value.span
        part = value.sql(these, plan)
        parts.append(part)
        if group and isinstance(value, Col) and these[0] is Kind.TEXT and not value.free:
            raw.append(value.raw())
            grouped.append(value.raw())
        else:
            raw.append(part)
    fmt = ",".join("%s" for _ in parts) + end
    record = f"printf('{fmt}',{','.join(parts)})"
    if not grouped:
        return record
    texts = f"printf('{'%s' * len(grouped)}',{','.join(grouped)})"
    specials = f"replace(replace(replace({texts},'\"',','),char(10),','),char(13),',')"
    firsts = f"printf('{'%.1s' * len(grouped)}',{','.join(grouped)})"
    # Written as they are when every first character is printable ASCII but = + - @.
    return (
        f"CASE WHEN {specials} NOT GLOB '*,*' AND {firsts} NOT GLOB '*[^!-~]*'"
        f" AND {firsts} NOT GLOB '*[-=+@]*'"
        f" THEN printf('{fmt}',{','.join(raw)}) ELSE {record} END"
    )


# ---------------------------------------------------------------------------------------
# Exports
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SqlExport:
    """An export as queries: ``keys`` selects the rowids of ``table`` (aliased as in
    ``keys``) with the request's parameters, ``order`` orders them; ``joins`` adds tables
    to the formatting query; ``values`` are the columns of the spec, in order."""

    table: str
    keys: str
    order: str
    values: tuple[Value, ...]
    joins: str = ""
    where: str = "1"

    def estimate_sql(self, channels: str) -> str:
        """How many rowids ``keys`` selects (no fewer than the rows)."""
        return f"SELECT count(*) FROM ({self.keys.format(channels=channels)})"  # noqa: S608

    def keys_sql(self, channels: str) -> str:
        """Fill KEYS with the rowids in export order (``pos`` 1, 2, ... in that order)."""
        return (
            f"INSERT INTO {KEYS} (rid) SELECT rid FROM"  # noqa: S608
            f" ({self.keys.format(channels=channels)} {self.order} LIMIT -1 OFFSET 0)"
        )

    def rows_sql(self, spec: ExportSpec, plan: Plan, channels: str) -> str:
        """The records of the KEYS positions in (:lo, :hi], in order, one per row."""
        kinds = [c.kind for c in spec.columns]
        record = _record(self.values, kinds, plan, _CRLF, group=True)
        return (
            f"SELECT {record} AS r FROM {KEYS} k CROSS JOIN {self.table}"  # noqa: S608
            f" ON {self.table.split()[-1]}.rowid = k.rid {self.joins}"
            f" WHERE k.pos > :lo AND k.pos <= :hi AND ({self.where.format(channels=channels)})"
            " ORDER BY k.pos"
        )


def chunk_sql(rows_sql: str) -> str:
    """The records of ``rows_sql`` as one blob (UTF-8, in order), and their number.

    The LIMIT keeps the subquery's ORDER BY (it is never dropped nor flattened into the
    aggregate), so ``group_concat`` sees the records in order; the order is the scan of
    KEYS by its primary key, so there is nothing to sort.
    """
    return f"SELECT CAST(group_concat(r,'') AS BLOB), count(*) FROM ({rows_sql} LIMIT -1)"  # noqa: S608


_CHANNEL = ("medium", "name", "display_name")
_CONTACT = ("primary_identifier", "secondary_identifier")
_AGENT = ("name", "reference")
_RES_AGENT = "c.res_actor_kind = 'AGENT' AND c.res_actor_id IS NOT NULL"

_CONVERSATION_VALUES: tuple[Value, ...] = (
    Col("c.conversation_id"),
    Fields("channel", "c.channel_id", _CHANNEL),
    Col("c.contact_profile_id"),
    Fields("contact", "c.contact_profile_id", _CONTACT),
    Col("c.created_t"),
    Col("c.last_status_agent_id"),
    Fields("agent", "c.last_status_agent_id", _AGENT),
    TeamOf("c.last_status_agent_id", "c.last_status_team_id"),
    Col("c.status"),
    Col("c.res_actor_kind"),
    Col("c.res_reason"),
    Col("c.res_comment", free=True),
    Col("c.res_trigger"),
    Col("c.res_t"),
    Col("c.res_actor_id", when=_RES_AGENT),
    Fields("agent", f"CASE WHEN {_RES_AGENT} THEN c.res_actor_id END", _AGENT),
    Col("c.inbound_count"),
    Col("c.outbound_count"),
    Col("c.first_response_ms"),
    Sub(
        q.SESSIONS_OF_CONVERSATION,
        (
            Col(f"ifnull({q.HANDLE_MS},0)"),
            Col(f"ifnull({q.NO_REPLY_MS},0)"),
            Col(f"ifnull({q.CHERRY_PICK_MS},0)"),
        ),
    ),
    Col("c.res_ms"),
    Labels("topic", "c.topic_ids"),
    Col("c.url"),
    Sub(
        q.MESSAGES_OF_CONVERSATION,
        (Col("coalesce(max(c.log_lu,max(m.lu)),c.log_lu,max(m.lu))"),),
    ),
    Col("c.language"),
    Col("c.csat_score"),
    Col("c.csat_status"),
    Col("c.csat_question", free=True),
    Col("c.csat_answer", free=True),
)

_NOT_IN_OPEN = {
    Col("c.res_reason"),
    Col("c.res_comment", free=True),
    Col("c.res_trigger"),
    Col("c.csat_score"),
    Col("c.csat_status"),
    Col("c.csat_question", free=True),
    Col("c.csat_answer", free=True),
}
_MESSAGE_AGENT = "CASE WHEN m.sender_kind = 'AGENT' THEN m.sender_id END"

SQL_EXPORTS: Final[dict[str, SqlExport]] = {
    "conversations_resolved": SqlExport(
        table="conversations c",
        keys=f"SELECT c.rowid AS rid FROM conversations c WHERE {q.RESOLVED_IN_RANGE}"  # noqa: S608
        " AND {channels}",
        order=q.CONVERSATION_ORDER,
        values=_CONVERSATION_VALUES,
    ),
    "conversations_open": SqlExport(
        table="conversations c",
        keys=f"SELECT c.rowid AS rid FROM conversations c WHERE {q.OPEN_NOW} AND {{channels}}",  # noqa: S608
        order=q.CONVERSATION_ORDER,
        values=tuple(v for v in _CONVERSATION_VALUES if v not in _NOT_IN_OPEN),
    ),
    "messages": SqlExport(
        table="messages m",
        keys=f"SELECT m.rowid AS rid FROM messages m WHERE {q.MESSAGE_IN_RANGE}",  # noqa: S608
        order=q.MESSAGE_ORDER,
        joins=q.CONVERSATION_OF_MESSAGE,
        where="{channels}",
        values=(
            Col("m.message_id"),
            Col("m.created_t"),
            Col("m.conversation_id"),
            Fields("channel", "c.channel_id", _CHANNEL),
            Col("c.contact_profile_id"),
            Fields("contact", "c.contact_profile_id", _CONTACT),
            Col("m.message_type"),
            Col("m.origin"),
            Col("m.outbound_type"),
            Col("m.direction"),
            Col("m.sender_id", when="m.sender_kind = 'AGENT'"),
            Fields("agent", _MESSAGE_AGENT, _AGENT),
            Col("m.team_id"),
            Fields("team", "m.team_id", ("name",)),
            Labels("tag", "m.tag_ids"),
            Col("m.content", free=True),
            Col("c.url"),
            Col("m.post_url"),
            Col("m.lu"),
            Col("m.deleted_t"),
            Col("m.system_user_type"),
        ),
    ),
}
"""The exports with a fast path (the others only have exporter.rows' builders)."""


# ---------------------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------------------


class SqlRows:
    """A builder's rows: iterating gives exporter.rows' dicts; ``write_records`` writes
    the CSV records straight from SQLite (see exporter.formats.write_csv)."""

    def __init__(self, ctx: Context, export_id: str, general: Callable[[Context], Iterator[Row]]):
        self.ctx = ctx
        self.export = SQL_EXPORTS[export_id]
        self.general = general

    def __iter__(self) -> Iterator[Row]:
        return self.general(self.ctx)

    def write_records(
        self,
        write: Callable[[bytes], object],
        spec: ExportSpec,
        tz: ZoneInfo,
        *,
        workers: FormatPool | None = None,
    ) -> int | None:
        """Write every record (CRLF-terminated UTF-8) through ``write``; the row count, or
        None (nothing written) when the general path has to run instead.

        ``workers``: the FormatPool whose processes may format the rows (exporter.sqlrun;
        only its owner starts processes); None formats on the context's connection. The
        bytes are the same whatever their number.
        """
        if workers is None:
            with FormatPool(1) as in_process:  # a pool of one starts no process
                return self.write_records(write, spec, tz, workers=in_process)
        ctx = self.ctx
        channel_sql = "1"
        params: dict[str, Any] = {}
        if ctx.request.channels:  # one JSON array parameter, however many channels
            channel_sql = q.CHANNEL_FILTER
            params["channels"] = q.channels_json(ctx.request.channels)
        params["as_of"] = ctx.as_of_ms
        if ctx.request.start is not None and ctx.request.end is not None:
            params.update(start=ctx.start_ms, end=ctx.end_ms)
        estimate = self.export.estimate_sql(channel_sql)
        with workers.workers(ctx.conn, estimate, params) as started:
            plan = Plan(ctx.directory, tz)
            rows = self.export.rows_sql(spec, plan, channel_sql)
            if not plan.usable:
                return None
            job = Job(
                spec_id=spec.id,
                tz=tz,
                tables=tuple(plan.tables.values()),
                keys=self.export.keys_sql(channel_sql),
                chunk=chunk_sql(rows),
                params=params,
                nul_texts=NUL_TEXTS,
                chunk_rows=CHUNK_ROWS,
            )
            return run(ctx.conn, job, write, started)


def _check() -> None:
    """Every SQL export covers its spec's columns (at import: specs and SQL stay in step)."""
    for export_id, export in SQL_EXPORTS.items():
        spec = EXPORTS[export_id]
        covered = sum(v.span for v in export.values)
        if covered != len(spec.columns):  # pragma: no cover - guarded by the unit tests
            raise AssertionError(f"{export_id}: {covered} SQL columns for {len(spec.columns)}")


_check()
