"""``flask users`` and ``flask sessions`` through Flask's CliRunner."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from flask import Flask

from app.clock import ManualClock
from tests.admin_cli import Cli
from tests.conftest import ME, Api, code

PASSWORD = "correct horse"
SESSION_KEYS = ["id", "userId", "email", "createdAt", "lastUsedAt", "expiresAt",
                "userAgent", "ipAddress"]


@pytest.fixture
def cli(app: Flask) -> Cli:
    return Cli(app)


def signed_in(app: Flask, email: str = "ann@x.test", agent: str = "pytest") -> Api:
    """A client signed in as ``email``, registering it on first use."""
    api = Api(app, user_agent=agent)
    body = api.login(email, PASSWORD)
    if code(body) == "INVALID_CREDENTIALS":
        body = api.register(email, PASSWORD)
    assert code(body) is None, body
    return api


def listed(cli: Cli, *args: str) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = json.loads(
        cli.ok("sessions", "list", "--json", *args))
    return rows


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


@pytest.mark.parametrize("session_id", ["A" * 22, "not an id", "s:{x}"])
def test_sessions_show_of_an_unknown_session_fails(cli: Cli, session_id: str) -> None:
    assert cli.fails("sessions", "show", session_id) == (
        f"error: no live session {session_id}")


# -- revoking --------------------------------------------------------------


def test_sessions_revoke_refuses_its_tokens_at_once(cli: Cli, app: Flask) -> None:
    ann = signed_in(app, agent="ann's laptop")
    other = signed_in(app, agent="ann's phone")
    session_id = next(str(r["id"]) for r in listed(cli)
                      if r["userAgent"] == "ann's laptop")

    assert cli.ok("sessions", "revoke", session_id) == (
        f"revoked session {session_id} of ann@x.test\n")

    assert code(ann.call(ME)) == "UNAUTHENTICATED"
    assert code(ann.refresh()) == "REFRESH_TOKEN_INVALID"
    assert code(other.call(ME)) is None
    assert [r["id"] for r in listed(cli)] != [session_id]


def test_sessions_revoke_of_an_unknown_session_fails(cli: Cli, app: Flask) -> None:
    signed_in(app)
    session_id = str(listed(cli)[0]["id"])
    cli.ok("sessions", "revoke", session_id)

    assert cli.fails("sessions", "revoke", session_id) == (
        f"error: no live session {session_id}")


def test_revoke_user_revokes_every_session_and_prints_how_many(
    cli: Cli, app: Flask
) -> None:
    ann1, ann2 = signed_in(app), signed_in(app)
    bob = signed_in(app, "bob@x.test")

    assert cli.ok("sessions", "revoke-user", "ann@x.test") == (
        "revoked 2 sessions of ann@x.test\n")

    assert code(ann1.call(ME)) == code(ann2.call(ME)) == "UNAUTHENTICATED"
    assert code(bob.call(ME)) is None


def test_revoke_user_all_but_keeps_the_named_session(cli: Cli, app: Flask) -> None:
    kept, gone = signed_in(app, agent="kept"), signed_in(app, agent="gone")
    keep = next(r["id"] for r in listed(cli) if r["userAgent"] == "kept")

    assert cli.ok("sessions", "revoke-user", "ann@x.test", "--all-but", str(keep)) == (
        "revoked 1 session of ann@x.test\n")

    assert code(kept.call(ME)) is None
    assert code(gone.call(ME)) == "UNAUTHENTICATED"


def test_revoke_user_all_but_a_session_not_theirs_revokes_nothing(
    cli: Cli, app: Flask
) -> None:
    ann = signed_in(app)
    signed_in(app, "bob@x.test")
    bobs = str(listed(cli, "--user", "bob@x.test")[0]["id"])

    error = cli.fails("sessions", "revoke-user", "ann@x.test", "--all-but", bobs)

    assert error == f"error: no live session {bobs} of ann@x.test"
    assert code(ann.call(ME)) is None


def test_revoke_user_issued_before_spares_later_sessions(
    cli: Cli, app: Flask, clock: ManualClock
) -> None:
    old = signed_in(app)
    clock.advance(3600)
    leak = datetime.fromtimestamp(clock.now(), UTC)
    clock.advance(1)
    new = signed_in(app)

    out = cli.ok("sessions", "revoke-user", "ann@x.test", "--issued-before",
                 leak.isoformat().replace("+00:00", "Z"))

    assert out == "revoked 1 session of ann@x.test\n"
    assert code(old.call(ME)) == "UNAUTHENTICATED"
    assert code(new.call(ME)) is None


def test_revoke_user_issued_before_without_an_offset_means_utc(
    cli: Cli, app: Flask, clock: ManualClock
) -> None:
    ann = signed_in(app)
    after = datetime.fromtimestamp(clock.now() + 1, UTC).replace(tzinfo=None)

    cli.ok("sessions", "revoke-user", "ann@x.test", "--issued-before",
           after.isoformat())

    assert code(ann.call(ME)) == "UNAUTHENTICATED"


def test_revoke_user_with_a_malformed_time_is_a_usage_error(
    cli: Cli, app: Flask
) -> None:
    ann = signed_in(app)

    result = cli("sessions", "revoke-user", "ann@x.test", "--issued-before", "noon")

    assert result.exit_code == 2
    assert "'noon' is not an ISO 8601 time" in result.stderr
    assert code(ann.call(ME)) is None


def test_revoke_user_dry_run_lists_and_revokes_nothing(cli: Cli, app: Flask) -> None:
    ann = signed_in(app, agent="Firefox/128")

    out = cli.ok("sessions", "revoke-user", "ann@x.test", "--dry-run")

    assert out.splitlines()[-1] == "would revoke 1 session of ann@x.test"
    assert "Firefox/128" in out
    assert code(ann.call(ME)) is None


def test_revoke_user_of_an_unknown_user_fails(cli: Cli) -> None:
    assert cli.fails("sessions", "revoke-user", "who@x.test") == (
        "error: no user who@x.test")


def test_revoke_all_without_yes_refuses_and_revokes_nothing(
    cli: Cli, app: Flask
) -> None:
    ann = signed_in(app)

    assert cli.fails("sessions", "revoke-all") == (
        "error: revoke-all signs everyone out; add --yes to confirm")
    assert code(ann.call(ME)) is None


def test_revoke_all_yes_signs_everyone_out(cli: Cli, app: Flask) -> None:
    clients = [signed_in(app, "ann@x.test"), signed_in(app, "ann@x.test"),
               signed_in(app, "bob@x.test")]

    assert cli.ok("sessions", "revoke-all", "--yes") == "revoked 3 sessions\n"

    assert all(code(c.call(ME)) == "UNAUTHENTICATED" for c in clients)
    assert all(code(c.refresh()) == "REFRESH_TOKEN_INVALID" for c in clients)
    assert listed(cli) == []


@pytest.mark.parametrize("command", [["sessions", "show"], ["sessions", "revoke"]])
def test_a_session_id_may_begin_with_a_dash(cli: Cli, command: list[str]) -> None:
    # base64url ids begin with "-" one time in 64
    dashed = "-k2a_he1xopByJN39X4hLA"

    assert cli.fails(*command, dashed) == f"error: no live session {dashed}"
