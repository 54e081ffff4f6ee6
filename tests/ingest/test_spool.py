"""The write-ahead spool: order, group commit, crash recovery, release and bounds, on real files."""

from __future__ import annotations

import asyncio
import errno
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sidecar.ingest import _spool
from sidecar.ingest._spool import Spool, SpoolFull, SpoolPosition

ROOT = Path(__file__).resolve().parents[2]
CHILD = Path(__file__).with_name("spool_crash_child.py")
HEADER = 10


def payload(number: int, size: int = 100) -> bytes:
    """A recognisable payload of exactly ``size`` bytes (``size`` >= 6)."""
    return f"{number:06d}".encode() + b"." * (size - 6)


def segment_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.spool"))


def numbered(spool: Spool) -> Callable[[int, int], SpoolPosition]:
    """Positions by segment counted from 1: a new spool's first segment number is the Unix time."""
    base = spool.first_position.segment - 1
    return lambda segment, offset: SpoolPosition(base + segment, offset)


def names(spool: Spool, *segments: int) -> list[str]:
    base = numbered(spool)(0, 0).segment
    return [f"{base + segment:012d}.spool" for segment in segments]


async def read_all(spool: Spool, after: SpoolPosition | None = None, page: int = 2**30) -> list[bytes]:
    frames: list[bytes] = []
    while True:
        batch, end = await spool.read(after, page)
        if end is None:
            assert batch == []
            return frames
        assert batch and (after is None or end > after)
        frames += batch
        after = end


async def opened(directory: Path, **options: int | bool) -> Spool:
    kwargs: dict = {"max_bytes": 2**30, "fsync": False, **options}
    spool = Spool(directory, **kwargs)
    await spool.open()
    return spool


@pytest.fixture
async def spool(tmp_path: Path) -> AsyncIterator[Spool]:
    spool = await opened(tmp_path / "spool", segment_bytes=1000)
    yield spool
    await spool.close()


# -- order, positions, paging -------------------------------------------------------------------------


async def test_append_then_read_returns_payloads_in_order_across_segments(spool: Spool, tmp_path: Path) -> None:
    at = numbered(spool)
    assert spool.end_position is None
    positions = [await spool.append(payload(i, 300)) for i in range(10)]
    # 310-byte frames, 1000-byte segments: three per segment, the fourth rolls.
    assert positions[:4] == [at(1, 310), at(1, 620), at(1, 930), at(2, 310)]
    assert positions == sorted(positions) and positions[-1] == at(4, 310)
    assert [p.name for p in segment_files(tmp_path / "spool")] == names(spool, 1, 2, 3, 4)
    assert await read_all(spool) == [payload(i, 300) for i in range(10)]
    assert spool.end_position == positions[-1]
    assert spool.first_position == at(1, 0)
    assert spool.size_bytes == 10 * 310


async def test_read_pages_with_max_bytes_and_returns_at_least_one_frame(spool: Spool) -> None:
    positions = [await spool.append(payload(i, 300)) for i in range(7)]
    frames, end = await spool.read(None, 650)
    assert frames == [payload(0, 300), payload(1, 300)] and end == positions[1]
    frames, end = await spool.read(end, 1)  # smaller than one frame: still one frame
    assert frames == [payload(2, 300)] and end == positions[2]
    assert await read_all(spool, page=1) == [payload(i, 300) for i in range(7)]
    assert await read_all(spool, page=900) == [payload(i, 300) for i in range(7)]


async def test_read_after_a_position_returns_only_later_frames(spool: Spool) -> None:
    positions = [await spool.append(payload(i, 300)) for i in range(7)]
    assert await read_all(spool, after=positions[3]) == [payload(i, 300) for i in range(4, 7)]
    assert await read_all(spool, after=positions[2]) == [payload(i, 300) for i in range(3, 7)]  # segment boundary
    assert await spool.read(positions[-1], 1000) == ([], None)


async def test_a_frame_larger_than_a_segment_goes_alone_and_one_larger_than_the_spool_is_refused(
    tmp_path: Path,
) -> None:
    spool = await opened(tmp_path, segment_bytes=1000, max_bytes=10_000)
    at = numbered(spool)
    await spool.append(payload(0, 100))
    assert await spool.append(payload(1, 5000)) == at(2, 5010)
    assert await spool.append(payload(2, 100)) == at(3, 110)
    with pytest.raises(ValueError, match="never fit"):
        await spool.append(b"x" * 10_000)
    assert await read_all(spool) == [payload(0, 100), payload(1, 5000), payload(2, 100)]
    await spool.close()


def test_positions_round_trip_through_json_and_reject_garbage() -> None:
    position = SpoolPosition(12, 3456)
    assert SpoolPosition.from_json(position.to_json()) == position
    assert SpoolPosition(2, 0) > SpoolPosition(1, 99_999)
    for bad in (None, {}, {"segment": "1", "offset": 0}, {"segment": 1, "offset": -1}, {"segment": True, "offset": 0}):
        with pytest.raises(ValueError):
            SpoolPosition.from_json(bad)


# -- group commit and the event loop ------------------------------------------------------------------


async def test_concurrent_appends_share_fsyncs(tmp_path: Path) -> None:
    spool = await opened(tmp_path, fsync=True)

    async def appender(task: int) -> list[SpoolPosition]:
        return [await spool.append(payload(task * 100 + i)) for i in range(10)]

    results = await asyncio.gather(*(appender(task) for task in range(20)))
    burst = await asyncio.gather(*(spool.append(payload(5000 + i)) for i in range(200)))
    assert spool.stats.frames_appended == 400
    assert spool.stats.fsyncs < 400 / 4, spool.stats
    assert spool.stats.flushes < 400 / 4
    assert len({p for r in results for p in r} | set(burst)) == 400
    assert sorted(await read_all(spool)) == sorted([payload(t * 100 + i) for t in range(20) for i in range(10)]) + [
        payload(5000 + i) for i in range(200)
    ]
    await spool.close()


@pytest.fixture
def slow_fsync(monkeypatch: pytest.MonkeyPatch) -> None:
    def slow(fd: int) -> None:
        time.sleep(0.1)
        os.fsync(fd)

    monkeypatch.setattr(_spool, "_datasync", slow)


@pytest.mark.usefixtures("slow_fsync")
async def test_appends_during_a_flush_wait_and_go_together_in_the_next(tmp_path: Path) -> None:
    spool = await opened(tmp_path, fsync=True)
    first = asyncio.create_task(spool.append(payload(0)))
    await asyncio.sleep(0.02)  # the first flush is now in its fsync
    rest = await asyncio.gather(*(spool.append(payload(i)) for i in range(1, 51)))
    assert (await first) < rest[0] and rest == sorted(rest)
    assert spool.stats.flushes == 2
    await spool.close()


@pytest.mark.usefixtures("slow_fsync")
async def test_append_does_not_block_the_event_loop(tmp_path: Path) -> None:
    spool = await opened(tmp_path, fsync=True)
    ticks = 0

    async def heartbeat() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.005)
            ticks += 1

    beat = asyncio.create_task(heartbeat())
    await spool.append(payload(0))
    beat.cancel()
    assert ticks >= 5
    await spool.close()


async def test_cancelled_appends_lose_nothing_else(spool: Spool) -> None:
    tasks = [asyncio.create_task(spool.append(payload(i))) for i in range(50)]
    await asyncio.sleep(0)  # every append is queued
    for task in tasks[::2]:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    stored = await read_all(spool)
    assert {payload(i) for i in range(1, 50, 2)} <= set(stored)
    assert stored == [p for p in (payload(i) for i in range(50)) if p in stored]  # in order, no duplicate
    end = spool.end_position
    assert end is not None and await spool.append(payload(99)) > end


# -- reopen and recovery ------------------------------------------------------------------------------


async def test_reopen_reads_everything_back_and_positions_continue(tmp_path: Path) -> None:
    spool = await opened(tmp_path, segment_bytes=1000)
    before = [await spool.append(payload(i, 300)) for i in range(5)]
    await spool.close()
    with pytest.raises(RuntimeError):
        await spool.append(b"late")
    spool = await opened(tmp_path, segment_bytes=1000)
    assert await read_all(spool) == [payload(i, 300) for i in range(5)]
    assert spool.end_position == before[-1]
    after = [await spool.append(payload(i, 300)) for i in range(5, 8)]
    assert after[0] > before[-1]
    assert await read_all(spool, after=before[-1]) == [payload(i, 300) for i in range(5, 8)]
    await spool.close()


async def test_a_second_spool_cannot_open_the_same_directory(spool: Spool, tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="in use"):
        await opened(tmp_path / "spool")


async def reopen_after(directory: Path, damage: Callable[[Path], None]) -> Spool:
    spool = await opened(directory)
    for i in range(3):
        await spool.append(payload(i))
    await spool.close()
    damage(segment_files(directory)[-1])
    return await opened(directory)


def truncate_by_five(path: Path) -> None:
    os.truncate(path, path.stat().st_size - 5)


def flip_last_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", [truncate_by_five, flip_last_byte], ids=["torn", "crc-mismatch"])
async def test_a_damaged_tail_frame_is_cut_off_at_open(tmp_path: Path, damage: Callable[[Path], None]) -> None:
    spool = await reopen_after(tmp_path, damage)
    at = numbered(spool)
    assert await read_all(spool) == [payload(0), payload(1)]
    assert spool.stats.truncated_bytes == 110 - (5 if damage is truncate_by_five else 0)
    assert segment_files(tmp_path)[-1].stat().st_size == 220
    assert await spool.append(payload(9)) == at(1, 330)
    assert await read_all(spool) == [payload(0), payload(1), payload(9)]
    await spool.close()
    spool = await opened(tmp_path)
    assert await read_all(spool) == [payload(0), payload(1), payload(9)]
    assert spool.stats.truncated_bytes == 0
    await spool.close()


async def test_a_corrupt_frame_in_an_older_segment_ends_that_segment_and_is_counted(tmp_path: Path) -> None:
    spool = await opened(tmp_path, segment_bytes=1000)
    for i in range(6):
        await spool.append(payload(i, 300))
    await spool.close()
    first = segment_files(tmp_path)[0]
    data = bytearray(first.read_bytes())
    data[310 + HEADER + 50] ^= 0xFF  # inside frame 1's payload
    first.write_bytes(bytes(data))
    spool = await opened(tmp_path, segment_bytes=1000)
    expected = [payload(i, 300) for i in (0, 3, 4, 5)]
    assert await read_all(spool) == expected
    assert await read_all(spool, page=1) == expected
    assert spool.stats.corrupt_frames == 1
    await spool.close()


async def test_positions_after_a_wiped_directory_still_sort_after_older_ones(tmp_path: Path) -> None:
    spool = await opened(tmp_path / "spool", segment_bytes=1000)
    stored_upto = [await spool.append(payload(i, 300)) for i in range(9)][-1]  # three segments
    await spool.close()
    for path in segment_files(tmp_path / "spool"):
        path.unlink()
    await asyncio.sleep(0.01)  # the old spool made its segments within milliseconds, a real one in minutes
    spool = await opened(tmp_path / "spool")
    assert await spool.append(payload(7)) > stored_upto
    assert await read_all(spool, after=stored_upto) == [payload(7)]
    await spool.close()


# -- release and bounds -------------------------------------------------------------------------------


async def test_release_deletes_consumed_segments_but_never_the_active_one(tmp_path: Path) -> None:
    spool = await opened(tmp_path, segment_bytes=1000)
    at = numbered(spool)
    positions = [await spool.append(payload(i, 300)) for i in range(10)]  # segments 1-3 full, 4 active
    spool.release(positions[3])  # into segment 2: only segment 1 is wholly consumed
    assert spool.size_bytes == 7 * 310
    assert spool.first_position == at(2, 0)
    assert await read_all(spool, after=positions[3]) == [payload(i, 300) for i in range(4, 10)]
    spool.release(positions[-1])
    assert spool.size_bytes == 310 and spool.first_position == at(4, 0)
    spool.release(positions[0])  # an older position changes nothing
    assert spool.size_bytes == 310
    await spool.close()  # waits for the deletions
    assert [p.name for p in segment_files(tmp_path)] == [f"{at(4, 0).segment:012d}.spool"]
    spool = await opened(tmp_path, segment_bytes=1000)
    assert await read_all(spool) == [payload(9, 300)]
    assert await read_all(spool, after=positions[-1]) == []
    await spool.close()


async def test_a_full_spool_raises_with_retry_after_until_released(tmp_path: Path) -> None:
    spool = await opened(tmp_path, segment_bytes=1000, max_bytes=2000)
    positions = [await spool.append(payload(i, 300)) for i in range(6)]  # 1860 bytes
    with pytest.raises(SpoolFull) as raised:
        await spool.append(payload(6, 300))
    assert raised.value.retry_after > 0
    await spool.append(payload(6, 100))  # 110 bytes still fit
    spool.release(positions[2])
    assert spool.size_bytes == 1970 - 930
    await spool.append(payload(7, 300))
    expected = [payload(3, 300), payload(4, 300), payload(5, 300), payload(6, 100), payload(7, 300)]
    assert await read_all(spool, after=positions[2]) == expected
    await spool.close()


async def test_a_full_spool_whose_active_segment_is_consumed_rolls_to_free_it(tmp_path: Path) -> None:
    spool = await opened(tmp_path, segment_bytes=64 * 1024, max_bytes=1000)
    at = numbered(spool)
    positions = [await spool.append(payload(i, 300)) for i in range(3)]
    with pytest.raises(SpoolFull):
        await spool.append(payload(3, 300))
    spool.release(positions[-1])  # all stored, but it is the active segment
    assert await spool.append(payload(3, 300)) == at(2, 310)
    assert spool.size_bytes == 310
    assert await read_all(spool, after=positions[-1]) == [payload(3, 300)]
    await spool.close()
    assert [p.name for p in segment_files(tmp_path)] == [f"{at(2, 0).segment:012d}.spool"]


async def test_wait_for_data_wakes_on_append_and_times_out_otherwise(spool: Spool) -> None:
    assert not await spool.wait_for_data(None, timeout=0.05)
    waiter = asyncio.create_task(spool.wait_for_data(None, timeout=5))
    await asyncio.sleep(0.02)
    assert not waiter.done()
    position = await spool.append(payload(0))
    assert await asyncio.wait_for(waiter, 1)
    assert not await spool.wait_for_data(position, timeout=0.05)
    assert await spool.wait_for_data(None, timeout=0)
    late = asyncio.create_task(spool.wait_for_data(position))
    await asyncio.sleep(0.01)
    await spool.close()
    assert not await asyncio.wait_for(late, 1)


# -- failing disks -------------------------------------------------------------------------------------


def fail_once(monkeypatch: pytest.MonkeyPatch, name: str, *, partial: bool = False, call: int = 1) -> None:
    """Make ``os.<name>`` (or the spool's fdatasync) raise ENOSPC on its ``call``-th use, after writing half."""
    target, attribute = (_spool, "_datasync") if name == "fsync" else (_spool.os, name)
    real = getattr(target, attribute)
    calls = 0

    def failing(fd: int, *args: object) -> object:
        nonlocal calls
        calls += 1
        if calls == call:
            if partial:
                data = args[0]
                real(fd, data[: len(data) // 2], *args[1:])  # type: ignore[index]
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(fd, *args)

    monkeypatch.setattr(target, attribute, failing)


@pytest.mark.parametrize(
    "failure",
    [
        {"name": "pwrite", "partial": True},
        {"name": "fsync"},
        {"name": "pwrite", "partial": True, "call": 2},  # the second write goes into a new segment
    ],
    ids=["torn-write", "fsync", "write-to-new-segment"],
)
async def test_a_failed_flush_fails_its_appends_and_the_spool_stays_usable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: dict
) -> None:
    spool = await opened(tmp_path, segment_bytes=1000, fsync=True)
    at = numbered(spool)
    await spool.append(payload(0, 300))
    await spool.append(payload(1, 300))
    files, size = segment_files(tmp_path), spool.size_bytes
    fail_once(monkeypatch, **failure)
    results = await asyncio.gather(*(spool.append(payload(i, 300)) for i in range(10, 14)), return_exceptions=True)
    assert all(isinstance(r, OSError) and r.errno == errno.ENOSPC for r in results), results
    assert segment_files(tmp_path) == files and spool.size_bytes == size
    # Shorter than what failed, so leftovers of the failed write would show after it.
    assert await spool.append(payload(2, 50)) == at(1, 680)
    assert files[-1].stat().st_size == 680
    expected = [payload(0, 300), payload(1, 300), payload(2, 50)]
    assert await read_all(spool) == expected
    await spool.close()
    spool = await opened(tmp_path, segment_bytes=1000)
    assert await read_all(spool) == expected
    assert spool.stats.truncated_bytes == 0
    await spool.close()


# -- kill -9 ------------------------------------------------------------------------------------------


def run_and_kill(directory: Path, acks: Path, seconds: float) -> None:
    with acks.open("ab") as out, (acks.parent / "child.err").open("wb") as err:
        child = subprocess.Popen(
            [sys.executable, str(CHILD), str(directory), "65536"], stdout=out, stderr=err, cwd=ROOT
        )
    start = acks.stat().st_size
    deadline = time.monotonic() + 15
    while acks.stat().st_size == start and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)  # wait for the interpreter to start appending
    time.sleep(seconds)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert child.returncode == -signal.SIGKILL, (acks.parent / "child.err").read_text()


def test_every_acknowledged_frame_survives_kill_9(tmp_path: Path) -> None:
    directory, acks = tmp_path / "spool", tmp_path / "acks.txt"
    acks.touch()
    for _ in range(3):  # each run also recovers whatever the previous kill left
        run_and_kill(directory, acks, 0.7)
    lines = acks.read_text().split("\n")
    acknowledged = set(lines[:-1])  # the text after the last newline was never a whole ack
    assert len(acknowledged) > 100  # the child really was appending when it died

    async def stored_ids() -> list[str]:
        spool = await opened(directory, segment_bytes=65536)
        frames = await read_all(spool)
        await spool.close()
        return [frame.split(b"|", 1)[0].decode() for frame in frames]

    stored = asyncio.run(stored_ids())
    assert len(stored) == len(set(stored))
    last: dict[str, int] = {}
    for content_id in stored:  # each child task appends one at a time, so its frames are in order
        task, counter = content_id.rsplit(":", 1)
        assert int(counter) > last.get(task, -1), content_id
        last[task] = int(counter)
    assert not acknowledged - set(stored), f"{len(acknowledged - set(stored))} acknowledged frames lost"


# -- against a model ----------------------------------------------------------------------------------

operations = st.lists(
    st.one_of(
        st.tuples(st.just("append"), st.lists(st.integers(0, 10 * 1024), min_size=1, max_size=6)),
        st.tuples(st.just("release"), st.floats(0, 1)),
        st.tuples(st.just("reopen"), st.none()),
    ),
    max_size=20,
)


class Model:
    """What the spool should hold: every acknowledged frame with its position, and the release point."""

    def __init__(self) -> None:
        self.frames: list[tuple[SpoolPosition, bytes]] = []
        self.released: SpoolPosition | None = None

    def after_release(self) -> list[bytes]:
        return [data for position, data in self.frames if self.released is None or position > self.released]


async def apply(spool: Spool, model: Model, sizes: list[int]) -> None:
    start = len(model.frames)
    payloads = [(start + i).to_bytes(4, "little") * (size // 4) + b"!" * (size % 4) for i, size in enumerate(sizes)]
    results = await asyncio.gather(*(spool.append(p) for p in payloads), return_exceptions=True)
    for data, result in zip(payloads, results, strict=True):
        if isinstance(result, SpoolFull):
            continue
        assert isinstance(result, SpoolPosition), result
        assert not model.frames or result > model.frames[-1][0]
        model.frames.append((result, data))


async def check(spool: Spool, model: Model) -> None:
    expected = model.after_release()
    assert await read_all(spool, after=model.released) == expected
    assert await read_all(spool, after=model.released, page=4096) == expected
    everything = await read_all(spool)
    assert everything[len(everything) - len(expected) :] == expected
    assert everything == [data for _, data in model.frames][len(model.frames) - len(everything) :]


async def scenario(directory: Path, max_bytes: int, steps: list[tuple[str, object]]) -> None:
    options = {"segment_bytes": 16 * 1024, "max_bytes": max_bytes}
    spool, model = await opened(directory, **options), Model()
    for operation, argument in steps:
        if operation == "append":
            await apply(spool, model, argument)  # type: ignore[arg-type]
        elif operation == "release" and model.frames:
            position = model.frames[int(argument * (len(model.frames) - 1))][0]  # type: ignore[operator]
            spool.release(position)
            model.released = max(position, model.released or position)
        elif operation == "reopen":
            size = spool.size_bytes
            await spool.close()
            assert sum(path.stat().st_size for path in segment_files(directory)) == size
            spool = await opened(directory, **options)
            assert spool.size_bytes == size
        await check(spool, model)
    await spool.close()


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=operations, max_bytes=st.sampled_from([48 * 1024, 2**30]))
def test_reads_always_match_a_simple_model(steps: list[tuple[str, object]], max_bytes: int) -> None:
    with tempfile.TemporaryDirectory() as directory:
        asyncio.run(scenario(Path(directory), max_bytes, steps))
