import queue

from backend.app.task.utils.gather import gather


def test_gather_takes_what_waits_up_to_the_limit_and_stops_at_the_stop_mark() -> None:
    source: queue.SimpleQueue[int | None] = queue.SimpleQueue()
    for item in (1, 2, 3, None, 4):
        source.put(item)
    assert gather(source, 2) == ([1, 2], False)
    # The stop mark ends a batch; what came after it stays queued
    assert gather(source, 10) == ([3], True)
    assert gather(source, 10) == ([4], False)
    source.put(None)
    assert gather(source, 10) == ([], True)
