"""Everything between a call and the broker: the one publishing path that turns a broker failure into
`BrokerUnavailable` (`dispatch.py`), queues, routes and priorities on RabbitMQ and Redis (`queues.py`), masked
call headers on every message (`call_headers.py`), batched Redis acknowledgements (`redis_acks.py`) and the broker's
errors (`errors.py`). It knows no table and no service; `dispatch.default_app` is its one way up, a lazy import of
the process's app for the callers that were handed none.
"""
