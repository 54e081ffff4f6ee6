"""Log records: the data model, search queries and cursors (plain data, no I/O)."""

from ._model import (
    LEVELS,
    SEVERITY,
    ErrorInfo,
    Level,
    LogPage,
    LogQuery,
    LogRecord,
    StoredLog,
    decode_cursor,
    encode_cursor,
    level_of,
)

__all__ = [
    "LEVELS",
    "SEVERITY",
    "ErrorInfo",
    "Level",
    "LogPage",
    "LogQuery",
    "LogRecord",
    "StoredLog",
    "decode_cursor",
    "encode_cursor",
    "level_of",
]
