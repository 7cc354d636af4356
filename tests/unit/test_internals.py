"""One test per Celery / kombu / py-amqp internal in backend/app/task/internals: an upgrade that removes or changes
one fails here, with the internal's name in the message."""

import inspect
import os
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import amqp
import amqp.method_framing
import pytest
from celery import Celery, states
from celery.backends.base import BaseBackend
from celery.result import GroupResult
from kombu import Connection, Exchange, Queue
from kombu.message import ACK_STATES, Message
from kombu.transport import virtual
from kombu.utils.json import loads
from kombu.utils.scheduling import priority_cycle

from backend.app.task.internals import celery_private, kombu_private
from backend.app.task.messaging import redis_acks, redis_fetch


@pytest.fixture
def backend() -> Iterator[BaseBackend]:
    app = Celery('internals', set_as_current=False)
    app.conf.result_cache_max = 10
    yield BaseBackend(app)
    app.close()


def test_backend_ensure_retryable_runs_the_call_under_celerys_retry_policy(backend: BaseBackend) -> None:
    assert hasattr(BaseBackend, '_ensure_retryable'), 'Celery removed BaseBackend._ensure_retryable'
    calls: list[int] = []
    backend.always_retry, backend.max_retries, backend.base_sleep_between_retries_ms = True, 2, 1
    backend.exception_safe_to_retry = lambda exc: isinstance(exc, ConnectionError)  # type: ignore[method-assign]

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 2:
            raise ConnectionError('once')
        return 'done'

    assert celery_private.ensure_retryable(backend, flaky) == 'done', 'BaseBackend._ensure_retryable changed'
    assert len(calls) == 2, 'BaseBackend._ensure_retryable no longer retries a retryable exception'


def test_backend_result_cache_is_what_get_task_meta_reads(backend: BaseBackend) -> None:
    task_id = str(uuid.uuid4())
    meta = {'task_id': task_id, 'status': states.SUCCESS, 'result': 42}
    celery_private.result_cache(backend)[task_id] = meta
    assert backend.get_task_meta(task_id) is meta, 'BaseBackend._cache is no longer the cache get_task_meta reads'


class RecordingBackend(BaseBackend):
    """Implements the backend hooks the way PostgresBackend does, recording which one Celery called."""

    called: list[str]

    def _store_result(self, task_id: str, result: Any, state: str, *args: Any, **kwargs: Any) -> Any:
        self.called.append('_store_result')
        return result

    def _get_task_meta_for(self, task_id: str) -> dict[str, Any]:
        self.called.append('_get_task_meta_for')
        return {'status': states.PENDING, 'result': None}

    def _forget(self, task_id: str) -> None:
        self.called.append('_forget')

    def _save_group(self, group_id: str, result: Any) -> Any:
        self.called.append('_save_group')
        return result

    def _restore_group(self, group_id: str) -> None:
        self.called.append('_restore_group')

    def _delete_group(self, group_id: str) -> None:
        self.called.append('_delete_group')


CALLS: dict[str, Callable[[BaseBackend], Any]] = {
    'store_result': lambda b: b.store_result('t', 1, states.SUCCESS),
    'get_task_meta': lambda b: b.get_task_meta('t', cache=False),
    'forget': lambda b: b.forget('t'),
    'save_group': lambda b: b.save_group('g', GroupResult('g', [])),
    'restore_group': lambda b: b.restore_group('g', cache=False),
    'delete_group': lambda b: b.delete_group('g'),
}


@pytest.mark.parametrize(('public', 'hook'), sorted(celery_private.BACKEND_HOOKS.items()))
def test_backend_public_methods_still_call_the_hooks_a_custom_backend_implements(public: str, hook: str) -> None:
    app = Celery('hooks', set_as_current=False)
    backend = RecordingBackend(app)
    backend.called = []
    CALLS[public](backend)
    app.close()
    assert hook in backend.called, f'BaseBackend.{public} no longer calls {hook}, which PostgresBackend implements'


@pytest.fixture
def redis_channel() -> Iterator[object]:
    db = os.environ.get('CELERY_BROKER_REDIS_DATABASE', '1')
    with Connection(f'redis://{os.environ.get("REDIS_HOST", "127.0.0.1")}:6379/{db}') as conn:
        yield conn.default_channel


def test_redis_unacked_layout_is_what_the_fetch_script_writes_and_ack_many_removes(redis_channel: object) -> None:
    # kombu.transport.redis.QoS.append / ack / restore_by_tag: the unacked hash holds [payload, exchange, routing key]
    # under the delivery tag, the index scores the tag with the time it was taken; ack removes both.
    channel: Any = redis_channel
    qos, client = channel.qos, channel.client
    name = f'internals-{uuid.uuid4().hex[:8]}'
    queue = Queue(name, Exchange(name, type='direct'), routing_key=name)
    queue(channel).declare()
    channel.basic_publish(channel.prepare_message('x'), name, name)
    item = client.rpop(name)
    message = channel.Message(loads(item), channel=channel)
    tag = message.delivery_tag
    before = time.time()
    qos.append(message, tag)
    kombu_value, score = loads(client.hget(qos.unacked_key, tag)), client.zscore(qos.unacked_index_key, tag)
    assert kombu_value == [loads(item), name, name], 'kombu Redis QoS.append changed the unacked hash layout'
    assert before <= score <= time.time(), 'kombu Redis QoS.append no longer scores the index with the time'
    qos.ack(tag)
    assert (client.zscore(qos.unacked_index_key, tag), client.hget(qos.unacked_key, tag)) == (None, None)
    # The fetch script records the same entries, and ack_many removes them as QoS.ack does
    client.rpush(name, item)
    script = client.register_script(redis_fetch.FETCH_SCRIPT)
    reply = script(keys=[qos.unacked_key, qos.unacked_index_key, name], args=[5, time.time(), 1, 1, '0'])
    assert reply == [item, 1, tag.encode()]
    assert loads(client.hget(qos.unacked_key, tag)) == kombu_value
    assert client.zscore(qos.unacked_index_key, tag) is not None
    virtual.QoS.append(qos, message, tag)
    redis_acks.ack_many(channel, [message])
    assert (client.zscore(qos.unacked_index_key, tag), client.hget(qos.unacked_key, tag)) == (None, None)
    assert message.acknowledged
    queue(channel).delete()


def test_mark_acknowledged_makes_a_message_read_acknowledged() -> None:
    message = Message(body=b'{}', delivery_tag='1')
    kombu_private.mark_acknowledged(message)
    assert message.acknowledged, 'kombu Message._state no longer decides Message.acknowledged'
    assert kombu_private.ACKNOWLEDGED in ACK_STATES, 'kombu renamed the ACK state of Message._state'


def test_amqp_properties_are_what_the_frame_writer_sends() -> None:
    message = amqp.Message(b'', content_type='application/json', application_headers={'id': 'x'})
    encoded = kombu_private.amqp_properties(message)
    assert isinstance(encoded, bytes) and b'application/json' in encoded, 'amqp.Message._serialize_properties changed'
    # PreparedAmqpMessage relies on the frame writer asking the message for its encoded properties.
    writer = inspect.getsource(amqp.method_framing)
    assert 'content._serialize_properties()' in writer, 'py-amqp frame writer no longer calls _serialize_properties'
    assert kombu_private.PreparedAmqpMessage(b'', encoded)._serialize_properties() == encoded


def redis_url() -> str:
    db = os.environ.get('CELERY_BROKER_REDIS_DATABASE', '1')
    return f'redis://{os.environ.get("REDIS_HOST", "127.0.0.1")}:6379/{db}'


class HookedChannel(kombu_private.RedisBrpopChannel):
    events: list[str]

    def after_brpop_delivery(self, started: float) -> None:
        self.events.append(f'hook {started <= time.monotonic()}')


def test_redis_brpop_read_calls_the_hook_after_delivering_its_message() -> None:
    name = f'internals-{uuid.uuid4().hex[:8]}'
    with Connection(redis_url()) as conn:
        conn.transport.Channel = HookedChannel
        channel = conn.default_channel
        assert isinstance(channel, HookedChannel)
        channel.events = []
        queue = Queue(name, Exchange(name, type='direct'), routing_key=name)
        queue(channel).declare()
        conn.Producer().publish({'n': 1}, exchange=queue.exchange, routing_key=name)
        callback = lambda body, message: (channel.events.append('delivered'), message.ack())  # noqa: E731
        with conn.Consumer(queue, callbacks=[callback]):
            conn.drain_events(timeout=5)
        queue(channel).delete()
    assert channel.events == ['delivered', 'hook True'], 'kombu Redis Channel._brpop_read no longer delivers there'


def test_redis_queue_cycle_is_the_order_brpop_lists_and_rotates(redis_channel: object) -> None:
    channel: Any = redis_channel
    for queue in ('a', 'b', 'c'):
        channel._active_queues.append(queue)
    channel._update_queue_cycle()
    assert kombu_private.redis_brpop_queues(channel) == ['a', 'b', 'c'], 'Channel._queue_cycle.consume changed'
    assert kombu_private.redis_rotates_queues(channel), 'the default round_robin cycle no longer rotates'
    kombu_private.redis_rotate_queue(channel, 'a')
    assert kombu_private.redis_brpop_queues(channel) == ['b', 'c', 'a'], 'Channel._queue_cycle.rotate changed'
    channel._queue_cycle = priority_cycle(['a', 'b'])
    assert not kombu_private.redis_rotates_queues(channel)


def test_redis_queue_key_is_the_list_brpop_reads(redis_channel: object) -> None:
    channel: Any = redis_channel
    assert kombu_private.redis_queue_key(channel, 'q', 0) == 'q', 'Channel._q_for_pri changed'
    assert kombu_private.redis_queue_key(channel, 'q', 9) == f'q{channel.sep}9', 'Channel._q_for_pri changed'


def test_deliver_hands_a_payload_to_the_queues_consumer(redis_channel: object) -> None:
    channel: Any = redis_channel
    got: list[Any] = []
    channel.connection._callbacks['q'] = got.append
    kombu_private.deliver(channel, {'n': 1}, 'q')
    assert got == [{'n': 1}], 'virtual.Transport._deliver no longer calls the queue callback'


def test_redis_bindings_read_once_reads_each_exchanges_table_once(redis_channel: object) -> None:
    channel: Any = redis_channel
    reads: list[str] = []
    real = channel.get_table
    channel.get_table = lambda exchange: reads.append(exchange) or real(exchange)
    name = f'internals-{uuid.uuid4().hex[:8]}'
    queue = Queue(name, Exchange(name, type='direct'), routing_key=name)
    queue(channel).declare()
    with kombu_private.redis_bindings_read_once(channel):
        for _ in range(3):
            channel.basic_publish(channel.prepare_message('x'), name, name)
    assert reads == [name], 'virtual.Channel._lookup no longer reads bindings with get_table'
    assert channel.client.llen(name) == 3
    del channel.get_table
    queue(channel).delete()
