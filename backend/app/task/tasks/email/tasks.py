"""Example synchronous drop-in: renders an e-mail and keeps it in an outbox table (no network)."""

from string import Template

from pydantic import BaseModel, Field

from backend.app.task.tasks.base import TaskBase, task
from backend.app.task.tasks.email.model import EmailOutbox
from backend.database.db import sync_session

WELCOME = Template('Hello $name,\n\nwelcome aboard. Your account $email is ready.\n')


class WelcomeEmail(BaseModel):
    email: str = Field(pattern=r'^[^@\s]+@[^@\s]+\.[^@\s]+$', max_length=320)
    name: str = Field(min_length=1, max_length=100)


@task(name='email.send_welcome', bind=True, payload=WelcomeEmail)
def send_welcome(self: TaskBase, email: str, name: str) -> int:
    """Renders the welcome message for `email` and stores it in the outbox; returns the row id."""
    with sync_session() as session:
        row = EmailOutbox(
            recipient=email,
            subject='Welcome',
            body=WELCOME.substitute(name=name, email=email),
            task_id=self.request.id,
        )
        session.add(row)
        session.flush()
        return row.id
