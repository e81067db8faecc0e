"""The one exception type dataset readers raise, so callers can tell bad data from bad code."""
from __future__ import annotations


class DatasetError(ValueError):
    """A dataset file or record is missing or malformed.

    The message always names the file and, where there is one, the record (image id,
    annotation id, video id) so the user can find and fix it.
    """
