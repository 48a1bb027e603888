"""Revoking with ``flask sessions revoke|revoke-user|revoke-all`` (CliRunner)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from flask import Flask

from app.clock import ManualClock
from tests.admin_cli import Cli, listed, signed_in
from tests.conftest import ME, code


@pytest.fixture
def cli(app: Flask) -> Cli:
    return Cli(app)


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
