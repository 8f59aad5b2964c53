"""The read model: the tables' changelogs folded into SQLite for exports and dashboards."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Final

import orjson
import sqlite_utils

from streamproc import keys as tablekeys
from streamproc.metrics.conversation import ConversationFacts, fold
from streamproc.metrics.conversation_log import decode_log
from streamproc.metrics.directory import is_active
from streamproc.metrics.message import content_of, tags_now
from streamproc.metrics.segments import fold_record

STATE_TABLES = ("conversations", "segments", "messages", "presence_days", "directory", "activity")
"""Changelogs the read model follows (``presence`` holds only the reorder window)."""

# Facts tables: rows derived from one conversation, replaced whenever it changes.
_FACT_TABLES = (
    "conv_messages",
    "queue_entries",
    "responses",
    "resolutions",
    "sessions",
    "status_changes",
    "applications",
    "csat_responses",
)

# The schema, created with sqlite-utils (a plain SQLite file: docs/architecture.md says how to
# open it with sqlite-utils or Datasette). Tables: name -> ("column TYPE, ...", primary key).
_TABLES: Final[dict[str, tuple[str, str | tuple[str, ...] | None]]] = {
    "offsets": (
        "topic TEXT, partition INTEGER, next_offset INTEGER",
        ("topic", "partition"),
    ),
    "conversations": (
        "conversation_id TEXT, channel_id TEXT, contact_profile_id TEXT, url TEXT, "
        "created_t INTEGER, language TEXT, status TEXT, last_status_agent_id TEXT, "
        "last_status_team_id TEXT, first_resolution_t INTEGER, inbound_count INTEGER, "
        "outbound_count INTEGER, first_response_t INTEGER, first_response_ms INTEGER, "
        "first_response_agent_id TEXT, first_response_team_id TEXT, topic_ids TEXT, "
        "csat_status TEXT, csat_score INTEGER, csat_question TEXT, csat_answer TEXT, "
        "log_lu INTEGER, res_t INTEGER, res_actor_kind TEXT, res_actor_id TEXT, "
        "res_team_id TEXT, res_reason TEXT, res_comment TEXT, res_trigger TEXT, "
        "res_ms INTEGER",
        "conversation_id",
    ),
    "messages": (
        "message_id TEXT, conversation_id TEXT, created_t INTEGER, direction TEXT, "
        "sender_kind TEXT, sender_id TEXT, team_id TEXT, message_type TEXT, origin TEXT, "
        "outbound_type TEXT, system_user_type TEXT, content TEXT, post_url TEXT, "
        "tag_ids TEXT, lu INTEGER, deleted_t INTEGER",
        "message_id",
    ),
    "conv_messages": (
        "conversation_id TEXT, t INTEGER, message_id TEXT, direction TEXT, "
        "sender_kind TEXT, sender_id TEXT, team_id TEXT, segment INTEGER",
        None,
    ),
    "queue_entries": (
        "conversation_id TEXT, t INTEGER, started_by TEXT, handover_reason TEXT, "
        "actor_kind TEXT, actor_id TEXT, segment INTEGER",
        None,
    ),
    "responses": (
        "conversation_id TEXT, queue_t INTEGER, t INTEGER, started_by TEXT, "
        "handover_reason TEXT, inbound_message_id TEXT, agent_id TEXT, team_id TEXT, "
        "outbound_message_id TEXT, segment INTEGER",
        None,
    ),
    "resolutions": (
        "conversation_id TEXT, t INTEGER, actor_kind TEXT, actor_id TEXT, team_id TEXT, "
        "reason TEXT, comment TEXT, trigger_kind TEXT, with_reply INTEGER, "
        "resolution_ms INTEGER, segment INTEGER",
        None,
    ),
    "sessions": (
        "conversation_id TEXT, agent_id TEXT, team_id TEXT, start INTEGER, "
        "expiry INTEGER, end_t INTEGER, replied INTEGER, own_status_end INTEGER, segment INTEGER",
        None,
    ),
    "status_changes": (
        "conversation_id TEXT, t INTEGER, status TEXT, actor_kind TEXT, actor_id TEXT, "
        "team_id TEXT, segment INTEGER",
        None,
    ),
    "applications": (
        "conversation_id TEXT, kind TEXT, t INTEGER, target_id TEXT, actor_kind TEXT, "
        "actor_id TEXT, team_id TEXT, message_id TEXT, segment INTEGER",
        None,
    ),
    "csat_responses": (
        "conversation_id TEXT, t INTEGER, survey_id TEXT, score INTEGER, agent_id TEXT, "
        "team_id TEXT, segment INTEGER",
        None,
    ),
    "presence_intervals": (
        "agent_id TEXT, day INTEGER, start INTEGER, end_t INTEGER, presence TEXT, away_status TEXT",
        None,
    ),
    "activity": (
        "partition INTEGER, dimension TEXT, entity TEXT, bucket INTEGER, "
        "conversation_id TEXT, contribution TEXT, segment INTEGER",
        None,
    ),
    "export_results": (
        "request_id TEXT, result TEXT",
        "request_id",
    ),
    "directory": (
        "kind TEXT, id TEXT, fields TEXT, active INTEGER, lu INTEGER",
        ("kind", "id"),
    ),
}
_INDEXES: Final[dict[str, tuple[str, tuple[str, ...]]]] = {
    "conversations_first_resolution": ("conversations", ("first_resolution_t",)),
    "conversations_status": ("conversations", ("status",)),
    "conversations_contact": ("conversations", ("contact_profile_id",)),
    "messages_created_id": ("messages", ("created_t", "message_id")),
    "messages_conversation_lu": ("messages", ("conversation_id", "lu")),
    "conv_messages_t": ("conv_messages", ("t",)),
    "conv_messages_conversation": ("conv_messages", ("conversation_id",)),
    "queue_entries_t": ("queue_entries", ("t",)),
    "queue_entries_conversation": ("queue_entries", ("conversation_id",)),
    "responses_t": ("responses", ("t",)),
    "responses_conversation": ("responses", ("conversation_id",)),
    "resolutions_t": ("resolutions", ("t",)),
    "resolutions_conversation": ("resolutions", ("conversation_id",)),
    "sessions_end": ("sessions", ("end_t",)),
    "sessions_expiry": ("sessions", ("expiry",)),
    "sessions_conversation": ("sessions", ("conversation_id",)),
    "status_changes_t": ("status_changes", ("t",)),
    "status_changes_conversation": ("status_changes", ("conversation_id",)),
    "applications_t": ("applications", ("t",)),
    "applications_conversation": ("applications", ("conversation_id",)),
    "csat_responses_t": ("csat_responses", ("t",)),
    "csat_responses_conversation": ("csat_responses", ("conversation_id",)),
    "presence_intervals_day": ("presence_intervals", ("agent_id", "day")),
    "presence_intervals_start": ("presence_intervals", ("start",)),
    "activity_by_conversation": ("activity", ("dimension", "entity", "bucket", "conversation_id")),
    "conv_messages_segment": ("conv_messages", ("conversation_id", "segment")),
    "activity_bucket": ("activity", ("dimension", "bucket")),
}
_SCHEMA_SQL: Final = (
    # Indexes of earlier versions, replaced by messages_created_id / messages_conversation_lu.
    "DROP INDEX IF EXISTS messages_created",
    "DROP INDEX IF EXISTS messages_conversation",
    # An index on an expression, with a WHERE: beyond sqlite-utils' create_index.
    "CREATE INDEX IF NOT EXISTS directory_attribute_contact"
    " ON directory (json_extract(fields, '$.contact_profile_id')) WHERE kind = 'attribute'",
)
_ACTIVITY_METRICS: Final = (
    "SELECT a.dimension, a.entity, a.bucket, a.conversation_id, m.key AS metric,"
    " CASE WHEN m.type = 'array' THEN json_array_length(m.value) ELSE m.value END AS value"
    " FROM activity a, json_each(a.contribution) m"
)
"""The view of the activity contributions, one row per metric (for ad-hoc queries)."""
_COLUMN_TYPES: Final = {"TEXT": str, "INTEGER": int}


def create_schema(conn: sqlite3.Connection) -> None:
    """Create the read model's tables, indexes and view where missing (sqlite-utils:
    ``create_table(..., if_not_exists=True)``); a column missing from an existing table
    (a model written by an earlier version) is added at its end."""
    db = sqlite_utils.Database(conn, recursive_triggers=False, execute_plugins=False)
    tables = {}
    for name, (columns, pk) in _TABLES.items():
        types = {}
        for column in columns.split(", "):
            column_name, column_type = column.split()
            types[column_name] = _COLUMN_TYPES[column_type]
        table = db.create_table(name, types, pk=pk, if_not_exists=True)
        for column_name, python_type in types.items():
            if column_name not in table.columns_dict:
                table.add_column(column_name, python_type)
        tables[name] = table
    for index_name, (table_name, indexed) in _INDEXES.items():
        tables[table_name].create_index(indexed, index_name=index_name, if_not_exists=True)
    for statement in _SCHEMA_SQL:
        conn.execute(statement)
    db.create_view("activity_metrics", _ACTIVITY_METRICS, ignore=True)


ATTRIBUTES_OF_CONTACT: Final = (
    "SELECT {columns} FROM directory WHERE kind = 'attribute'"
    " AND json_extract(fields, '$.contact_profile_id') = ?"
)
"""The directory rows of one contact's attributes (by equality on the contact id, which
the record's fields hold, through the ``directory_attribute_contact`` index): a prefix
range on the ``contact|attribute`` id would mix contact ``a|b`` into contact ``a``."""

NUL_TEXTS: Final = "nul_texts"
"""Keys of the ``conversations``/``messages`` rows holding a text with a NUL character
(the exporter's SQL formatting cannot carry those: exporter.sqlcsv)."""
_NUL_SCHEMA = f"CREATE TABLE {NUL_TEXTS} (tbl TEXT, id TEXT, PRIMARY KEY (tbl, id)) WITHOUT ROWID"
_NUL_KEYS = {"conversations": "conversation_id", "messages": "message_id"}


class ReadModel:
    """A SQLite database holding the latest state of every table key, as rows."""

    def __init__(self, path: Path | str, lock_max_ms: int) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        create_schema(self.conn)
        self._track_nul_texts()
        self.lock_max_ms = lock_max_ms
        self._uncounted: set[str] = set()

    def _track_nul_texts(self) -> None:
        """Create the NUL_TEXTS table, filled from the rows already there (once)."""
        exists = self.conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (NUL_TEXTS,)
        ).fetchone()
        if not exists:
            self.conn.execute("BEGIN")
            self.conn.execute(_NUL_SCHEMA)
            for table, key in _NUL_KEYS.items():
                texts = [
                    name
                    for _cid, name, decl, *_ in self.conn.execute(f"PRAGMA table_info({table})")
                    if decl == "TEXT"
                ]
                found = " OR ".join(f"instr({name}, char(0))" for name in texts)
                self.conn.execute(
                    f"INSERT INTO {NUL_TEXTS} SELECT ?, {key} FROM {table} WHERE {found}",  # noqa: S608
                    (table,),
                )
            self.conn.execute("COMMIT")
        cursor = self.conn.execute(f"SELECT 1 FROM {NUL_TEXTS} LIMIT 1")  # noqa: S608
        self._nul_texts = cursor.fetchone() is not None

    def _note_nul_texts(self, table: str, key: str, values: Iterable[Any]) -> None:
        """Keep NUL_TEXTS in step with a row just replaced (or deleted: no values)."""
        if self._nul_texts:
            self.conn.execute(f"DELETE FROM {NUL_TEXTS} WHERE tbl = ? AND id = ?", (table, key))  # noqa: S608
        if any(isinstance(v, str) and "\x00" in v for v in values):
            self.conn.execute(f"INSERT OR REPLACE INTO {NUL_TEXTS} VALUES (?, ?)", (table, key))  # noqa: S608
            self._nul_texts = True

    def close(self) -> None:
        """Close the database."""
        self.conn.close()

    # -- offsets --------------------------------------------------------------------------
    def next_offsets(self) -> dict[tuple[str, int], int]:
        """Where each changelog partition continues: {(topic, partition): next offset}."""
        rows = self.conn.execute("SELECT topic, partition, next_offset FROM offsets")
        return {(t, p): o for t, p, o in rows}

    # -- applying changelog batches -------------------------------------------------------
    def apply_batch(
        self,
        table: str,
        latest: dict[bytes, bytes | None],
        offsets: dict[tuple[str, int], int],
    ) -> None:
        """Apply the latest value of each key of one table and record the offsets reached,
        in one transaction (a crash leaves the model at the previous batch)."""
        apply = {
            "conversations": self._apply_conversation,
            "segments": self._apply_segment,
            "messages": self._apply_message,
            "presence_days": self._apply_presence_day,
            "directory": self._apply_directory,
            "activity": self._apply_activity,
        }[table]
        self.conn.execute("BEGIN")
        try:
            for key, value in latest.items():
                apply(key.decode(), None if value is None else orjson.loads(value))
            self._count_messages()
            self.conn.executemany(
                "INSERT OR REPLACE INTO offsets VALUES (?, ?, ?)",
                [(t, p, o) for (t, p), o in offsets.items()],
            )
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            self._uncounted.clear()
            raise

    def _apply_conversation(self, conversation_id: str, record: dict[str, Any] | None) -> None:
        """A conversation's head: its row and facts go with it; a record of the format
        before segments (one whole log, ``"log"``) gives them itself (segment -1)."""
        if record is not None and "log" not in record:
            self._delete_facts(conversation_id, -1)  # a head: the segments give the rows
            return
        self.conn.execute("DELETE FROM conversations WHERE conversation_id = ?", (conversation_id,))
        self._delete_facts(conversation_id, None)
        if record is None:
            self._note_nul_texts("conversations", conversation_id, ())
            return
        facts = fold(conversation_id, decode_log(record["log"]), self.lock_max_ms)
        self._insert_conversation(facts)
        self._insert_facts(facts, -1)

    def _apply_segment(self, key: str, record: dict[str, Any] | None) -> None:
        """One segment of a conversation's log: its facts' rows, and the conversation's
        row when it is the last segment (its message counts are counted from the rows
        once the batch is applied: they are not in the fold's checkpoint, so that a
        late message refolds only its own segment)."""
        conversation_id, segment = tablekeys.parse_segment_key(key)
        self._uncounted.add(conversation_id)
        self._delete_facts(conversation_id, segment)
        if record is None:
            return
        facts = fold_record(conversation_id, record, decode_log(record["log"]), self.lock_max_ms)
        if record["n"] is None:
            self.conn.execute(
                "DELETE FROM conversations WHERE conversation_id = ?", (conversation_id,)
            )
            self._insert_conversation(facts)
        self._insert_facts(facts, segment)

    def _delete_facts(self, conversation_id: str, segment: int | None) -> None:
        """Delete the conversation's fact rows of one segment (None: of every segment;
        -1: those of a record of the format before segments)."""
        where = "conversation_id = ?" if segment is None else "conversation_id = ? AND segment = ?"
        params = (conversation_id,) if segment is None else (conversation_id, segment)
        for name in _FACT_TABLES:
            self.conn.execute(f"DELETE FROM {name} WHERE {where}", params)  # noqa: S608

    def _count_messages(self) -> None:
        """Set the message counts of the conversations whose segments changed."""
        for conversation_id in sorted(self._uncounted):
            self.conn.execute(
                "UPDATE conversations SET"
                " inbound_count = (SELECT count(*) FROM conv_messages m"
                "  WHERE m.conversation_id = :c AND m.direction = 'INBOUND'),"
                " outbound_count = (SELECT count(*) FROM conv_messages m"
                "  WHERE m.conversation_id = :c AND m.direction = 'OUTBOUND')"
                " WHERE conversation_id = :c",
                {"c": conversation_id},
            )
        self._uncounted.clear()

    def _insert_conversation(self, f: ConversationFacts) -> None:
        log_lu = None if f.end is None else f.end.latest_t
        first = f.first_response
        completion = f.csat_completion
        r = f.latest_resolution
        row = (
            f.conversation_id, f.channel_id, f.contact_profile_id, f.url, f.created_t,
            f.language, f.status, f.last_status_agent_id, f.last_status_team_id,
            f.first_resolution_t, f.inbound_count, f.outbound_count,
            first.t if first else None, first.response_ms if first else None,
            first.agent_id if first else None, first.team_id if first else None,
            orjson.dumps(f.topic_ids).decode(), f.csat_status,
            completion.score if completion else None,
            completion.followup_question if completion else None,
            completion.followup_answer if completion else None, log_lu,
            *(
                (r.t, r.actor_kind, r.actor_id, r.team_id, r.reason, r.comment, r.trigger,
                 r.resolution_ms)
                if r else (None,) * 8
            ),
        )  # fmt: skip
        self.conn.execute(
            "INSERT INTO conversations VALUES"
            " (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            row,
        )
        self._note_nul_texts("conversations", f.conversation_id, row)

    def _insert_facts(self, f: ConversationFacts, segment: int) -> None:
        c = f.conversation_id
        rows: dict[str, Iterable[tuple[Any, ...]]] = {
            "conv_messages": (
                (c, m.t, m.message_id, m.direction, m.sender_kind, m.sender_id, m.team_id)
                for m in f.messages
            ),
            "queue_entries": (
                (c, q.t, q.started_by, q.handover_reason, q.actor_kind, q.actor_id)
                for q in f.queue_entries
            ),
            "responses": (
                (c, r.queue_t, r.t, r.started_by, r.handover_reason, r.inbound_message_id,
                 r.agent_id, r.team_id, r.outbound_message_id)
                for r in f.responses
            ),
            "resolutions": (
                (c, r.t, r.actor_kind, r.actor_id, r.team_id, r.reason, r.comment, r.trigger,
                 int(r.with_reply), r.resolution_ms)
                for r in f.resolutions
            ),
            "sessions": (
                (c, s.agent_id, s.team_id, s.start, s.expiry, s.end, int(s.replied),
                 int(s.own_status_end))
                for s in f.sessions
            ),
            "status_changes": (
                (c, s.t, s.status, s.actor_kind, s.actor_id, s.team_id) for s in f.status_changes
            ),
            "applications": (
                *((c, "topic", a.t, a.target_id, a.actor_kind, a.actor_id, a.team_id, None)
                  for a in f.topics_added),
                *((c, "tag", a.t, a.target_id, a.actor_kind, a.actor_id, a.team_id, a.message_id)
                  for a in f.tags_added),
                *((c, "removed", a.t, a.target_id, a.actor_kind, a.actor_id, a.team_id,
                   a.message_id) for a in f.labels_removed),
            ),
            "csat_responses": (
                (c, r.t, r.survey_id, r.score, r.agent_id, r.team_id) for r in f.csat_responses
            ),
        }  # fmt: skip
        for name, values in rows.items():
            values = [(*v, segment) for v in values]
            if values:
                marks = ",".join("?" * len(values[0]))
                self.conn.executemany(f"INSERT INTO {name} VALUES ({marks})", values)  # noqa: S608

    def _apply_message(self, message_id: str, record: dict[str, Any] | None) -> None:
        self.conn.execute("DELETE FROM messages WHERE message_id = ?", (message_id,))
        if record is None or record["created"] is None:
            self._note_nul_texts("messages", message_id, ())
            return  # not created yet (its other events arrived first)
        created = record["created"]
        row = (
            message_id, record["conversation_id"], created["t"], created["direction"],
            created["sender_kind"], created["sender_id"], created["team_id"],
            created["message_type"], created["origin"], created["outbound_type"],
            created["system_user_type"], content_of(record), created["post_url"],
            orjson.dumps(tags_now(record)).decode(), record["lu"], record["deleted_t"],
        )  # fmt: skip
        self.conn.execute("INSERT INTO messages VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", row)
        self._note_nul_texts("messages", message_id, row)

    def _apply_presence_day(self, key: str, record: dict[str, Any] | None) -> None:
        agent_id, day = tablekeys.parse_presence_day_key(key)
        self.conn.execute(
            "DELETE FROM presence_intervals WHERE agent_id = ? AND day = ?", (agent_id, int(day))
        )
        if record is None:
            return
        self.conn.executemany(
            "INSERT INTO presence_intervals VALUES (?,?,?,?,?,?)",
            [(agent_id, int(day), *interval) for interval in record["intervals"]],
        )

    def _apply_activity(self, key: str, record: dict[str, Any] | None) -> None:
        try:
            partition, dimension, entity, bucket, conversation, segment = (
                tablekeys.parse_activity_key_segment(key)
            )
        except ValueError:
            # A bucket record of the state format before 2026-12 (one key per bucket, a
            # map of conversations): its rows go, whatever the record says; the worker's
            # retention sweep deletes such keys (docs/operations.md, "Upgrading").
            try:
                partition_text, dimension, rest = key.split("|", 2)
                entity, bucket_text = rest.rsplit("|", 1)
                old = (int(partition_text), dimension, entity, int(bucket_text))
            except ValueError:
                return  # not an activity key at all: nothing to show
            self.conn.execute(
                "DELETE FROM activity WHERE partition = ? AND dimension = ? AND entity = ?"
                " AND bucket = ?",
                old,
            )
            return
        self.conn.execute(
            "DELETE FROM activity WHERE dimension = ? AND entity = ? AND bucket = ?"
            " AND conversation_id = ? AND segment IS ?",
            (dimension, entity, bucket, conversation, segment),
        )
        if record:
            self.conn.execute(
                "INSERT INTO activity VALUES (?,?,?,?,?,?,?)",
                (
                    partition, dimension, entity, bucket, conversation,
                    orjson.dumps(record).decode(), segment,
                ),
            )  # fmt: skip

    def _apply_directory(self, key: str, record: dict[str, Any] | None) -> None:
        kind, entity_id = tablekeys.parse_directory_key(key)
        if record is None:
            self.conn.execute("DELETE FROM directory WHERE kind = ? AND id = ?", (kind, entity_id))
            return
        active = is_active(record)
        self.conn.execute(
            "INSERT OR REPLACE INTO directory VALUES (?,?,?,?,?)",
            (kind, entity_id, orjson.dumps(record["fields"]).decode(), int(active), record["lu"]),
        )

    # -- export results (a repeated request id gets the earlier result) ---------------------
    def earlier_result(self, request_id: str) -> dict[str, Any] | None:
        """The result of an earlier successful export with this request id."""
        row = self.conn.execute(
            "SELECT result FROM export_results WHERE request_id = ?", (request_id,)
        ).fetchone()
        return None if row is None else orjson.loads(row[0])

    def remember_result(self, request_id: str, result: dict[str, Any]) -> None:
        """Keep a successful result for repeats of its request id."""
        self.conn.execute(
            "INSERT OR REPLACE INTO export_results VALUES (?, ?)",
            (request_id, orjson.dumps(result).decode()),
        )

    # -- reading ---------------------------------------------------------------------------
    def watermark_ms(self) -> int | None:
        """The latest event time reflected anywhere in the model."""
        row = self.conn.execute(
            "SELECT max(x) FROM (SELECT max(log_lu) AS x FROM conversations"
            " UNION ALL SELECT max(lu) FROM messages"
            " UNION ALL SELECT max(lu) FROM directory"
            " UNION ALL SELECT max(coalesce(end_t, start)) FROM presence_intervals)"
        ).fetchone()
        return None if row is None else row[0]
