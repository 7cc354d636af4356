"""Property-based run over the API's own OpenAPI: no 5xx and no answer outside its documented schema.

Every operation is called with a valid token against the real database and
broker; examples per operation are capped so the run stays within a minute or two.
"""

import os
from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from backend.main import create_app
from tests.support.api import TOKEN, api_settings
from tests.support.worker import WorkerProcess

#: Kept small so the run stays bounded; raise it for a deeper local run: FBA_SCHEMATHESIS_EXAMPLES=500 pytest …
MAX_EXAMPLES = int(os.environ.get('FBA_SCHEMATHESIS_EXAMPLES', '30'))

schema = schemathesis.openapi.from_asgi('/openapi.json', create_app(api_settings()))
schema.config.update(headers={'Authorization': f'Bearer {TOKEN}'})
schema.config.phases.update(phases=['examples', 'coverage', 'fuzzing'])


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_answers_every_generated_request_within_its_schema(case: Any, worker: WorkerProcess) -> None:
    # A request can fit the schema and still be refused with 422: a call that does not fit the task's
    # signature, an eta more than a year away. Those rules are tested one by one in test_api_*.py.
    case.call_and_validate(excluded_checks=[positive_data_acceptance])
