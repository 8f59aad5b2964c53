"""Delivery of a finished export file to a schedule's destination: a directory or an SFTP server."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import uuid
from pathlib import Path, PurePosixPath

from exporter.schedules import Destination, DirectoryDestination, SftpDestination

log = logging.getLogger(__name__)

DIRECTORY_ATTEMPTS = 3
DIRECTORY_BACKOFF_S = 1.0
MAX_BACKOFF_S = 60.0


class DeliveryFailed(RuntimeError):
    """Every attempt to deliver failed; the message is the last reason."""


def part_name(name: str) -> str:
    """The temporary name a file is written under before the rename: hidden, unique to
    this attempt (two writers never share one), ending in ``.part``."""
    return f".{name}.{uuid.uuid4().hex[:12]}.part"


def _is_stale_part(entry: str, name: str) -> bool:
    return entry.startswith(f".{name}.") and entry.endswith(".part")


async def deliver(destination: Destination, source: Path, name: str) -> str:
    """Deliver ``source`` as ``name``, retrying with exponential backoff; returns where
    it landed. Raises DeliveryFailed when every attempt failed."""
    if isinstance(destination, SftpDestination):
        attempts, backoff = destination.attempts, destination.backoff_s
    else:
        attempts, backoff = DIRECTORY_ATTEMPTS, DIRECTORY_BACKOFF_S
    reason = ""
    for attempt in range(1, attempts + 1):
        try:
            if isinstance(destination, SftpDestination):
                return await asyncio.wait_for(
                    _deliver_sftp(destination, source, name), destination.timeout_s
                )
            return await asyncio.to_thread(_deliver_directory, destination, source, name)
        except Exception as exc:  # any failure of one attempt is retried
            reason = f"{type(exc).__name__}: {exc}".rstrip(": ") or type(exc).__name__
            if isinstance(exc, TimeoutError):
                reason = f"no answer within {getattr(destination, 'timeout_s', 0):.0f} s"
            log.warning(
                "delivery of %s to %s failed (attempt %d of %d): %s",
                name, destination.describe(), attempt, attempts, reason,
            )  # fmt: skip
            if attempt < attempts:
                await asyncio.sleep(min(MAX_BACKOFF_S, backoff * 2 ** (attempt - 1)))
    raise DeliveryFailed(f"{destination.describe()}: {reason} (after {attempts} attempts)")


def _deliver_directory(destination: DirectoryDestination, source: Path, name: str) -> str:
    """Copy to a hidden ``.part`` file in the same directory, fsync, rename over the
    final name (atomic on one file system), fsync the directory."""
    directory = Path(destination.path)
    directory.mkdir(parents=True, exist_ok=True)
    for entry in os.listdir(directory):
        if _is_stale_part(entry, name):  # left by a writer that died mid-copy
            (directory / entry).unlink(missing_ok=True)
    part = directory / part_name(name)
    try:
        with source.open("rb") as src, part.open("wb") as out:
            shutil.copyfileobj(src, out, 1 << 20)
            out.flush()
            os.fsync(out.fileno())
        os.replace(part, directory / name)
    finally:
        part.unlink(missing_ok=True)
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return str(directory / name)


async def _deliver_sftp(destination: SftpDestination, source: Path, name: str) -> str:
    """Upload to a hidden ``.part`` file, then rename it over the final name with the
    OpenSSH ``posix-rename`` extension (atomic, replaces an earlier copy)."""
    import asyncssh

    directory = PurePosixPath(destination.path)
    final, part = str(directory / name), str(directory / part_name(name))
    async with (
        asyncssh.connect(
            destination.host,
            destination.port,
            username=destination.user,
            client_keys=[destination.key_file],
            known_hosts=destination.known_hosts,
            agent_path=None,
            config=None,
            connect_timeout=destination.timeout_s,
        ) as conn,
        conn.start_sftp_client() as sftp,
    ):
        await sftp.makedirs(str(directory), exist_ok=True)
        for entry in await sftp.listdir(str(directory)):
            if _is_stale_part(entry, name):  # left by a writer that died mid-upload
                await sftp.remove(str(directory / entry))
        try:
            await sftp.put(str(source), part)
            await sftp.posix_rename(part, final)
        except BaseException:
            with contextlib.suppress(asyncssh.Error, OSError):
                await sftp.remove(part)
            raise
    return f"{destination.describe().rstrip('/')}/{name}"
