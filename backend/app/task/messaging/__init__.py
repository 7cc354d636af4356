"""Everything between a call and the broker: the one publishing path that turns a broker failure into
`BrokerUnavailable` (`dispatch.py`), queues, routes and priorities on RabbitMQ and Redis (`queues.py`), masked
call headers on every message (`call_headers.py`), the API's shared publisher whose concurrent sends share one
connection and its confirm waits (`publisher.py`), batched Redis acknowledgements (`redis_acks.py`), fetching many
Redis messages per round trip (`redis_fetch.py`) and the broker's errors (`errors.py`). It knows no table, no
service and no app of its own: callers hand it the Celery app.
"""
