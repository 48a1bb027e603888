"""Security events: what is recorded, how ``flask events`` prints it, and the
stream's bounds."""

from __future__ import annotations

import ast
import json
import logging
import pathlib
from datetime import datetime
from typing import Any

import pytest
from flask import Flask

from app import events as events_module
from app.cli import operator
from app.clock import ManualClock
from app.events import LEVELS, RETENTION, STREAM
from tests.admin_cli import Cli
from tests.conftest import Api, AppFactory, code
from tests.servers import free_port

PASSWORD = "correct horse"
EVENT_KEYS = ["id", "time", "type", "userId", "sessionId", "ipAddress", "userAgent",
              "detail"]
LOGOUT = "mutation { logout }"
LOGOUT_ALL = "mutation { logoutAll }"
REVOKE = "mutation($id: ID!) { revokeSession(id: $id) }"
SESSION_IDS = "{ sessions { id current } }"


@pytest.fixture
def cli(app: Flask) -> Cli:
    return Cli(app)


def events(cli: Cli, *args: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in cli.ok("events", "--json", *args).splitlines()]


def one(cli: Cli, type: str) -> dict[str, Any]:
    found = events(cli, "--type", type)
    assert len(found) == 1, found
    return found[0]


def current_session(api: Api) -> str:
    sessions = api.call(SESSION_IDS)["data"]["sessions"]
    found: str = next(s["id"] for s in sessions if s["current"])
    return found


# -- what is recorded ------------------------------------------------------


def test_registration_and_sign_ins_are_events_with_the_client(
    cli: Cli, app: Flask
) -> None:
    api = Api(app, user_agent="Firefox/128")
    user_id = api.register()["data"]["registerUser"]["user"]["id"]
    assert code(api.login("ANN@x.test", "wrong password")) == "INVALID_CREDENTIALS"
    api.login()

    assert [e["type"] for e in events(cli)] == ["register", "login_failed", "login"]
    register, failed, login = events(cli)
    assert register["userId"] == user_id
    assert failed["userId"] is None
    assert failed["detail"] == {"email": "ann@x.test"}
    assert login["userId"] == user_id
    assert login["sessionId"] == current_session(api)
    for event in (register, failed, login):
        assert event["ipAddress"] == "127.0.0.1"
        assert event["userAgent"] == "Firefox/128"


def test_a_password_typed_as_the_email_is_not_recorded(
    cli: Cli, app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    api = Api(app)
    with caplog.at_level(logging.INFO):
        body = api.login("hunter2-secret", "hunter2-secret")
    assert code(body) == "INVALID_CREDENTIALS"
    failed = one(cli, "login_failed")
    assert failed["detail"] == {"email": "(not an e-mail address)"}
    assert "hunter2" not in caplog.text


def test_refresh_reuse_names_the_generations_and_both_clients(
    cli: Cli, app: Flask, clock: ManualClock
) -> None:
    owner = Api(app, user_agent="ann's laptop")
    owner.register()
    stolen = owner.refresh_cookie
    owner.refresh()
    owner.refresh()
    clock.advance(60)  # past REFRESH_REUSE_GRACE
    thief = Api(app, user_agent="curl/8.5")
    thief.client.environ_base["REMOTE_ADDR"] = "203.0.113.9"
    assert stolen
    thief.set_refresh_cookie(stolen)

    assert code(thief.refresh()) == "REFRESH_TOKEN_REUSED"

    event = one(cli, "refresh_reused")
    assert event["sessionId"] == stolen.split(".")[0]
    assert event["ipAddress"] == "203.0.113.9"
    assert event["userAgent"] == "curl/8.5"
    assert event["detail"] == {
        "presented_generation": 0,
        "current_generation": 2,
        "generations_behind": 2,
        "session_ip": "127.0.0.1",
        "session_user_agent": "ann's laptop",
    }


def test_logout_and_each_revocation_are_events(cli: Cli, app: Flask) -> None:
    ann = Api(app)
    ann.register()
    first = current_session(ann)
    ann.call(LOGOUT)
    phone, laptop, tablet = Api(app), Api(app), Api(app)
    for api in (phone, laptop, tablet):
        api.login()
    revoked = current_session(laptop)

    phone.call(REVOKE, {"id": revoked})
    phone.call(LOGOUT_ALL)

    assert one(cli, "logout")["sessionId"] == first
    by_user = one(cli, "session_revoked")
    assert by_user["sessionId"] == revoked
    assert by_user["detail"]["by"] == by_user["userId"]
    assert one(cli, "logout_all")["detail"]["count"] == 2


def test_every_administrators_change_names_the_operator(
    cli: Cli, app: Flask
) -> None:
    cli.ok("users", "create", "bob@x.test", input=PASSWORD)
    bob = Api(app)
    bob.login("bob@x.test", PASSWORD)
    cli.ok("users", "set-type", "bob@x.test", "admin")
    for _ in range(3):
        bob.login("bob@x.test", PASSWORD)
    cli.ok("sessions", "revoke", current_session(bob))
    cli.ok("sessions", "revoke-user", "bob@x.test", "--dry-run")
    cli.ok("sessions", "revoke-user", "bob@x.test")
    bob.login("bob@x.test", PASSWORD)
    cli.ok("sessions", "revoke-all", "--yes")
    cli.ok("keys", "rotate")

    admin = [e for e in events(cli) if "by" in e["detail"]]

    assert [e["type"] for e in admin] == [
        "user_created", "user_type_changed", "session_revoked",
        "user_sessions_revoked", "all_sessions_revoked", "key_rotated"]
    assert {e["detail"]["by"] for e in admin} == {operator()}
    assert operator().startswith("cli:")
    created, changed, _, swept, everyone, rotated = (e["detail"] for e in admin)
    assert created["user_type"] == "user"
    assert (changed["previous"], changed["user_type"]) == ("user", "admin")
    assert changed["sessions_revoked"] == 1
    assert swept["count"] == 2 and len(swept["sessions"]) == 2
    assert everyone["count"] == 1
    assert rotated["kid"] and len(rotated["retired"]) == 1


def test_each_event_is_one_log_line_naming_no_secret(
    cli: Cli, app: Flask, caplog: pytest.LogCaptureFixture, clock: ManualClock
) -> None:
    caplog.set_level(logging.INFO, logger="app.events")
    api = Api(app)
    api.register("ann@x.test", PASSWORD)
    secrets = [PASSWORD, api.access_token, api.refresh_cookie]
    api.refresh()
    secrets += [api.access_token, api.refresh_cookie]
    clock.advance(60)
    api.set_refresh_cookie(str(secrets[2]))
    api.refresh()
    api.login("ann@x.test", "wrong password")
    api.login("ann@x.test", PASSWORD)
    secrets += [api.access_token, api.refresh_cookie]
    api.call(LOGOUT)

    recorded = [e["type"] for e in events(cli)]
    lines = [r.getMessage() for r in caplog.records if r.name == "app.events"]

    assert recorded == ["register", "refresh_reused", "login_failed", "login", "logout"]
    assert [line.split()[2] for line in lines] == recorded
    for secret in filter(None, secrets):
        assert all(secret not in line for line in caplog.text.splitlines())


def test_a_stream_that_cannot_be_written_fails_no_action(
    make_app: AppFactory, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app({"REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
                    "REDIS_CLUSTER": False})

    Cli(app).ok("users", "create", "bob@x.test", input=PASSWORD)

    assert "security event user_created not stored" in caplog.text
    assert "bob@x.test" in Cli(app).ok("users", "list")


# -- bounds ----------------------------------------------------------------


def test_the_stream_is_capped_near_events_max_and_expires(
    make_app: AppFactory,
) -> None:
    app = make_app({"EVENTS_MAX": 100})
    service = app.extensions["token_service"]

    for number in range(1000):
        service.events.record("login_failed", email=f"{number}@x.test")

    # Trimming is approximate: Redis drops whole stream nodes (100 entries).
    assert 100 <= service.redis.xlen(STREAM) <= 200
    assert 0 < service.redis.ttl(STREAM) <= RETENTION


# -- flask events ----------------------------------------------------------


def test_events_json_has_the_contract_shape(
    cli: Cli, app: Flask, clock: ManualClock
) -> None:
    Api(app).register()

    (event,) = events(cli)

    assert list(event) == EVENT_KEYS
    assert event["time"].endswith("Z")
    assert datetime.fromisoformat(event["time"]).timestamp() == pytest.approx(
        clock.now(), abs=0.001)
    assert event["sessionId"] is None and event["detail"] == {}


def test_events_prints_one_aligned_line_per_event(cli: Cli, app: Flask) -> None:
    api = Api(app, user_agent="Mozilla/5.0 (X11)")
    user_id = api.register()["data"]["registerUser"]["user"]["id"]
    api.login("ann@x.test", "wrong")

    lines = cli.ok("events").splitlines()

    assert len(lines) == 2
    assert lines[0].split()[1:] == ["register", f"user={user_id}", "ip=127.0.0.1",
                                    'ua="Mozilla/5.0', '(X11)"']
    assert lines[1].split()[1:] == ["login_failed", "ip=127.0.0.1",
                                    'ua="Mozilla/5.0', '(X11)"', "email=ann@x.test"]
    assert lines[0].index("user=") == lines[1].index("ip=")


def test_events_escapes_what_clients_wrote(cli: Cli, app: Flask) -> None:
    Api(app, user_agent="x\x1b[2J\x1b]0;owned\x07").login("\x1b[31m@x.test", "pw")

    out = cli.ok("events")

    assert "\x1b" not in out and "\x07" not in out
    assert r'ua="x\u001b[2J\u001b]0;owned\u0007"' in out


def test_events_type_keeps_the_named_types(cli: Cli, app: Flask) -> None:
    api = Api(app)
    api.register()
    api.login("ann@x.test", "wrong")
    api.login()

    assert [e["type"] for e in events(cli, "--type", "login", "--type",
                                      "register")] == ["register", "login"]


def test_events_user_keeps_their_events_and_failed_logins_naming_them(
    cli: Cli, app: Flask
) -> None:
    ann, bob = Api(app), Api(app)
    ann.register("ann@x.test")
    bob.register("bob@x.test")
    ann.login("ANN@x.test", "wrong")
    bob.login("bob@x.test", "wrong")
    ann.call(LOGOUT)

    assert [e["type"] for e in events(cli, "--user", "Ann@x.test")] == [
        "register", "login_failed", "logout"]


def test_events_of_an_unknown_user_fails(cli: Cli) -> None:
    assert cli.fails("events", "--user", "who@x.test") == "error: no user who@x.test"


def test_events_of_an_unknown_type_is_a_usage_error(cli: Cli) -> None:
    result = cli("events", "--type", "coffee")

    assert result.exit_code == 2
    assert "'coffee' is not one of" in result.stderr


def test_events_reads_every_page_of_the_stream(cli: Cli, app: Flask) -> None:
    log = app.extensions["token_service"].events
    for number in range(2345):
        log.record("login_failed", email=f"{number}@x.test")

    printed = events(cli)

    assert len(printed) == 2345
    assert printed[-1]["detail"] == {"email": "2344@x.test"}
    assert len({e["id"] for e in printed}) == 2345


def test_every_event_type_is_recorded_somewhere() -> None:
    """A type no code records would be offered by ``--type`` and never match."""
    recorded = set()
    for path in pathlib.Path(events_module.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "record" and node.args
                    and isinstance(node.args[0], ast.Constant)):
                recorded.add(node.args[0].value)

    assert recorded == set(LEVELS)


def test_events_help_names_every_event_type(cli: Cli) -> None:
    shown = " ".join(cli.ok("events", "--help").split())

    assert all(f" {kind}," in shown or f" {kind}." in shown for kind in LEVELS)
