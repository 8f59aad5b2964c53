"""Running an export's SQL (exporter.sqlcsv): on the caller's connection, or on worker
processes that format chunks of it in parallel, all reading one snapshot.

The rows of an export are first put in order once per connection: their rowids go into
a temporary table (``KEYS``, position -> rowid). Chunks of ``chunk_rows`` positions are
then formatted with one statement each, into one blob (``group_concat`` in SQLite, so
Python handles one object per chunk, not per row), and written in position order.

Workers are processes, not threads: Python's sqlite3 releases the GIL while SQLite
steps, but SQLite as commonly built (memory statistics on, lookaside off) takes one
process-wide mutex for every allocation, and formatting CSV allocates for nearly every
cell, so threads formatting at once mostly wait for each other.

One snapshot: every worker opens the database read-only and starts a read transaction;
``PRAGMA data_version`` read on the caller's connection (not in a transaction, writing
nothing) before the first and after the last of these is unchanged only if no
connection committed in between, so all workers read the database as it was then (and
keep doing so until their transactions end). Otherwise they start again (a few times;
then the caller's connection formats everything itself). Each worker computes the same
ordered rowids from that same state, so the chunks join up exactly.

Who starts workers: only a FormatPool's owner (the exporter service, for its lifetime);
without a pool the caller's connection formats everything (docs/architecture.md).

This module imports little: it is the workers' main program too (``python -m``).
"""

from __future__ import annotations

import contextlib
import os
import pickle
import sqlite3
import subprocess
import sys
import threading
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any, Final
from zoneinfo import ZoneInfo

from exporter.csvfmt import format_cell, needs_guard
from exporter.schema import Kind

#: KEYS positions per chunk: the unit of work of a worker, written at once.
CHUNK_ROWS: Final = 4096
#: Chunks formatted ahead of the writer, per worker (bounds the memory used).
AHEAD_PER_WORKER: Final = 3
#: Rows per worker below which fewer workers are started (starting one costs ~50 ms).
ROWS_PER_WORKER: Final = 25_000
#: Attempts at starting every worker's read transaction on one snapshot.
PIN_ATTEMPTS: Final = 5
#: The export's rowids in order (``pos`` 1, 2, ...), per connection.
KEYS: Final = "temp.export_keys"

Write = Callable[[bytes], object]
Chunk = tuple[list[bytes], int]


def default_workers() -> int:
    """Formatting processes per export of the exporter service (its FormatPool's size):
    one per core, at most four. A library caller that passes no pool gets none."""
    return max(1, min(os.cpu_count() or 1, 4))


class FormatPool:
    """The formatting worker processes an owner allows its exports: up to ``size`` per
    export, started for an export large enough to gain from them and stopped when it
    ends; ``close`` stops any still running. Only an owner creates one and passes it
    down (the exporter service for its lifetime, a command or a bench for its run):
    nothing below starts processes on its own, and without a pool an export is
    formatted on the caller's connection, in its own process."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"workers must be at least 1, got {size}")
        self.size = size
        self.closed = False
        self._running: set[Workers] = set()
        self._lock = threading.Lock()

    def workers(self, conn: sqlite3.Connection, estimate: str, params: dict[str, Any]) -> Workers:
        """The workers of one export (see ``Workers``), to use in a ``with`` block."""
        if self.closed:
            raise RuntimeError("the export formatting pool is closed")
        return Workers(conn, estimate, params, self.size, pool=self)

    def running(self) -> int:
        """Worker processes started and not stopped yet."""
        with self._lock:
            return sum(len(w.started) for w in self._running)

    def _track(self, workers: Workers, *, alive: bool) -> None:
        with self._lock:
            if alive:
                self._running.add(workers)
            else:
                self._running.discard(workers)

    def close(self) -> None:
        """Stop every worker still running (killed: their export is abandoned)."""
        self.closed = True
        with self._lock:
            running = list(self._running)
        for workers in running:
            workers.close()

    def __enter__(self) -> FormatPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def at(ms: Any) -> datetime:
    """Epoch milliseconds as an aware UTC datetime (any int, unlike fromtimestamp)."""
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)


@dataclass(frozen=True)
class Job:
    """One export's SQL and what it needs on a connection (sent to the workers as is)."""

    spec_id: str
    tz: ZoneInfo
    tables: tuple[tuple[str, list[tuple[str, str]]], ...]  # lookup table name -> rows
    keys: str  # fills KEYS
    chunk: str  # the records of KEYS positions (:lo, :hi] as one blob, and their number
    params: dict[str, Any]
    nul_texts: str  # the read model's table of rows holding a NUL (exporter.readmodel)
    chunk_rows: int = CHUNK_ROWS

    def register(self, conn: sqlite3.Connection, failure: list[BaseException]) -> None:
        """The SQL functions the queries call; the exceptions they raise go to ``failure``
        (sqlite3 reports them as OperationalError)."""

        def fail(message: str) -> None:
            failure.append(TypeError(f"{self.spec_id}: {message}"))
            raise failure[-1]

        def timestamp(ms: Any) -> str:
            try:
                return format_cell(Kind.TIMESTAMP, at(ms), self.tz)
            except Exception as exc:
                failure.append(exc)
                raise

        def guard(text: Any) -> int:
            return int(isinstance(text, str) and needs_guard(text))

        conn.create_function("_export_fail", 1, fail)
        conn.create_function("_export_guard", 1, guard, deterministic=True)
        conn.create_function("_export_ts", 1, timestamp, deterministic=True)

    def has_nul_texts(self, conn: sqlite3.Connection) -> bool:
        """Whether a conversation or message holds a NUL character (printf would cut it)."""
        try:
            found = conn.execute(f"SELECT 1 FROM {self.nul_texts} LIMIT 1").fetchone()  # noqa: S608
        except sqlite3.OperationalError:  # not a read model kept by exporter.readmodel
            return True
        return found is not None

    def setup(self, conn: sqlite3.Connection) -> int:
        """Make ``conn`` (in a read transaction) ready: lookup tables and the export's
        rowids in order (KEYS); the number of those rowids."""
        for name, rows in self.tables:
            conn.execute(f"DROP TABLE IF EXISTS {name}")
            conn.execute(f"CREATE TABLE {name} (id TEXT PRIMARY KEY, v TEXT) WITHOUT ROWID")
            conn.executemany(f"INSERT INTO {name} VALUES (?, ?)", rows)  # noqa: S608
        conn.execute(f"DROP TABLE IF EXISTS {KEYS}")
        conn.execute(f"CREATE TABLE {KEYS} (pos INTEGER PRIMARY KEY, rid INTEGER)")
        conn.execute(self.keys, self.params)
        (total,) = conn.execute(f"SELECT ifnull(max(pos), 0) FROM {KEYS}").fetchone()  # noqa: S608
        return int(total)

    def chunks(self, total: int) -> int:
        """How many chunks ``total`` positions make."""
        return -(-total // self.chunk_rows)

    def records(self, conn: sqlite3.Connection, index: int) -> Chunk:
        """Chunk ``index``: its bytes (in pieces) and its number of records."""
        return self._range(conn, index * self.chunk_rows, (index + 1) * self.chunk_rows)

    def _range(self, conn: sqlite3.Connection, lo: int, hi: int) -> Chunk:
        try:
            data, count = conn.execute(self.chunk, {**self.params, "lo": lo, "hi": hi}).fetchone()
        except sqlite3.DataError:  # longer than a SQLite string may be: in halves
            if hi - lo < 2:
                raise
            mid = (lo + hi) // 2
            first, n = self._range(conn, lo, mid)
            second, m = self._range(conn, mid, hi)
            return first + second, n + m
        return ([data] if data else []), count


class Workers:
    """The worker processes of one export, started early (they boot while the caller
    prepares the job) and stopped on leaving the ``with`` block (FormatPool.workers)."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        estimate: str,
        params: dict[str, Any],
        n: int,
        pool: FormatPool | None = None,
    ):
        """Up to ``n`` workers, fewer for a small export (``estimate`` counts its rows on
        ``conn``); none when ``n`` is 1, the database has no file, or ``conn`` is in a
        transaction (its view may differ from the committed one). ``pool`` (their owner)
        can stop them at any time."""
        self.started: list[_Worker] = []
        self.uri: str | None = None
        self.finished = False
        self.pool = pool
        file = _database_file(conn)
        if n < 2 or file is None or conn.in_transaction:
            return
        if ROWS_PER_WORKER > 0:
            (rows,) = conn.execute(estimate, params).fetchone()
            n = min(n, rows // ROWS_PER_WORKER)
        if n < 2:
            return
        self.uri = f"file:{urllib.parse.quote(file)}?mode=ro"
        if pool is not None:
            pool._track(self, alive=True)
        try:
            for _ in range(n):
                self.started.append(_Worker())
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the workers (killed unless they finished their work)."""
        started, self.started = self.started, []
        for worker in started:
            worker.close(kill=not self.finished)
        if self.pool is not None:
            self.pool._track(self, alive=False)


def run(
    conn: sqlite3.Connection, job: Job, write: Write, workers: Workers | None = None
) -> int | None:
    """Write the export's records through ``write``; their number, or None (nothing
    written) when the read model holds a text with a NUL (the general path must run).

    The ``workers`` format the chunks if there are any and they can be given one snapshot;
    otherwise ``conn`` formats everything itself."""
    failure: list[BaseException] = []
    try:
        if workers is not None and workers.started:
            with contextlib.suppress(_NoSnapshot):
                return _run_workers(conn, job, write, workers)
        return _run_here(conn, job, write, failure)
    except sqlite3.OperationalError:
        if failure:
            raise failure[-1] from None
        raise


def _run_here(
    conn: sqlite3.Connection, job: Job, write: Write, failure: list[BaseException]
) -> int | None:
    """Format on ``conn`` itself, in one read transaction (a savepoint inside the caller's
    transaction if there is one); the temporary tables go with the savepoint."""
    job.register(conn, failure)
    conn.execute("SAVEPOINT export_records")
    try:
        if job.has_nul_texts(conn):
            return None
        total = job.setup(conn)
        count = 0
        for index in range(job.chunks(total)):
            pieces, n = job.records(conn, index)
            for piece in pieces:
                write(piece)
            count += n
        return count
    finally:
        if conn.in_transaction:  # (some errors roll the whole transaction back)
            conn.execute("ROLLBACK TO export_records")
            conn.execute("RELEASE export_records")


class _NoSnapshot(Exception):
    """The workers could not be given one snapshot of the database (nothing written)."""


def _database_file(conn: sqlite3.Connection) -> str | None:
    """The main database's file; None for an in-memory database."""
    (file,) = conn.execute("SELECT file FROM pragma_database_list WHERE name = 'main'").fetchone()
    return str(file) or None


def _data_version(conn: sqlite3.Connection) -> int:
    (version,) = conn.execute("PRAGMA data_version").fetchone()
    return int(version)


def _run_workers(conn: sqlite3.Connection, job: Job, write: Write, workers: Workers) -> int | None:
    """Format on the workers, all reading one snapshot of ``conn``'s database; write the
    chunks in order from this thread. Raises _NoSnapshot (nothing written) when that
    cannot be set up (a worker cannot open the database, writers commit all the time)."""
    started = workers.started
    try:
        for worker in started:
            worker.send("open", workers.uri, job)
        for worker in started:
            worker.receive()
        for _ in range(PIN_ATTEMPTS):
            before = _data_version(conn)
            for worker in started:
                worker.send("pin")
            for worker in started:
                worker.receive()
            if _data_version(conn) == before:
                break
        else:
            raise _NoSnapshot
        if started[0].call("nul_texts"):
            workers.finished = True
            return None
        count = _Pool(job, started).run(write)
        workers.finished = True
        return count
    except _WorkerFailed as exc:
        if exc.during_open:
            raise _NoSnapshot from exc.__cause__
        raise exc.__cause__ or exc from None


class _WorkerFailed(Exception):
    """A worker answered with an exception (its ``__cause__``) or died."""

    def __init__(self, during_open: bool) -> None:
        super().__init__("export worker failed")
        self.during_open = during_open


class _Worker:
    """A worker process (``python -m exporter.sqlrun``): pickled requests on its stdin,
    pickled ``(ok, value)`` answers on its stdout."""

    def __init__(self) -> None:
        root = str(Path(__file__).resolve().parent.parent)
        path = os.environ.get("PYTHONPATH")
        env = {**os.environ, "PYTHONPATH": root if not path else root + os.pathsep + path}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "exporter.sqlrun"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None  # noqa: S101
        self.stdin: IO[bytes] = self.proc.stdin
        self.stdout: IO[bytes] = self.proc.stdout
        self.opened = False

    def send(self, *request: Any) -> None:
        try:
            pickle.dump(request, self.stdin, protocol=pickle.HIGHEST_PROTOCOL)
            self.stdin.flush()
        except OSError as exc:  # it died
            raise _WorkerFailed(not self.opened) from exc

    def receive(self) -> Any:
        try:
            ok, value = pickle.load(self.stdout)  # noqa: S301 - our own child process
        except EOFError:
            stopped = RuntimeError(f"export worker {self.proc.pid} stopped ({self.proc.poll()})")
            raise _WorkerFailed(not self.opened) from stopped
        except (OSError, pickle.UnpicklingError) as exc:
            raise _WorkerFailed(not self.opened) from exc
        if not ok:
            raise _WorkerFailed(not self.opened) from value
        self.opened = True
        return value

    def call(self, *request: Any) -> Any:
        self.send(*request)
        return self.receive()

    def close(self, *, kill: bool = False) -> None:
        if kill:
            self.proc.kill()
        with contextlib.suppress(OSError):
            self.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover - it ignored EOF
            self.proc.kill()
            self.proc.wait()
        self.stdout.close()


class _Pool:
    """One thread per worker, each taking the next chunk as it goes; at most ``ahead``
    chunks are formatted and not written yet (bounded memory)."""

    def __init__(self, job: Job, workers: Sequence[_Worker]) -> None:
        self.job = job
        self.workers = workers
        self.cond = threading.Condition()
        self.total: int | None = None  # rows in KEYS (the same for every worker)
        self.taken = 0  # chunks handed out
        self.written = 0  # chunks written
        self.ready: dict[int, Chunk] = {}
        self.error: BaseException | None = None
        self.stopped = False
        self.ahead = AHEAD_PER_WORKER * len(workers)

    def _work(self, worker: _Worker) -> None:
        try:
            total = worker.call("setup")
            with self.cond:
                if self.total is None:
                    self.total = total
                    self.cond.notify_all()
                elif total != self.total:  # pragma: no cover - one snapshot
                    raise RuntimeError(f"the workers saw {self.total} and {total} rows")
            chunks = self.job.chunks(total)
            while True:
                with self.cond:
                    while not self.stopped and self.taken - self.written >= self.ahead:
                        self.cond.wait()
                    if self.stopped or self.taken >= chunks:
                        return
                    index = self.taken
                    self.taken += 1
                result = worker.call("chunk", index)
                with self.cond:
                    self.ready[index] = result
                    self.cond.notify_all()
        except BaseException as exc:
            with self.cond:
                if self.error is None and not self.stopped:
                    self.error = exc
                self.stopped = True
                self.cond.notify_all()

    def _next(self, index: int) -> Chunk | None:
        """Chunk ``index`` once formatted; None after the last one."""
        with self.cond:
            while True:
                if self.error is not None:
                    raise self.error
                if index in self.ready:
                    return self.ready.pop(index)
                if self.total is not None and index >= self.job.chunks(self.total):
                    return None
                self.cond.wait()

    def run(self, write: Write) -> int:
        """Write every chunk in order; the number of records."""
        threads = [
            threading.Thread(target=self._work, args=(w,), name=f"export-{i}", daemon=True)
            for i, w in enumerate(self.workers)
        ]
        for thread in threads:
            thread.start()
        try:
            count = index = 0
            while (chunk := self._next(index)) is not None:
                pieces, n = chunk
                for piece in pieces:
                    write(piece)
                count += n
                index += 1
                with self.cond:
                    self.written = index
                    self.cond.notify_all()
            return count
        finally:
            with self.cond:
                self.stopped = True
                self.cond.notify_all()
            if any(thread.is_alive() for thread in threads):
                for worker in self.workers:  # (threads waiting for an answer)
                    worker.proc.kill()
            for thread in threads:
                thread.join()


def _serve(requests: IO[bytes], answers: IO[bytes]) -> None:
    """A worker: answer requests until the parent closes our stdin."""
    conn: sqlite3.Connection | None = None
    job: Job | None = None
    failure: list[BaseException] = []
    while True:
        try:
            request = pickle.load(requests)  # noqa: S301 - from our parent process
        except EOFError:
            return
        failure.clear()
        try:
            op, *args = request
            if op == "open":
                uri, job = args
                conn = sqlite3.connect(uri, uri=True, isolation_level=None)
                job.register(conn, failure)
                value: Any = None
            else:
                assert conn is not None and job is not None  # noqa: S101 - "open" first
                if op == "pin":
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    conn.execute("BEGIN")
                    conn.execute("SELECT count(*) FROM sqlite_master").fetchall()  # snapshot
                elif op == "nul_texts":
                    value = job.has_nul_texts(conn)
                elif op == "setup":
                    value = job.setup(conn)
                else:  # "chunk": the parent sends only these requests
                    value = job.records(conn, args[0])
            answer: tuple[bool, Any] = (True, value)
        except Exception as exc:
            raised: BaseException = exc
            if isinstance(exc, sqlite3.OperationalError) and failure:
                raised = failure[-1]  # what the SQL function raised
            answer = (False, _picklable(raised))
        pickle.dump(answer, answers, protocol=pickle.HIGHEST_PROTOCOL)
        answers.flush()


def _picklable(exc: BaseException) -> BaseException:
    try:
        pickle.loads(pickle.dumps(exc))  # noqa: S301 - our own object
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")
    exc.__traceback__ = None
    return exc


def main() -> None:
    """The worker process: requests on stdin, answers on the original stdout (anything
    else printed goes to stderr)."""
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    with contextlib.suppress(KeyboardInterrupt, BrokenPipeError):
        _serve(sys.stdin.buffer, answers)


if __name__ == "__main__":
    main()
