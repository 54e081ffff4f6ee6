"""Appends to a spool until killed, printing each frame's id once append() has acknowledged it.

Usage: python tests/ingest/spool_crash_child.py DIRECTORY [SEGMENT_BYTES]
Run by test_spool.py's crash test, which SIGKILLs it and checks that every printed id survived.
A frame is ``id|padding``; ids are ``run:task:counter`` so reruns on one directory never collide.
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
from pathlib import Path

from sidecar.ingest._spool import Spool

TASKS = 20


async def appender(spool: Spool, run: str, task: int) -> None:
    rng = random.Random(task)
    counter = 0
    while True:
        content_id = f"{run}:{task}:{counter}"
        await spool.append(content_id.encode() + b"|" + b"x" * rng.randint(0, 4000))
        # One write() per line: a kill cannot tear it, and the id is out before the next append.
        sys.stdout.write(content_id + "\n")
        sys.stdout.flush()
        counter += 1


async def main(directory: Path, segment_bytes: int) -> None:
    spool = Spool(directory, max_bytes=2**30, segment_bytes=segment_bytes, fsync=True)
    await spool.open()
    run = str(os.getpid())
    await asyncio.gather(*(appender(spool, run, task) for task in range(TASKS)))


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 256 * 1024))
