"""Fuzz the admin API from its own OpenAPI document (schemathesis): no input may cause a 5xx.

Driven through schemathesis' Python API rather than its pytest plugin, whose lazy fixtures do not work
with pytest 9; the strategies, the requests and the check are schemathesis' own.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from newsroom_feed.models import ReleaseInput, utcnow
from newsroom_feed.settings import Settings
from newsroom_feed.store.database import Store
from newsroom_feed.web import create_app

from ..web_helpers import serve

AUTH = {"Authorization": "Bearer test-admin-token-not-for-production"}
#: Bounded: 50 valid-looking and 50 invalid requests per operation keep the run to seconds.
EXAMPLES = 50


@pytest.mark.slow
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_generated_request_makes_the_admin_api_fail_with_5xx(
    settings: Settings, store: Store, mode: GenerationMode
) -> None:
    store.add_release(ReleaseInput.parse({"title": "Złote Lajki 2026", "categories": ["kultura"]}), utcnow())
    with serve(create_app(settings)) as running:
        schema = schemathesis.openapi.from_url(f"{running.url}/api/openapi.json", headers=AUTH)
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) == 9  # the corrections endpoint among them
        for operation in operations:

            @given(case=operation.as_strategy(generation_mode=mode))
            @hypothesis_settings(
                max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None
            )
            def never_5xx(case: Any) -> None:
                case.call_and_validate(
                    base_url=f"{running.url}/api", headers=AUTH, checks=[not_a_server_error]
                )

            never_5xx()
