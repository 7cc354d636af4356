"""The pydantic shapes of what the API, the console and the CLI take and return. Schedules' and tasks' schemas
check queues and mask secret arguments, so they import messaging and utils; nothing here touches a session.
"""
