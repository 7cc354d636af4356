"""Take work from a thread's queue in batches: the publisher's confirm windows, the result relay's commits."""

import queue
from typing import TypeVar

T = TypeVar('T')


def gather(source: 'queue.SimpleQueue[T | None]', limit: int) -> tuple[list[T], bool]:
    """Wait for one item, then take those already waiting, up to `limit`: (the items, whether the stop mark, None,
    came). Whatever was queued after the stop mark stays queued."""
    items: list[T] = []
    while len(items) < limit:
        try:
            item = source.get() if not items else source.get_nowait()
        except queue.Empty:
            break
        if item is None:
            return items, True
        items.append(item)
    return items, False
