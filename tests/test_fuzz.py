"""A bounded property-based fuzz run of ``/graphql`` with schemathesis.

schemathesis generates documents for every root field of the schema, valid
ones and ones that break its types, and sends them over real HTTP from an
allowed origin with a live access token and refresh cookie, so that the
resolvers run and not only the refusals. Whatever comes back must be a JSON
answer in the contract's shape, below 500, with a known error code and
nothing internal in it.
"""

from __future__ import annotations

import json
from typing import Any

import schemathesis
from flask import Flask
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.generation import GenerationMode

from app.graphql.schema import schema
from tests.conftest import ORIGIN
from tests.graphql_http import Http, assert_no_internals, cookie_pair
from tests.servers import live_server

#: A few hundred examples: about five seconds.
EXAMPLES = 400

#: Every code a response may carry (CONTRACT.md, "Errors", and the
#: refusals before execution). INTERNAL_SERVER_ERROR is not among them: the
#: fuzzer must not find a bug.
CODES = {
    "BAD_USER_INPUT", "EMAIL_TAKEN", "INVALID_CREDENTIALS", "UNAUTHENTICATED",
    "FORBIDDEN", "REFRESH_TOKEN_MISSING", "REFRESH_TOKEN_INVALID",
    "REFRESH_TOKEN_REUSED", "RATE_LIMITED", "BAD_REQUEST",
    "GRAPHQL_PARSE_FAILED", "GRAPHQL_VALIDATION_FAILED", "QUERY_TOO_DEEP",
    "TOO_MANY_ALIASES", "TOO_MANY_FIELDS", "DOCUMENT_TOO_LARGE",
}


def test_fuzzed_documents_never_fail_the_server(app: Flask) -> None:
    api = schemathesis.graphql.from_file(str(schema))
    cases = (api.as_strategy(GenerationMode.POSITIVE)
             | api.as_strategy(GenerationMode.NEGATIVE))
    seen: list[int] = []

    with live_server(app) as server:
        registered = Http(server.url).register()
        token = registered.json()["data"]["registerUser"]["accessToken"]
        headers = {"Origin": ORIGIN, "Authorization": f"Bearer {token}",
                   "Cookie": cookie_pair(registered) or ""}

        @settings(max_examples=EXAMPLES, deadline=None, database=None,
                  derandomize=True, phases=[Phase.generate],
                  suppress_health_check=list(HealthCheck))
        @given(case=cases)
        def send(case: Any) -> None:
            response = case.call(base_url=server.url + "/graphql", headers=headers)
            seen.append(response.status_code)
            _check(response.status_code, response.headers, response.content,
                   sent=str(case.body))

        send()

    assert len(seen) >= EXAMPLES * 0.9


def _check(status: int, headers: dict[str, list[str]], content: bytes,
           sent: str) -> None:
    """One answer: its status, type, shape and codes; ``sent`` for messages."""
    text = content.decode()
    assert status < 500, (sent, text)
    assert headers["content-type"] == ["application/json"], sent
    assert_no_internals(text)

    body = json.loads(text)
    assert body and set(body) <= {"data", "errors"}, (sent, body)
    for error in body.get("errors", ()):
        assert set(error) <= {"message", "extensions", "locations", "path"}
        assert error["extensions"]["code"] in CODES, (sent, error)
    if status != 200:
        assert "data" not in body and body["errors"], (sent, body)
