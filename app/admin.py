"""Administration: what an operator does to users, sessions and keys.

The CLI calls these and nothing below them, as the GraphQL resolvers call
:class:`app.auth.Auth`; both reach the same :class:`~app.users.Users`,
:class:`~app.sessions.SessionStore` and :class:`~app.keys.KeyRing`. Every
change is a security event naming the operator who made it (``by``), so the
stream answers "who signed Ann out?" as well as "who signed in?".
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from .clock import utc_iso
from .errors import BadUserInput, NotFound
from .events import Event, EventLog
from .keys import KeyRing, RingKey
from .models import User
from .sessions import SessionInfo, SessionStore
from .users import USER_TYPES, Users

#: Events read from the stream per round trip.
_PAGE = 1000


@dataclass(frozen=True)
class KeyState:
    """A key of the ring as an operator sees it.

    :param state: ``active`` (signs new tokens), ``retired`` (verifies, and
        is in the JWKS, until ``published_until``) or ``expired`` (gone).
    """

    key: RingKey
    state: str
    published_until: datetime | None


@dataclass(frozen=True)
class KeyRotation:
    """The outcome of ``keys rotate``, with the bounds an operator relies on."""

    new: RingKey
    retired: list[str]
    #: Seconds until every worker on every host signs with ``new``.
    propagation: int
    #: Seconds the retired keys stay in the JWKS.
    retention: int


class Admin:
    """Operations of one operator; ``actor`` names them in every event.

    :param actor: who acts, such as ``cli:alice@host1``; recorded as the
        event's ``by``.
    """

    def __init__(
        self,
        users: Users,
        sessions: SessionStore,
        keys: KeyRing,
        events: EventLog,
        actor: str,
    ) -> None:
        self.users = users
        self.sessions = sessions
        self.keys = keys
        self.log = events
        self.actor = actor

    # -- users ------------------------------------------------------------

    def create_user(self, email: str, password: str, *, admin: bool = False) -> User:
        """Create a user with the checks ``registerUser`` applies.

        :raises BadUserInput: malformed e-mail or weak password.
        :raises EmailTaken: the address is registered already.
        """
        user_type = "admin" if admin else "user"
        user = self.users.register(email, password, user_type)
        self.log.record("user_created", user_id=user.id, user_type=user_type,
                        by=self.actor)
        return user

    def list_users(self) -> list[User]:
        return self.users.list()

    def set_user_type(self, email: str, user_type: str) -> tuple[User, int]:
        """Make a user an ``admin`` or a ``user``; returns it and how many
        sessions were revoked.

        Sessions remember their user's type so that ``me`` and
        ``refreshToken`` need no SQL; revoking them is what makes the change
        take effect, so no session goes on carrying the old role.

        :raises NotFound: no user has this address.
        :raises BadUserInput: an unknown type.
        """
        if user_type not in USER_TYPES:
            raise BadUserInput(f"user type must be one of {', '.join(USER_TYPES)}")
        user = self.users.by_email(email)
        previous = user.user_type
        if previous == user_type:
            return user, 0

        # Revoke before the change, so that a Redis outage stops here with
        # nothing changed, and again after it, for sessions started meanwhile
        # by logins that read the old type.
        revoked = self.sessions.revoke_user(user.id)
        self.users.set_type(user, user_type)
        revoked += self.sessions.revoke_user(user.id)
        self.log.record("user_type_changed", user_id=user.id, previous=previous,
                        user_type=user_type, sessions_revoked=revoked, by=self.actor)
        return user, revoked

    # -- sessions ---------------------------------------------------------

    def list_sessions(self, email: str | None = None) -> list[SessionInfo]:
        """Live sessions, oldest first: one user's, or everyone's.

        :raises NotFound: ``email`` names no user.
        """
        if email is not None:
            return self.sessions.list_user(self.users.by_email(email).id)
        return sorted(self.sessions.iter_all(), key=lambda s: (s.created_at, s.id))

    def session(self, session_id: str) -> SessionInfo:
        """:raises NotFound: no live session has this id."""
        info = self.sessions.get(session_id)
        if info is None:
            raise NotFound(f"no live session {session_id}")
        return info

    def revoke_session(self, session_id: str) -> SessionInfo:
        """Revoke one session of anyone; its tokens stop working at once
        (CONTRACT.md rule 4).

        :raises NotFound: no live session has this id.
        """
        info = self.session(session_id)
        owner = self.sessions.revoke(session_id)
        if owner is None:  # it ended between the two round trips
            raise NotFound(f"no live session {session_id}")

        self.log.record("session_revoked", user_id=owner, session_id=session_id,
                        by=self.actor)
        return info

    def revoke_user_sessions(
        self,
        email: str,
        *,
        keep: str | None = None,
        issued_before: datetime | None = None,
        dry_run: bool = False,
    ) -> list[SessionInfo]:
        """Revoke a user's sessions; returns those revoked (or, with
        ``dry_run``, those that would be).

        :param keep: a session of this user to leave alone, such as the one
            the user is known to be on.
        :param issued_before: revoke only sessions started before it, such as
            the time a password leaked.
        :raises NotFound: no such user, or ``keep`` is no live session of
            theirs: a mistyped id must not revoke the session it meant.
        """
        user = self.users.by_email(email)
        live = self.sessions.list_user(user.id)
        if keep is not None and keep not in {s.id for s in live}:
            raise NotFound(f"no live session {keep} of {user.email}")

        chosen = [
            s for s in live
            if s.id != keep
            and (issued_before is None or s.created_at < issued_before.timestamp())
        ]
        if dry_run:
            return chosen

        revoked = [s for s in chosen if self.sessions.revoke(s.id, owner=user.id)
                   == user.id]
        self.log.record(
            "user_sessions_revoked", user_id=user.id, count=len(revoked),
            sessions=[s.id for s in revoked], all_but=keep,
            issued_before=utc_iso(issued_before.timestamp()) if issued_before else None,
            by=self.actor,
        )
        return revoked

    def revoke_all_sessions(self) -> int:
        """Sign everyone out; returns how many sessions were live.

        One event for the whole sweep, not one per session: a sweep of a
        large deployment must not push every other event out of the capped
        stream.
        """
        count = self.sessions.revoke_all()
        self.log.record("all_sessions_revoked", count=count, by=self.actor)
        return count

    # -- signing keys -----------------------------------------------------

    def list_keys(self) -> list[KeyState]:
        """Every stored key, newest first, with what it is used for now."""
        return [self._state(key) for key in self.keys.list()]

    def key(self, kid: str) -> KeyState:
        """:raises NotFound: no stored key has this ``kid``."""
        return self._state(self.keys.get(kid))

    def _state(self, key: RingKey) -> KeyState:
        if key.retired_at is None:
            return KeyState(key, "active", None)
        until = key.retired_at + timedelta(seconds=self.keys.retention)
        expired = until.timestamp() <= self.keys.clock.now()
        return KeyState(key, "expired" if expired else "retired", until)

    def rotate_key(self) -> KeyRotation:
        """Start signing with a new key; the old one keeps verifying.

        Each worker reloads the ring every ``KEY_RING_REFRESH`` seconds, so
        that is how long until every worker on every host signs with the new
        key. Retired keys stay in the JWKS until every token they signed has
        expired (:attr:`KeyRing.retention`); private keys past that are
        deleted, since nothing may verify with them any more.
        """
        retired = [k.key.kid for k in self.list_keys() if k.state == "active"]
        new = self.keys.rotate()
        pruned = self.keys.prune()
        self.log.record("key_rotated", kid=new.kid, retired=retired, pruned=pruned,
                        by=self.actor)
        return KeyRotation(new, retired, self.keys.settings.key_ring_refresh,
                           self.keys.retention)

    # -- events -----------------------------------------------------------

    def events(
        self,
        *,
        types: Collection[str] = (),
        email: str | None = None,
        follow: bool = False,
    ) -> Iterator[Event | None]:
        """Stored events, oldest first, then (with ``follow``) new ones as
        they come; ``None`` after each idle wait so a caller can flush.

        :param email: only events of this user, failed logins naming the
            address included.
        :raises NotFound: ``email`` names no user.
        """
        wanted = _event_filter(types, self._user_filter(email))
        last = "-"
        while True:
            page = self.log.read(after=last, count=_PAGE)
            for event in page:
                last = event.id
                if wanted(event):
                    yield event
            if len(page) < _PAGE:
                break
        if not follow:
            return

        # From the last id read, not "$": nothing written meanwhile is lost.
        start = "0-0" if last == "-" else last
        for new in self.log.follow(after=start):
            if new is None or wanted(new):
                yield new

    def _user_filter(self, email: str | None) -> Callable[[Event], bool] | None:
        if email is None:
            return None
        user = self.users.by_email(email)
        user_id, address = user.id, user.email
        return lambda e: e.user_id == user_id or e.detail.get("email") == address


def _event_filter(
    types: Collection[str], user: Callable[[Event], bool] | None
) -> Callable[[Event], bool]:
    def wanted(event: Event) -> bool:
        if types and event.type not in types:
            return False
        return user is None or user(event)

    return wanted
