"""What happens to a task that fails or keeps failing: Celery's retry options filled from the settings
(`retry.py`), a bounded number of redeliveries (`deliveries.py`), writing a dead letter from any process
(`dead_letters.py`), and the worker consumer that dead-letters the messages it refuses (`rejected_messages.py`).
It writes through crud's SQL on its own connection and imports results, utils and settings; never a service.
"""
