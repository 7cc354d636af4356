"""Fetch many Redis messages per round trip when the worker's prefetch allows more than one.

kombu's Redis channel takes one message per BRPOP and then records it as
unacknowledged (the `unacked` hash and `unacked_index` zset that bring it back
after the visibility timeout) with a second round trip. Here, once BRPOP has
handed its message over, one Lua script pops up to the prefetch credit of
further messages, in the order BRPOP would take them (priority first, then the
channel's queue order, rotated as its queue cycle rotates), and records each in
the hash and zset exactly as `QoS.append` does, in the same atomic step. A
worker killed at any moment therefore leaves every popped message either in its
list or in the unacked hash, restored after the visibility timeout (kombu's own
pop-then-record pair has a moment where it is in neither).

Messages are handed to the consumer one after the other. A solo worker runs
each task while it is handed over, so the batch stops after `DELIVERY_BUDGET`
seconds: what is left goes back to the head of its list at once (as never
delivered), and timers, shutdown and control commands wait no longer than that;
the next batches are smaller until they fit again.
The worker's consumer installs this channel on its connection (`install`);
publishers and other connections keep kombu's.
"""

import logging
import time
from dataclasses import dataclass
from typing import Any

from kombu import Connection
from kombu.transport import redis, virtual
from kombu.utils.encoding import bytes_to_str
from kombu.utils.json import loads

from backend.app.task.internals import kombu_private

logger = logging.getLogger(__name__)

#: Most messages one script call pops (besides BRPOP's): it runs atomically on the Redis server.
FETCH_LIMIT = 100
#: A batch whose handing over (and, on a solo worker, running) takes longer gives the rest back.
DELIVERY_BUDGET = 0.1

# KEYS: unacked hash, unacked index, then the lists priority-major (P priorities x Q queues, in BRPOP's order).
# ARGV: count, now, Q, P, rotate (1: the queue cycle moves a used queue to the end, as round robin does).
# Returns {item, list number, tag, ...} in the order popped (list number: 1-based, after the two).
FETCH_SCRIPT = """
local count, now = tonumber(ARGV[1]), ARGV[2]
local nq, np, rotate = tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5] == '1'
local order, empty, out = {}, {}, {}
for q = 1, nq do order[q] = q end
for _ = 1, count do
  local got = false
  for p = 1, np do
    for j = 1, nq do
      local q = order[j]
      local k = 2 + (p - 1) * nq + q
      if not empty[k] then
        local item = redis.call('RPOP', KEYS[k])
        if not item then
          empty[k] = true
        else
          local ok, msg = pcall(cjson.decode, item)
          local props = ok and type(msg) == 'table' and msg['properties']
          local info = type(props) == 'table' and props['delivery_info']
          local tag = type(props) == 'table' and props['delivery_tag']
          if type(tag) ~= 'string' or type(info) ~= 'table' or info['exchange'] == nil
              or info['routing_key'] == nil then
            -- Not a message this script can record: back where it was, for kombu's BRPOP to handle.
            redis.call('RPUSH', KEYS[k], item)
            return out
          end
          redis.call('ZADD', KEYS[2], now, tag)
          redis.call('HSET', KEYS[1], tag,
            '[' .. item .. ',' .. cjson.encode(info['exchange']) .. ',' .. cjson.encode(info['routing_key']) .. ']')
          out[#out + 1] = item
          out[#out + 1] = k - 2
          out[#out + 1] = tag
          if rotate then
            table.remove(order, j)
            order[#order + 1] = q
          end
          got = true
          break
        end
      end
    end
    if got then break end
  end
  if not got then break end
end
return out
"""

# KEYS: unacked hash, unacked index, then one list per message. ARGV: tags, then items (same order).
# Gives back, last first, the messages still recorded as unacked, each to the end of its list BRPOP reads first.
GIVE_BACK_SCRIPT = """
local n = #ARGV / 2
for i = n, 1, -1 do
  local tag = ARGV[i]
  if redis.call('HDEL', KEYS[1], tag) == 1 then
    redis.call('ZREM', KEYS[2], tag)
    redis.call('RPUSH', KEYS[2 + i], ARGV[n + i])
  end
end
return n
"""


@dataclass
class Fetched:
    item: bytes
    queue: str
    key: str
    tag: str


class FetchManyQoS(redis.QoS):
    """kombu's Redis QoS, told which delivery tags the fetch script has already recorded as unacknowledged."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.recorded: set[str] = set()

    def append(self, message: Any, delivery_tag: str) -> None:
        if delivery_tag in self.recorded:
            self.recorded.discard(delivery_tag)
            virtual.QoS.append(self, message, delivery_tag)  # the in-process part of redis.QoS.append
        else:
            super().append(message, delivery_tag)


class FetchManyChannel(kombu_private.RedisBrpopChannel):
    """kombu's Redis channel that, after each BRPOP delivery, fetches up to its prefetch credit more."""

    QoS = FetchManyQoS
    #: `DELIVERY_BUDGET`, per channel.
    delivery_budget = DELIVERY_BUDGET

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._fetch_script: Any = None
        self._give_back_script: Any = None
        #: Cut to what fitted the budget when a batch had to give messages back, doubled after each full one.
        self._fetch_size = FETCH_LIMIT

    @property
    def fetches_many(self) -> bool:
        # Without ack emulation there is no unacked hash to record into; a key prefix would need every key prefixed.
        return bool(self.ack_emulation) and not self.global_keyprefix

    def after_brpop_delivery(self, started: float) -> None:
        if self.closed or not self.fetches_many or time.monotonic() - started > self.delivery_budget:
            return
        credit = self.qos.can_consume_max_estimate()
        count = self._fetch_size if credit is None else min(credit, self._fetch_size)
        if count < 1:
            return
        fetched = self._fetch(count)
        for index, message in enumerate(fetched):
            if index and time.monotonic() - started > self.delivery_budget:
                self._give_back(fetched[index:])
                self._fetch_size = max(1, index)
                return
            try:
                payload = loads(bytes_to_str(message.item))
            except ValueError:
                # JSON that Redis's cjson reads but Python's does not (`0x10`, say): from here on, back to the head
                # of its list, as if never fetched; kombu's own BRPOP meets it next and handles it as it always has.
                self._give_back(fetched[index:])
                return
            try:
                kombu_private.redis_rotate_queue(self, message.queue)
                kombu_private.deliver(self, payload, message.queue)
            except BaseException:
                self._give_back(fetched[index + 1 :])
                raise
        if len(fetched) == count:
            self._fetch_size = min(FETCH_LIMIT, self._fetch_size * 2)

    def _fetch(self, count: int) -> list[Fetched]:
        queues = kombu_private.redis_brpop_queues(self)
        if not queues:
            return []
        keys = [kombu_private.redis_queue_key(self, queue, pri) for pri in self.priority_steps for queue in queues]
        rotate = '1' if kombu_private.redis_rotates_queues(self) else '0'
        with self.conn_or_acquire() as client:
            if self._fetch_script is None:
                self._fetch_script = client.register_script(FETCH_SCRIPT)
            reply = self._fetch_script(
                keys=[self.unacked_key, self.unacked_index_key, *keys],
                args=[count, time.time(), len(queues), len(self.priority_steps), rotate],
                client=client,
            )
        fetched = []
        for position in range(0, len(reply), 3):
            item, number, tag = reply[position], int(reply[position + 1]) - 1, bytes_to_str(reply[position + 2])
            fetched.append(Fetched(item, queues[number % len(queues)], keys[number], tag))
        qos: FetchManyQoS = self.qos
        qos.recorded.update(message.tag for message in fetched)
        return fetched

    def _give_back(self, messages: list[Fetched]) -> None:
        """Put `messages` (fetched, never delivered) back at the head of their lists, in order; if that fails
        they stay recorded as unacknowledged and come back after the visibility timeout."""
        if not messages:
            return
        qos: FetchManyQoS = self.qos
        qos.recorded.difference_update(message.tag for message in messages)
        try:
            with self.conn_or_acquire() as client:
                if self._give_back_script is None:
                    self._give_back_script = client.register_script(GIVE_BACK_SCRIPT)
                self._give_back_script(
                    keys=[self.unacked_key, self.unacked_index_key, *(message.key for message in messages)],
                    args=[*(message.tag for message in messages), *(message.item for message in messages)],
                    client=client,
                )
        except Exception:
            logger.warning(
                'could not give back %d fetched messages; they return after the visibility timeout',
                len(messages),
                exc_info=True,
            )


def install(connection: Connection) -> None:
    """Make `connection`'s channels fetch many messages per round trip, if it is kombu's Redis transport."""
    transport = connection.transport
    if type(transport) is redis.Transport:
        transport.Channel = FetchManyChannel
