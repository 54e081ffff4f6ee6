"""The durable write-ahead spool between the ingest handlers and the storage writer.

A handler answers 2xx only after :meth:`Spool.append` returns, and by then the frame is written and
fsynced: it survives a ``kill -9`` of the sidecar and, with ``fsync=True``, a power loss. The writer
reads frames in order, stores them with the position reached, and calls :meth:`Spool.release`.

On disk: segment files of CRC-checked frames in one directory (see :mod:`._spool_format`).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import _spool_format as fmt

__all__ = ["Spool", "SpoolFull", "SpoolPosition", "SpoolStats"]

_LOCK_NAME = "LOCK"
# The writer drains continuously but frees space a whole segment at a time, so a finer estimate
# would be noise; one second keeps clients from hammering without stalling them.
_RETRY_AFTER = 1.0
# fdatasync also persists the size of an appended file, which is all a reader needs, and skips mtime.
_datasync: Callable[[int], None] = getattr(os, "fdatasync", os.fsync)


@dataclass(frozen=True, order=True, slots=True)
class SpoolPosition:
    """A point in the spool: ``offset`` bytes into segment ``segment``, just after a frame."""

    segment: int
    offset: int

    def to_json(self) -> dict[str, int]:
        """The position as a JSON-ready dict, for the storage transaction to record."""
        return {"segment": self.segment, "offset": self.offset}

    @classmethod
    def from_json(cls, data: Any) -> SpoolPosition:
        """The inverse of :meth:`to_json`; ``ValueError`` on anything else."""
        try:
            segment, offset = data["segment"], data["offset"]
        except (TypeError, KeyError) as exc:
            raise ValueError(f"not a spool position: {data!r}") from exc
        if type(segment) is not int or type(offset) is not int or segment < 0 or offset < 0:
            raise ValueError(f"not a spool position: {data!r}")
        return cls(segment, offset)


class SpoolFull(Exception):
    """The spool holds ``max_bytes``; the client should retry after ``retry_after`` seconds."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"the spool is full; retry after {retry_after:g} s")
        self.retry_after = retry_after


@dataclass(slots=True)
class SpoolStats:
    """Counters for metrics; they only grow."""

    fsyncs: int = 0  # fsync/fdatasync calls, on segment files and on the directory
    flushes: int = 0  # group commits: one write and one fsync for every append waiting
    frames_appended: int = 0
    bytes_appended: int = 0  # frame bytes, headers included
    corrupt_frames: int = 0  # bad frames found by reads; the rest of that segment is skipped
    truncated_bytes: int = 0  # torn tail cut off the last segment at open (a crash mid-write)


@dataclass(slots=True)
class _Segment:
    number: int
    size: int = 0  # durable bytes in the file
    corrupt_at: int | None = None

    @property
    def end(self) -> int:
        """Where reading stops: the durable size, or the first corrupt frame."""
        return self.size if self.corrupt_at is None else min(self.size, self.corrupt_at)


@dataclass(slots=True)
class _Pending:
    payload: bytes
    future: asyncio.Future[SpoolPosition]


@dataclass(slots=True)
class _Chunk:
    """The frames of one flush that go into one segment, from ``start`` to ``end``."""

    segment: int
    start: int
    create: bool  # the segment file does not exist yet
    end: int
    payloads: list[bytes] = field(default_factory=list)


class Spool:
    """A bounded, segmented, crash-safe append log with group commit.

    One flusher task writes every append waiting into the files and fsyncs once, in a dedicated
    thread; appends arriving meanwhile wait for the next flush. ``fsync=False`` skips the fsyncs:
    acknowledged frames then survive a crash of the process but NOT a power loss; it is unsafe and
    meant for tests and benchmarks only.
    """

    def __init__(self, directory: Path, *, max_bytes: int, segment_bytes: int = 64 * 2**20, fsync: bool = True) -> None:
        if max_bytes <= 0 or segment_bytes <= 0:
            raise ValueError("max_bytes and segment_bytes must be positive")
        self.directory = Path(directory)
        self.stats = SpoolStats()
        self._max_bytes = max_bytes
        self._segment_bytes = segment_bytes
        self._fsync = fsync
        self._segments: dict[int, _Segment] = {}  # ascending by number; the last one is active
        self._fd: int | None = None  # the active segment's file, None until its first frame
        self._lock_fd: int | None = None
        self._disk_bytes = 0
        self._reserved = 0  # bytes of frames accepted but not flushed yet
        self._released: SpoolPosition | None = None
        self._pending: list[_Pending] = []
        self._flusher: asyncio.Task[None] | None = None
        self._inflight = False
        self._force_roll = False
        self._dirty = False  # a flush failed: the files may hold bytes past the durable end
        self._stray: set[int] = set()  # segment files created by a failed flush
        self._jobs: set[asyncio.Future[None]] = set()
        self._data_event = asyncio.Event()
        self._executor: ThreadPoolExecutor | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    async def open(self) -> None:
        """Create the directory, find the segments and cut a torn tail off the last one."""
        loop = asyncio.get_running_loop()
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="spool-writer")
        try:
            sizes, fd, truncated = await loop.run_in_executor(executor, self._open_files)
        except BaseException:
            self._close_files()  # releases the lock, so a retry can open
            executor.shutdown(wait=False)
            raise
        self._loop, self._executor, self._fd = loop, executor, fd
        self.stats.truncated_bytes += truncated
        # Numbers continue from the files (release keeps the active one). An empty directory starts at the
        # Unix time in ms, so even a wiped spool's positions sort after those the database recorded
        # (unless the old one had rolled over 1000 segments a second).
        first = time.time_ns() // 1_000_000
        self._segments = {number: _Segment(number, size) for number, size in sizes} or {first: _Segment(first)}
        self._disk_bytes = sum(size for _, size in sizes)

    async def append(self, payload: bytes) -> SpoolPosition:
        """Add one frame; return the position just after it once it is written and fsynced.

        Raises :class:`SpoolFull` when it does not fit, ``ValueError`` when it never could, and the
        ``OSError`` of a failed write or fsync (the spool stays usable; that frame is not stored).
        """
        if self._loop is None or self._closed:
            raise RuntimeError("the spool is not open")
        payload = bytes(payload)  # a caller's bytearray must not change under the flusher
        length = fmt.HEADER.size + len(payload)
        if len(payload) > fmt.MAX_PAYLOAD or length > self._max_bytes:
            raise ValueError(f"a {len(payload)}-byte frame can never fit in the spool")
        if self.size_bytes + length > self._max_bytes:
            self._reclaim_active()
            if self.size_bytes + length > self._max_bytes:
                raise SpoolFull(_RETRY_AFTER)
        future: asyncio.Future[SpoolPosition] = self._loop.create_future()
        self._pending.append(_Pending(payload, future))
        self._reserved += length
        if self._flusher is None or self._flusher.done():
            self._flusher = self._loop.create_task(self._flush_loop(), name="spool-flusher")
        # Cancelling this await leaves the frame queued: it is stored, just never acknowledged.
        return await future

    async def read(self, after: SpoolPosition | None, max_bytes: int) -> tuple[list[bytes], SpoolPosition | None]:
        """Durable payloads strictly after ``after`` (None: the oldest retained), about ``max_bytes`` of them.

        Returns at least one frame if there is any, and the position after the last one (None if none).
        """
        targets = self._read_targets(after)
        if not targets:
            return [], None
        frames, position, corrupt = await asyncio.to_thread(self._read_frames, targets, max_bytes)
        for number, offset in corrupt:
            self._mark_corrupt(number, offset)
        return frames, position

    async def wait_for_data(self, after: SpoolPosition | None, timeout: float | None = None) -> bool:  # noqa: ASYNC109
        """Wait until something after ``after`` is durable; False on timeout or when the spool closes."""
        try:
            async with asyncio.timeout(timeout):
                while not self._read_targets(after):
                    if self._closed:
                        return False
                    await self._data_event.wait()
        except TimeoutError:
            return False
        return True

    def release(self, upto: SpoolPosition) -> None:
        """Everything up to ``upto`` is stored: delete the segments wholly before it, except the active one."""
        if self._released is None or upto > self._released:
            self._released = upto
        upto, active = self._released, self._active
        done = [
            segment
            for segment in self._segments.values()
            if segment is not active
            and (segment.number < upto.segment or (segment.number == upto.segment and upto.offset >= segment.end))
        ]
        if done:
            self._drop(done, None)

    @property
    def size_bytes(self) -> int:
        """Bytes the spool holds on disk (not yet released), counting appends still being flushed."""
        return self._disk_bytes + self._reserved

    @property
    def first_position(self) -> SpoolPosition:
        """The start of the oldest retained segment."""
        return SpoolPosition(next(iter(self._segments)), 0)

    @property
    def end_position(self) -> SpoolPosition | None:
        """The position after the last durable frame; None when the spool retains no frame."""
        for segment in reversed(self._segments.values()):
            if segment.end > 0:
                return SpoolPosition(segment.number, segment.end)
        return None

    async def close(self) -> None:
        """Finish the pending flush and deletions, then close the files."""
        if self._loop is None or self._executor is None or self._closed:
            return
        self._closed = True
        self._wake()
        if self._flusher is not None:
            await asyncio.wait({self._flusher})  # not cancelled with us: appends already queued complete
        if self._jobs:
            await asyncio.wait(self._jobs)
        await self._loop.run_in_executor(self._executor, self._close_files)
        self._executor.shutdown(wait=False)

    @property
    def _active(self) -> _Segment:
        return next(reversed(self._segments.values()))

    def _path(self, number: int) -> Path:
        return self.directory / f"{number:012d}{fmt.SUFFIX}"

    def _wake(self) -> None:
        # Waiters hold the old event; a fresh one makes them re-check instead of spinning on a set event.
        self._data_event.set()
        self._data_event = asyncio.Event()

    # -- flushing (event loop side) -----------------------------------------------------------------

    async def _flush_loop(self) -> None:
        assert self._loop is not None
        while self._pending:
            batch, self._pending = self._pending, []
            chunks, positions = self._plan(batch)
            length = sum(chunk.end - chunk.start for chunk in chunks)
            self._inflight = True
            try:
                write = self._loop.run_in_executor(
                    self._executor, self._write_chunks, chunks, self._fd, self._active.size
                )
                fd = await asyncio.shield(write)
            except asyncio.CancelledError:
                # Only a dying event loop cancels the flusher: what is in flight is unknown, so stop.
                self._closed = True
                for item in batch:
                    item.future.cancel()
                raise
            except Exception as exc:  # every waiting append gets the write's error
                for item in batch:
                    if not item.future.done():
                        item.future.set_exception(exc)
            else:
                self._commit(chunks, fd, length)
                for item, position in zip(batch, positions, strict=True):
                    if not item.future.done():  # its caller may have given up (cancelled)
                        item.future.set_result(position)
            finally:
                self._inflight = False
                self._reserved -= length

    def _plan(self, batch: list[_Pending]) -> tuple[list[_Chunk], list[SpoolPosition]]:
        """Lay the batch out in the active segment, rolling to new ones when it would overflow."""
        active = self._active
        chunk = _Chunk(active.number, start=active.size, create=self._fd is None, end=active.size)
        chunks, positions, roll = [chunk], [], self._force_roll
        for item in batch:
            length = fmt.HEADER.size + len(item.payload)
            if chunk.end > 0 and (roll or chunk.end + length > self._segment_bytes):
                chunk = _Chunk(chunk.segment + 1, start=0, create=True, end=0)
                chunks.append(chunk)
                roll = False
            chunk.payloads.append(item.payload)
            chunk.end += length
            positions.append(SpoolPosition(chunk.segment, chunk.end))
        return [chunk for chunk in chunks if chunk.payloads], positions

    def _commit(self, chunks: list[_Chunk], fd: int, length: int) -> None:
        for chunk in chunks:
            segment = self._segments.setdefault(chunk.segment, _Segment(chunk.segment))
            segment.size = chunk.end
        if chunks[-1].create:
            self._force_roll = False
        self._fd = fd
        self._disk_bytes += length
        self.stats.flushes += 1
        self.stats.frames_appended += sum(len(chunk.payloads) for chunk in chunks)
        self.stats.bytes_appended += length
        self._wake()

    def _reclaim_active(self) -> None:
        """Roll past the active segment once it is wholly released, so its bytes can be freed.

        Release never deletes the active segment; without this, a spool whose ``max_bytes`` is close
        to ``segment_bytes`` would stay full after the writer had consumed everything.
        """
        active = self._active
        if self._inflight or active.size == 0 or self._released is None:
            return
        if self._released < SpoolPosition(active.number, active.end):
            return
        self._segments[active.number + 1] = _Segment(active.number + 1)
        fd, self._fd = self._fd, None
        self._drop([active], fd)

    def _drop(self, segments: list[_Segment], fd: int | None) -> None:
        """Forget released segments now; the writer thread deletes their files after any write in flight."""
        assert self._loop is not None
        for segment in segments:
            del self._segments[segment.number]
            self._disk_bytes -= segment.size
        numbers = [segment.number for segment in segments]
        job = self._loop.run_in_executor(self._executor, self._delete_files, numbers, fd)
        self._jobs.add(job)
        job.add_done_callback(self._jobs.discard)

    def _mark_corrupt(self, number: int, offset: int) -> None:
        segment = self._segments.get(number)
        if segment is None or (segment.corrupt_at is not None and segment.corrupt_at <= offset):
            return
        segment.corrupt_at = offset
        self.stats.corrupt_frames += 1
        if segment is self._active:
            self._force_roll = True  # new frames after the bad one would be unreachable

    def _read_targets(self, after: SpoolPosition | None) -> list[tuple[int, int, int]]:
        """(segment, start, end) of every retained segment with durable bytes after ``after``."""
        targets = []
        for segment in self._segments.values():
            if after is not None and segment.number < after.segment:
                continue
            start = after.offset if after is not None and segment.number == after.segment else 0
            if segment.end > start:
                targets.append((segment.number, start, segment.end))
        return targets

    # -- file work (writer thread, or a worker thread for reads) ------------------------------------

    def _open_files(self) -> tuple[list[tuple[int, int]], int | None, int]:
        """(number, size) of each segment, the last one's file open for writing, bytes cut off it."""
        if not self.directory.exists():
            self.directory.mkdir(parents=True)
            self._sync_dir(self.directory.parent)
        lock = os.open(self.directory / _LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # two processes appending would corrupt it
        except BlockingIOError:
            os.close(lock)
            raise RuntimeError(f"the spool {self.directory} is in use by another process") from None
        self._lock_fd = lock
        return self._scan()

    def _scan(self) -> tuple[list[tuple[int, int]], int | None, int]:
        sizes = [(number, self._path(number).stat().st_size) for number in fmt.segment_numbers(self.directory)]
        if not sizes:
            return [], None, 0
        number, size = sizes[-1]
        valid = fmt.valid_prefix(self._path(number), size)
        fd = os.open(self._path(number), os.O_WRONLY | os.O_CLOEXEC)
        if valid < size:  # only unacknowledged bytes: an acknowledged frame was fsynced before its ack
            os.ftruncate(fd, valid)
            self._sync(fd)
            sizes[-1] = (number, valid)
        return sizes, fd, size - valid

    def _write_chunks(self, chunks: list[_Chunk], fd: int | None, durable: int) -> int:
        """Write and fsync one flush; return the active file. On error, undo the partial write and raise."""
        if self._dirty:
            self._repair(fd, durable)
        previous, opened = fd, []
        try:
            for index, chunk in enumerate(chunks):
                if chunk.create:
                    if index > 0 and fd is not None:
                        self._sync(fd)  # a segment is complete on disk before the next one exists
                    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC  # TRUNC: a failed flush's leftover
                    fd = os.open(self._path(chunk.segment), flags, 0o644)
                    opened.append(fd)
                assert fd is not None
                fmt.pwrite_all(fd, fmt.encode(chunk.payloads), chunk.start)
            assert fd is not None
            self._sync(fd)
            if opened:
                self._sync_dir()  # make the new files' directory entries durable too
        except BaseException:
            self._dirty = True
            self._stray.update(chunk.segment for chunk in chunks if chunk.create)
            for each in opened:
                with contextlib.suppress(OSError):
                    os.close(each)
            with contextlib.suppress(OSError):  # retried before the next flush
                self._repair(None if chunks[0].create else previous, durable)
            raise
        for each in ([previous] if opened else []) + opened[:-1]:
            if each is not None:
                os.close(each)
        return fd

    def _repair(self, fd: int | None, durable: int) -> None:
        """Put the files back as the last successful flush left them."""
        for number in sorted(self._stray):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._path(number))
            self._stray.discard(number)
        if fd is not None:
            os.ftruncate(fd, durable)
            self._sync(fd)
        self._sync_dir()
        self._dirty = False

    def _delete_files(self, numbers: list[int], fd: int | None) -> None:
        # A file that fails to go is found again at the next open and released after the replay.
        with contextlib.suppress(OSError):
            if fd is not None:
                os.close(fd)
            for number in numbers:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self._path(number))
            self._sync_dir()

    def _read_frames(
        self, targets: list[tuple[int, int, int]], max_bytes: int
    ) -> tuple[list[bytes], SpoolPosition | None, list[tuple[int, int]]]:
        """Frames from ``targets`` in order, the position after the last, and where corruption was found."""
        frames: list[bytes] = []
        position, corrupt, total = None, [], 0
        for number, start, end in targets:
            try:
                file = open(self._path(number), "rb")  # noqa: SIM115 - closed by the with below
            except FileNotFoundError:
                continue  # released while we were reading: already stored
            with file:
                for payload, offset in fmt.frames(file, start, end):
                    if payload is None:
                        corrupt.append((number, offset))
                        break
                    if frames and total + len(payload) > max_bytes:
                        return frames, position, corrupt
                    frames.append(payload)
                    total += len(payload)
                    position = SpoolPosition(number, offset)
        return frames, position, corrupt

    def _close_files(self) -> None:
        for fd in (self._fd, self._lock_fd):
            if fd is not None:
                os.close(fd)  # closing the lock file releases the flock
        self._fd = self._lock_fd = None

    def _sync(self, fd: int) -> None:
        if self._fsync:
            _datasync(fd)
            self.stats.fsyncs += 1

    def _sync_dir(self, directory: Path | None = None) -> None:
        if not self._fsync:
            return
        fd = os.open(directory or self.directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        self.stats.fsyncs += 1
