"""``flask users`` and ``flask sessions list|show`` through Flask's CliRunner."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from flask import Flask

from app.clock import ManualClock
from tests.admin_cli import PASSWORD, Cli, listed, signed_in
from tests.conftest import ME, UNKNOWN_SESSION, Api, code

SESSION_KEYS = ["id", "userId", "email", "createdAt", "lastUsedAt", "expiresAt",
                "userAgent", "ipAddress"]


@pytest.fixture
def cli(app: Flask) -> Cli:
    return Cli(app)


def column(lines: list[str], header: str) -> list[str]:
    """The words of a table's rows that start where ``header`` starts."""
    start = lines[0].index(header)
    for line in lines[1:]:
        assert line[start - 2:start] == "  " and line[start] != " ", line
    return [line[start:].split("  ")[0] for line in lines[1:]]


def parse_time(text: str) -> datetime:
    assert text.endswith("Z")
    return datetime.fromisoformat(text)


# -- users -----------------------------------------------------------------


def test_users_create_reads_the_password_from_one_line_of_stdin(
    cli: Cli, app: Flask
) -> None:
    out = cli.ok("users", "create", "Bob@X.test", input=f"{PASSWORD}\n")

    assert out.startswith("created user bob@x.test (id ")
    assert PASSWORD not in out
    assert code(Api(app).login("bob@x.test", PASSWORD)) is None


def test_users_create_keeps_spaces_at_the_ends_of_the_password(
    cli: Cli, app: Flask
) -> None:
    cli.ok("users", "create", "bob@x.test", input="  spaced out  \r\n")

    assert code(Api(app).login("bob@x.test", "spaced out")) == "INVALID_CREDENTIALS"
    assert code(Api(app).login("bob@x.test", "  spaced out  ")) is None


def test_users_create_admin_makes_an_administrator(cli: Cli, app: Flask) -> None:
    assert cli.ok("users", "create", "root@x.test", "--admin",
                  input=PASSWORD).startswith("created admin root@x.test")

    api = Api(app)
    assert api.login("root@x.test", PASSWORD)["data"]["loginUser"]["user"][
        "userType"] == "admin"


def test_users_create_refuses_a_weak_password_in_one_line(cli: Cli) -> None:
    error = cli.fails("users", "create", "bob@x.test", input="short\n")

    assert error == "error: Password must have at least 8 characters."
    assert "no users" in cli.ok("users", "list")


def test_users_create_refuses_a_taken_address(cli: Cli) -> None:
    cli.ok("users", "create", "bob@x.test", input=PASSWORD)

    error = cli.fails("users", "create", "BOB@x.test", input=PASSWORD)

    assert error == "error: This e-mail address is already registered."


def test_users_create_refuses_a_malformed_address(cli: Cli) -> None:
    assert cli.fails("users", "create", "not-an-address",
                     input=PASSWORD).startswith("error: Invalid e-mail address")


def test_users_list_is_an_aligned_table_oldest_first(
    cli: Cli, clock: ManualClock
) -> None:
    cli.ok("users", "create", "zed@x.test", input=PASSWORD)
    clock.advance(60)
    cli.ok("users", "create", "al@x.test", "--admin", input=PASSWORD)

    lines = cli.ok("users", "list").splitlines()

    assert lines[0].split() == ["ID", "EMAIL", "TYPE", "CREATED"]
    assert column(lines, "EMAIL") == ["zed@x.test", "al@x.test"]
    assert column(lines, "TYPE") == ["user", "admin"]


def test_users_list_without_users_says_so(cli: Cli) -> None:
    assert cli.ok("users", "list") == "no users\n"


def test_set_type_revokes_the_sessions_that_carry_the_old_type(
    cli: Cli, app: Flask
) -> None:
    ann = signed_in(app)
    assert ann.call(ME)["data"]["me"]["userType"] == "user"

    out = cli.ok("users", "set-type", "ann@x.test", "admin")

    assert out == "ann@x.test is admin; revoked 1 session\n"
    assert code(ann.call(ME)) == "UNAUTHENTICATED"
    assert code(ann.refresh()) == "REFRESH_TOKEN_INVALID"
    again = Api(app).login("ann@x.test", PASSWORD)
    assert again["data"]["loginUser"]["user"]["userType"] == "admin"


def test_set_type_to_the_current_type_changes_nothing(cli: Cli, app: Flask) -> None:
    ann = signed_in(app)

    assert cli.ok("users", "set-type", "ann@x.test", "user") == (
        "ann@x.test is user; revoked 0 sessions\n")
    assert ann.call(ME)["data"]["me"]["userType"] == "user"


def test_set_type_of_an_unknown_user_fails(cli: Cli) -> None:
    assert cli.fails("users", "set-type", "who@x.test", "admin") == (
        "error: no user who@x.test")


def test_set_type_to_an_unknown_type_is_a_usage_error(cli: Cli, app: Flask) -> None:
    signed_in(app)

    result = cli("users", "set-type", "ann@x.test", "root")

    assert result.exit_code == 2
    assert "'root' is not one of 'user', 'admin'" in result.stderr


# -- sessions list / show --------------------------------------------------


def test_sessions_list_json_has_the_contract_shape(
    cli: Cli, app: Flask, clock: ManualClock
) -> None:
    ann = signed_in(app, agent="Firefox/128")

    rows = listed(cli)

    assert len(rows) == 1
    row = rows[0]
    assert list(row) == SESSION_KEYS
    assert row["email"] == "ann@x.test"
    assert row["userAgent"] == "Firefox/128"
    assert row["ipAddress"] == "127.0.0.1"
    assert row["userId"] == ann.call(ME)["data"]["me"]["id"]
    created = parse_time(str(row["createdAt"]))
    assert created.tzinfo == UTC
    assert abs(created.timestamp() - clock.now()) < 0.002
    assert parse_time(str(row["lastUsedAt"])) == created
    expires = parse_time(str(row["expiresAt"]))
    assert expires.timestamp() - created.timestamp() == pytest.approx(1209600)


def test_sessions_list_json_of_nothing_is_an_empty_array(cli: Cli) -> None:
    assert json.loads(cli.ok("sessions", "list", "--json")) == []
    assert cli.ok("sessions", "list") == "no live sessions\n"


def test_sessions_list_shows_every_users_sessions_oldest_first(
    cli: Cli, app: Flask, clock: ManualClock
) -> None:
    signed_in(app, "ann@x.test")
    clock.advance(1)
    signed_in(app, "bob@x.test")
    clock.advance(1)
    signed_in(app, "ann@x.test")

    assert [r["email"] for r in listed(cli)] == ["ann@x.test", "bob@x.test",
                                                 "ann@x.test"]
    assert [r["email"] for r in listed(cli, "--user", "BOB@x.test")] == ["bob@x.test"]


def test_sessions_list_is_an_aligned_table(
    cli: Cli, app: Flask, clock: ManualClock
) -> None:
    signed_in(app, "ann@x.test", agent="A" * 100)
    clock.advance(1)
    signed_in(app, "bartholomew@x.test", agent="Safari")

    lines = cli.ok("sessions", "list").splitlines()

    assert column(lines, "EMAIL") == ["ann@x.test", "bartholomew@x.test"]
    assert column(lines, "IP") == ["127.0.0.1", "127.0.0.1"]
    assert column(lines, "USER AGENT") == ["A" * 39 + "…", "Safari"]
    assert len(column(lines, "CREATED")[0]) == len("2027-01-15T08:00:00Z")


def test_sessions_list_escapes_control_characters_of_user_agents(
    cli: Cli, app: Flask
) -> None:
    signed_in(app, agent="evil\x1b]0;owned\x07agent")

    out = cli.ok("sessions", "list")

    assert "\x1b" not in out and "\x07" not in out
    assert "evil\\x1b]0;owned\\x07agent" in out


def test_sessions_list_of_an_unknown_user_fails(cli: Cli) -> None:
    assert cli.fails("sessions", "list", "--user", "who@x.test") == (
        "error: no user who@x.test")


def test_sessions_show_prints_one_session(cli: Cli, app: Flask) -> None:
    signed_in(app, agent="Firefox/128")
    session_id = str(listed(cli)[0]["id"])

    table = cli.ok("sessions", "show", session_id)
    as_json = json.loads(cli.ok("sessions", "show", session_id, "--json"))

    assert as_json == listed(cli)[0]
    assert table.splitlines()[0].split() == ["FIELD", "VALUE"]
    assert f"id          {session_id}" in table
    assert "userAgent   Firefox/128" in table


@pytest.mark.parametrize(
    "session_id", [UNKNOWN_SESSION, "A" * 22, "not an id", "s:{x}"]
)
def test_sessions_show_of_an_unknown_session_fails(cli: Cli, session_id: str) -> None:
    assert cli.fails("sessions", "show", session_id) == (
        f"error: no live session {session_id}")
