"""Schemathesis fuzzes the server's OpenAPI schema over real HTTP: no request may cause a 5xx.

Every operation of the schema gets a bounded number of generated requests, valid ones
(positive mode: the answer must be documented and match its schema) and invalid ones
(negative mode: the server must refuse them with a 4xx, never crash). The server runs with a
token (sent with every generated request) so the authenticated routes are the ones fuzzed,
with a scripted session and a private dataset copy so every route exists.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance, status_code_conformance
from schemathesis.generation import GenerationMode

from tests.ui.synthetic import ScriptedSession
from ui.server import BackgroundServer, ServerConfig, create_app

TOKEN = "fuzzing-token-123"
#: Examples per operation and mode: enough to hit every validator, small enough for CI.
MAX_EXAMPLES = 10
#: The schema as the server publishes it (building the app opens nothing).
OPENAPI = create_app(ServerConfig(dataset=Path("never-opened")), ScriptedSession()).openapi()
SCHEMA = schemathesis.openapi.from_dict(OPENAPI)
OPERATIONS = sorted(result.ok().label for result in SCHEMA.get_all_operations())
#: Operations that take input (only those can be sent invalid data).
WITH_INPUT = sorted(
    f"{method.upper()} {path}"
    for path, item in OPENAPI["paths"].items()
    for method, op in item.items()
    if op.get("parameters") or op.get("requestBody")
)
CASES = [(label, GenerationMode.POSITIVE) for label in OPERATIONS] + [
    (label, GenerationMode.NEGATIVE) for label in WITH_INPUT
]


@pytest.fixture(scope="module")
def live_server(dataset_template, tmp_path_factory):
    ds = shutil.copytree(dataset_template, tmp_path_factory.mktemp("fuzz") / "ds")
    profiles = tmp_path_factory.mktemp("profiles")
    (profiles / "alice.json").write_text('{"name": "alice"}')
    app = create_app(ServerConfig(port=0, token=TOKEN, dataset=ds, profiles_dir=profiles), ScriptedSession())
    with BackgroundServer(app) as srv:
        yield srv


def test_schema_lists_every_route():
    assert (
        len(OPERATIONS) >= 20
        and "POST /episode/toggle" in OPERATIONS
        and "PATCH /dataset/episodes/{episode_id}" in OPERATIONS
    )


@pytest.mark.parametrize(("label", "mode"), CASES, ids=[f"{label} {mode.value}" for label, mode in CASES])
def test_no_server_errors(label, mode, live_server):
    operation = SCHEMA.find_operation_by_label(label)
    checks = [not_a_server_error] + (
        [status_code_conformance, response_schema_conformance] if mode is GenerationMode.POSITIVE else []
    )
    seen = []

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def fuzz(case):
        response = case.call_and_validate(
            base_url=live_server.url, headers={"Authorization": f"Bearer {TOKEN}"}, checks=checks
        )
        seen.append(response.status_code)

    fuzz()
    assert seen and max(seen) < 500
