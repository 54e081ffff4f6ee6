"""Deleting stored records once their retention has passed."""

from ._job import RetentionJob

__all__ = ["RetentionJob"]
