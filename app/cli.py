"""Administration commands of the Flask CLI (CONTRACT.md, "Administration").

``flask users``, ``flask sessions``, ``flask keys`` and ``flask events``
turn arguments into calls of :class:`app.admin.Admin`, and its answers into
text (:mod:`app.console`); they touch neither Redis nor SQL themselves. Every
change is recorded in the security events as done by ``cli:<OS user>@<host>``.

Exit status: 0 done; 1 refused (an unknown user, session or key, bad input,
a missing ``--yes``); 2 a usage error; 3 Redis or the database unreachable.
A failure is one line on standard error, never a traceback.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import sys
from datetime import UTC, datetime
from typing import Any, NoReturn

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext
from redis.exceptions import RedisClusterException, RedisError
from sqlalchemy.exc import SQLAlchemyError

from . import console
from .admin import Admin
from .doctor import doctor_command
from .errors import BadUserInput, ServiceError
from .events import LEVELS
from .users import USER_TYPES

EXIT_REFUSED = 1
EXIT_UNAVAILABLE = 3

#: Session ids and kids are base64url and may begin with "-": read them as
#: arguments, not as options nobody defined.
_IDS = {"ignore_unknown_options": True}

#: What a command may meet that is no bug: a refusal, or a store it cannot reach.
_EXPECTED = (ServiceError, RedisError, RedisClusterException, SQLAlchemyError)


def _fail(ctx: click.Context, err: Exception) -> NoReturn:
    status = EXIT_UNAVAILABLE
    if isinstance(err, ServiceError):
        message, status = err.message, EXIT_REFUSED
    elif isinstance(err, (RedisError, RedisClusterException)):
        message = f"Redis is unavailable: {_line(err)}"
    else:  # the driver's own error says more than SQLAlchemy's wrapper
        cause = getattr(err, "orig", None) or err
        message = f"the database is unavailable: {_line(cause)}"
    click.echo(f"error: {message}", err=True)
    ctx.exit(status)


def _line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else err.__class__.__name__


class AdminGroup(AppGroup):
    """A command group whose failures end in one line and an exit status."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except _EXPECTED as err:
            _fail(ctx, err)


class AdminCommand(click.Command):
    """A command on its own, failing like :class:`AdminGroup`'s."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except _EXPECTED as err:
            _fail(ctx, err)


class IsoTime(click.ParamType[datetime, Any]):
    """An ISO 8601 time; one without an offset is taken as UTC."""

    name = "ISO-TIME"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            self.fail(f"{value!r} is not an ISO 8601 time such as "
                      "2027-01-15T08:00:00Z", param, ctx)
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def operator() -> str:
    """Who runs this command, as the events name it: ``cli:<user>@<host>``."""
    try:
        name = getpass.getuser()
    except (KeyError, OSError):  # no login name, as in a bare container
        name = f"uid{os.getuid()}"
    return f"cli:{name}@{socket.gethostname()}"


def _admin() -> Admin:
    admin: Admin = current_app.extensions["token_service"].admin(operator())
    return admin


# -- users -----------------------------------------------------------------

users = AdminGroup("users", help="Create users, list them, change their type.")


def _read_password() -> str:
    if sys.stdin.isatty():
        password: str = click.prompt("Password", hide_input=True,
                                     confirmation_prompt=True)
        return password
    # One line; only its line break is dropped, spaces belong to the password.
    return sys.stdin.readline().removesuffix("\n").removesuffix("\r")


@users.command("create")
@click.argument("email")
@click.option("--admin", is_flag=True, help="Make the user an administrator.")
def users_create(email: str, admin: bool) -> None:
    """Create a user.

    The password is asked for twice on a terminal, else read as one line of
    standard input; never an argument, which every user of the host could
    read in the process list.
    """
    user = _admin().create_user(email, _read_password(), admin=admin)
    click.echo(f"created {user.user_type} {user.email} (id {user.id})")


@users.command("list")
def users_list() -> None:
    """List every user, oldest first."""
    found = _admin().list_users()
    if not found:
        click.echo("no users")
        return
    click.echo(console.table(
        ["ID", "EMAIL", "TYPE", "CREATED"],
        [[u.id, console.printable(u.email), u.user_type,
          console.short_time(u.created_at.timestamp())] for u in found],
    ))


@users.command("set-type")
@click.argument("email")
@click.argument("user_type", metavar="admin|user", type=click.Choice(USER_TYPES))
def users_set_type(email: str, user_type: str) -> None:
    """Make a user an admin or a plain user.

    Their sessions are revoked, so that none goes on carrying the old type;
    they sign in again.
    """
    user, revoked = _admin().set_user_type(email, user_type)
    click.echo(f"{user.email} is {user_type}; "
               f"revoked {console.plural(revoked, 'session')}")


# -- sessions --------------------------------------------------------------

sessions = AdminGroup("sessions", help="List, inspect and revoke sessions.")


@sessions.command("list")
@click.option("--user", "email", metavar="EMAIL", help="Only this user's sessions.")
@click.option("--json", "as_json", is_flag=True, help="One JSON array.")
def sessions_list(email: str | None, as_json: bool) -> None:
    """List live sessions, oldest first.

    Every user's sessions, or with --user one user's.
    """
    found = _admin().list_sessions(email)
    if as_json:
        click.echo(json.dumps([console.session_json(s) for s in found], indent=2))
    elif found:
        click.echo(console.session_table(found))
    else:
        click.echo("no live sessions")


@sessions.command("show", context_settings=_IDS)
@click.argument("session_id", metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
def sessions_show(session_id: str, as_json: bool) -> None:
    """Show one live session."""
    found = _admin().session(session_id)
    if as_json:
        click.echo(json.dumps(console.session_json(found), indent=2))
    else:
        click.echo(console.session_fields(found))


@sessions.command("revoke", context_settings=_IDS)
@click.argument("session_id", metavar="ID")
def sessions_revoke(session_id: str) -> None:
    """Revoke one session.

    Its refresh token and its access tokens stop working here at once;
    services that verify access tokens through the JWKS alone accept them
    until they expire (CONTRACT.md rule 4).
    """
    revoked = _admin().revoke_session(session_id)
    owner = console.printable(revoked.user.email)
    click.echo(f"revoked session {revoked.id} of {owner}")


@sessions.command("revoke-user")
@click.argument("email")
@click.option("--all-but", "keep", metavar="ID", help="Leave this session alive.")
@click.option("--issued-before", type=IsoTime(),
              help="Only sessions started before this time (UTC unless it says).")
@click.option("--dry-run", is_flag=True, help="List what it would revoke; revoke none.")
def sessions_revoke_user(
    email: str, keep: str | None, issued_before: datetime | None, dry_run: bool
) -> None:
    """Revoke a user's sessions and print how many were revoked."""
    chosen = _admin().revoke_user_sessions(
        email, keep=keep, issued_before=issued_before, dry_run=dry_run
    )
    count = console.plural(len(chosen), "session")
    if not dry_run:
        click.echo(f"revoked {count} of {email}")
        return
    if chosen:
        click.echo(console.session_table(chosen))
    click.echo(f"would revoke {count} of {email}")


@sessions.command("revoke-all")
@click.option("--yes", is_flag=True, help="Confirm that everyone is signed out.")
def sessions_revoke_all(yes: bool) -> None:
    """Revoke every session of every user."""
    if not yes:
        raise BadUserInput("revoke-all signs everyone out; add --yes to confirm")
    revoked = _admin().revoke_all_sessions()
    click.echo(f"revoked {console.plural(revoked, 'session')}")


# -- keys ------------------------------------------------------------------

keys = AdminGroup("keys", help="List and rotate the keys that sign access tokens.")


@keys.command("list")
def keys_list() -> None:
    """List the stored signing keys, newest first."""
    found = _admin().list_keys()
    if not found:
        click.echo("no signing keys yet: the first sign-in makes one")
        return
    click.echo(console.table(console.KEY_HEADERS, [console.key_row(k) for k in found]))


@keys.command("show", context_settings=_IDS)
@click.argument("kid")
def keys_show(kid: str) -> None:
    """Show one key and its public JWK; never the private key."""
    click.echo(console.key_fields(_admin().key(kid)))


@keys.command("rotate")
def keys_rotate() -> None:
    """Sign new tokens with a new key.

    Every worker on every host signs with it within KEY_RING_REFRESH seconds
    (30 unless set), when it next reloads the ring. The retired key stays in
    the JWKS, and the tokens it signed keep verifying, until they have all
    expired: ACCESS_TOKEN_TTL + KEY_RING_REFRESH + 5 seconds.
    """
    done = _admin().rotate_key()
    click.echo(f"new signing key {done.new.kid} ({done.new.algorithm}); "
               f"retired {', '.join(done.retired) or 'none'}")
    click.echo(f"every worker signs with it within {done.propagation} s "
               "(KEY_RING_REFRESH)")
    click.echo(f"retired keys stay in the JWKS for {done.retention} s "
               "(ACCESS_TOKEN_TTL + KEY_RING_REFRESH + 5)")


# -- events ----------------------------------------------------------------


@click.command("events", cls=AdminCommand)
@click.option("--follow", "-f", is_flag=True,
              help="Then print new events as they come, until Ctrl-C.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object a line.")
@click.option("--type", "types", multiple=True, type=click.Choice(sorted(LEVELS)),
              metavar="TYPE", help="Only events of this type (repeatable).")
@click.option("--user", "email", metavar="EMAIL", help="Only this user's events.")
@with_appcontext
def events(follow: bool, as_json: bool, types: tuple[str, ...],
           email: str | None) -> None:
    """Print the security events kept in Redis, oldest first.

    Sign-ins and failed ones, registrations, refresh-token reuse, logouts,
    revocations and administrators' changes. The stream keeps the newest
    EVENTS_MAX events. TYPE is one of: login, login_failed, register,
    refresh_reused, logout, logout_all, session_revoked,
    user_sessions_revoked, all_sessions_revoked, user_created,
    user_type_changed, key_rotated.
    """
    shape = console.event_json if as_json else console.event_line
    try:
        for event in _admin().events(types=types, email=email, follow=follow):
            if event is not None:
                click.echo(shape(event))
    except KeyboardInterrupt:
        pass  # Ctrl-C is how --follow ends: a success


def register(app: Flask) -> None:
    """Attach the command groups to ``app``."""
    app.cli.add_command(users)
    app.cli.add_command(sessions)
    app.cli.add_command(keys)
    app.cli.add_command(events)
    app.cli.add_command(doctor_command)
