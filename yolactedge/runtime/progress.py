"""Progress bars that stay out of logs: shown only on an interactive terminal."""
from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any, TypeVar

from tqdm import tqdm

T = TypeVar("T")


def progress(
    iterable: Iterable[T],
    total: int | None = None,
    desc: str | None = None,
    enabled: bool = True,
    unit: str = "it",
    **tqdm_kwargs: Any,
) -> Iterable[T]:
    """Wrap ``iterable`` in a tqdm bar, disabled when ``enabled`` is False or stderr is not a TTY.

    ``total`` defaults to ``len(iterable)``, else to its ``expected_length`` (frame sources give an
    estimate for videos), else the bar just counts.
    """
    if total is None:
        total = _guess_total(iterable)
    show = enabled and _stderr_is_tty()
    return tqdm(
        iterable, total=total, desc=desc, disable=not show, unit=unit, dynamic_ncols=True, **tqdm_kwargs
    )


def _guess_total(iterable: Any) -> int | None:
    try:
        return len(iterable)
    except TypeError:
        expected = getattr(iterable, "expected_length", None)
        return int(expected) if expected is not None else None


def _stderr_is_tty() -> bool:
    stream = sys.stderr
    try:
        return stream is not None and stream.isatty()
    except (AttributeError, ValueError):  # replaced or closed stream
        return False
