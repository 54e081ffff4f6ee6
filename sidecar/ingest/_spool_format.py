"""The spool's on-disk format: segment files of CRC-checked frames.

Segment files are named ``{segment:012d}.spool``; each is a run of frames
``magic (2 bytes) | payload length (u32 LE) | crc32 of payload (u32 LE) | payload``.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

MAGIC = b"\xa5\x5a"  # never all zeros, so zero-filled blocks after a crash read as a torn tail
HEADER = struct.Struct("<2sII")
MAX_PAYLOAD = 2**32 - 1
SUFFIX = ".spool"


def segment_numbers(directory: Path) -> list[int]:
    """The numbers of the segment files in ``directory``, ascending."""
    numbers = []
    for entry in os.scandir(directory):
        stem, _, suffix = entry.name.partition(".")
        if f".{suffix}" == SUFFIX and stem.isdigit() and entry.is_file():
            numbers.append(int(stem))
    return sorted(numbers)


def valid_prefix(path: Path, size: int) -> int:
    """How many leading bytes of the segment at ``path`` are whole, valid frames."""
    valid = 0
    with open(path, "rb") as file:
        for payload, offset in frames(file, 0, size):
            if payload is None:
                break
            valid = offset
    return valid


def encode(payloads: list[bytes]) -> bytes:
    parts = []
    for payload in payloads:
        parts += (HEADER.pack(MAGIC, len(payload), zlib.crc32(payload)), payload)
    return b"".join(parts)


def frames(file: BinaryIO, start: int, end: int) -> Iterator[tuple[bytes | None, int]]:
    """(payload, offset after it) for each frame in [start, end); (None, its offset) for a bad one, then stop."""
    file.seek(start)
    offset = start
    while offset < end:
        header = file.read(HEADER.size)
        payload = None
        if len(header) == HEADER.size:
            magic, length, crc = HEADER.unpack(header)
            if magic == MAGIC and offset + HEADER.size + length <= end:
                payload = file.read(length)
                if len(payload) < length or zlib.crc32(payload) != crc:
                    payload = None
        if payload is None:
            yield None, offset
            return
        offset += HEADER.size + length
        yield payload, offset


def pwrite_all(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        view, offset = view[written:], offset + written
