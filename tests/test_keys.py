"""Signing-key rotation: ``flask keys``, the ring's caches and the JWKS.

Two applications on one database and one clock stand for two workers: each
has its own cached ring, as each gunicorn worker does.
"""

from __future__ import annotations

import json

import jwt
import pytest
from flask import Flask

from app import create_app
from app.clock import ManualClock
from app.keys import LEEWAY
from tests.admin_cli import Cli
from tests.conftest import FAST_HASH, ME, Api, AppFactory, code

TTL = 300
REFRESH = 30
RETENTION = TTL + REFRESH + LEEWAY


@pytest.fixture
def app(make_app: AppFactory) -> Flask:
    return make_app({"ACCESS_TOKEN_TTL": TTL, "KEY_RING_REFRESH": REFRESH})


@pytest.fixture
def other_worker(app: Flask, clock: ManualClock) -> Flask:
    """A second application on the same database and Redis, with its own ring."""
    settings = app.extensions["token_service"].settings
    return create_app(
        {"REDIS_URL": settings.redis_url, "REDIS_CLUSTER": settings.redis_cluster,
         "DATABASE_URL": settings.database_url, "ACCESS_TOKEN_TTL": TTL,
         "KEY_RING_REFRESH": REFRESH, **FAST_HASH},
        clock=clock, environ={},
    )


@pytest.fixture
def cli(app: Flask) -> Cli:
    return Cli(app)


@pytest.fixture
def ann(app: Flask) -> Api:
    api = Api(app)
    assert code(api.register()) is None
    return api


def kid(token: str | None) -> str:
    assert token
    found: str = jwt.get_unverified_header(token)["kid"]
    return found


def jwks_kids(app: Flask) -> list[str]:
    body = app.test_client().get("/.well-known/jwks.json").get_json()
    return sorted(key["kid"] for key in body["keys"])


def rotate(cli: Cli) -> str:
    """Rotate with the CLI; returns the new kid."""
    first = cli.ok("keys", "rotate").splitlines()[0]
    return first.split()[3]


def test_keys_list_before_any_sign_in_says_none_exist(cli: Cli) -> None:
    out = cli.ok("keys", "list")

    assert out == "no signing keys yet: the first sign-in makes one\n"


def test_keys_list_shows_the_key_that_signs(cli: Cli, ann: Api) -> None:
    lines = cli.ok("keys", "list").splitlines()

    assert lines[0].split() == ["KID", "ALG", "STATE", "CREATED", "RETIRED", "IN",
                                "JWKS", "UNTIL"]
    assert lines[1].split()[:3] == [kid(ann.access_token), "EdDSA", "active"]
    assert len(lines) == 2


def test_rotate_states_both_bounds(cli: Cli, ann: Api) -> None:
    old = kid(ann.access_token)

    out = cli.ok("keys", "rotate").splitlines()

    assert out[0].startswith("new signing key ")
    assert out[0].endswith(f"(EdDSA); retired {old}")
    assert out[1] == f"every worker signs with it within {REFRESH} s (KEY_RING_REFRESH)"
    assert out[2] == (f"retired keys stay in the JWKS for {RETENTION} s "
                      "(ACCESS_TOKEN_TTL + KEY_RING_REFRESH + 5)")


def test_rotate_help_states_the_propagation_bound(cli: Cli) -> None:
    assert "within KEY_RING_REFRESH seconds" in cli.ok("keys", "rotate", "--help")


def test_new_tokens_carry_the_new_kid(cli: Cli, ann: Api) -> None:
    old = kid(ann.access_token)

    new = rotate(cli)
    ann.refresh()

    assert new != old
    assert kid(ann.access_token) == new
    states = {line.split()[0]: line.split()[2]
              for line in cli.ok("keys", "list").splitlines()[1:]}
    assert states == {new: "active", old: "retired"}


def test_tokens_signed_before_a_rotation_verify_until_they_expire(
    cli: Cli, ann: Api, clock: ManualClock
) -> None:
    before = ann.access_token
    rotate(cli)

    clock.advance(TTL - 1)
    assert code(ann.call(ME, token=before)) is None
    clock.advance(1)
    assert code(ann.call(ME, token=before)) == "UNAUTHENTICATED"


def test_jwks_keeps_a_retired_key_until_its_tokens_expired_then_drops_it(
    cli: Cli, app: Flask, ann: Api, clock: ManualClock
) -> None:
    old = kid(ann.access_token)
    new = rotate(cli)
    assert jwks_kids(app) == sorted([old, new])

    clock.advance(RETENTION - 1)
    assert jwks_kids(app) == sorted([old, new])
    assert "retired" in cli.ok("keys", "show", old)

    clock.advance(1)
    assert jwks_kids(app) == [new]
    assert "expired" in cli.ok("keys", "show", old)


def test_another_worker_signs_with_the_new_key_within_its_refresh_interval(
    cli: Cli, ann: Api, other_worker: Flask, clock: ManualClock
) -> None:
    theirs = Api(other_worker)
    assert code(theirs.login()) is None  # loads that worker's ring
    old = kid(theirs.access_token)

    new = rotate(cli)
    clock.advance(REFRESH - 1)
    theirs.refresh()
    assert kid(theirs.access_token) == old  # cached: a worker lags at most this

    clock.advance(1)
    theirs.refresh()
    assert kid(theirs.access_token) == new


def test_another_worker_verifies_a_token_of_the_new_key_at_once(
    cli: Cli, ann: Api, other_worker: Flask
) -> None:
    theirs = Api(other_worker)
    assert code(theirs.login()) is None  # that worker caches the old ring
    new = rotate(cli)

    ann.refresh()

    assert kid(ann.access_token) == new
    assert code(theirs.call(ME, token=ann.access_token)) is None
    assert new in jwks_kids(other_worker)


def test_keys_show_prints_the_public_jwk_and_no_private_key(
    cli: Cli, ann: Api
) -> None:
    current = kid(ann.access_token)

    out = cli.ok("keys", "show", current)

    assert out.splitlines()[1].split() == ["kid", current]
    assert out.splitlines()[3].split() == ["state", "active"]
    jwk = json.loads(out[out.index("{"):])
    assert jwk["kid"] == current and jwk["kty"] == "OKP"
    assert "d" not in jwk
    assert "PRIVATE" not in out


def test_keys_show_of_an_unknown_kid_fails(cli: Cli) -> None:
    assert cli.fails("keys", "show", "no-such-kid") == "error: no key no-such-kid"


def test_rotation_deletes_keys_no_token_can_need(
    cli: Cli, ann: Api, clock: ManualClock
) -> None:
    first = kid(ann.access_token)
    second = rotate(cli)
    clock.advance(RETENTION)

    third = rotate(cli)

    kids = [line.split()[0] for line in cli.ok("keys", "list").splitlines()[1:]]
    assert kids == [third, second]
    assert cli.fails("keys", "show", first) == f"error: no key {first}"


def test_rotation_with_hs256_keeps_the_secret_out_of_every_output(
    make_app: AppFactory,
) -> None:
    app = make_app({"JWT_ALGORITHM": "HS256"})
    cli, api = Cli(app), Api(app)
    assert code(api.register()) is None

    new = rotate(cli)
    api.refresh()

    assert kid(api.access_token) == new
    shown = cli.ok("keys", "show", new)
    assert "{" not in shown  # no JWK: a shared secret is never published
    assert jwks_kids(app) == []


def test_a_kid_may_begin_with_a_dash(cli: Cli) -> None:
    assert cli.fails("keys", "show", "-x4hLA") == "error: no key -x4hLA"
