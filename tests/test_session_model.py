"""A stateful property test: SessionStore against a small model of the rules.

Hypothesis interleaves logins, refreshes with the current, the previous, an
older and a forged token, clock advances, logouts and revocations for one
user's sessions, and after every step the store must agree with the model of
CONTRACT.md's rotation rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from flask import Flask
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from app.clock import ManualClock
from app.errors import RefreshTokenInvalid, RefreshTokenReused
from app.sessions import SessionStore, SessionUser
from tests.conftest import AppFactory

IDLE, MAX_AGE, GRACE, LIMIT = 100.0, 300.0, 10.0, 4
START = 1_800_000_000.0
USER = SessionUser("u-1", "ann@x.test", "user", 0.0)


@dataclass
class ModelSession:
    """What the rules say a session is."""

    id: str
    created: float
    last_used: float
    rotated_at: float
    tokens: list[str] = field(default_factory=list)  # index = generation
    alive: bool = True
    #: Closed because a rotated-out token came back.
    reused: bool = False

    @property
    def generation(self) -> int:
        return len(self.tokens) - 1

    @property
    def deadline(self) -> float:
        return min(self.last_used + IDLE, self.created + MAX_AGE)

    def expired(self, now: float) -> bool:
        return now >= self.deadline

    def held(self, now: float) -> bool:
        """Whether the store still keeps it: live, or a tombstone in its time."""
        return (self.alive or self.reused) and not self.expired(now)


class SessionRules(RuleBasedStateMachine):
    def __init__(self, store: SessionStore, clock: ManualClock) -> None:
        super().__init__()
        self.store = store
        self.clock = clock
        # Every example starts at the same moment: one that fails replays
        # the same, to the millisecond, while Hypothesis shrinks it.
        clock.advance(START - clock.now())
        store.redis.flushall()
        self.sessions: list[ModelSession] = []

    def live(self) -> list[ModelSession]:
        now = self.clock.now()
        for session in self.sessions:
            if session.alive and session.expired(now):
                session.alive = False
        return [s for s in self.sessions if s.alive]

    @initialize()
    def first_login(self) -> None:
        self.login()

    @rule()
    def login(self) -> None:
        now = self.clock.now()
        self.live()
        held = sorted((s for s in self.sessions if s.held(now)),
                      key=lambda s: (s.deadline, s.id))
        ending = held[:max(0, len(held) - LIMIT + 1)]
        issued = self.store.create(USER, None, None)
        # The limit ends what is nearest its deadline; tombstones go silently.
        assert issued.ended == tuple(s.id for s in ending if s.alive)
        for session in ending:
            session.alive = session.reused = False
        self.sessions.append(
            ModelSession(issued.session_id, now, now, now, [issued.token])
        )

    @rule()
    def revoke_user(self) -> None:
        live = self.live()
        assert self.store.revoke_user(USER.id) == len(live)
        for session in live:
            session.alive = False

    @rule(seconds=st.sampled_from([0.0, 0.5, 5.0, 9.999, 10.0, 30.0, 99.0, 150.0]))
    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)

    @precondition(lambda self: self.sessions)
    @rule(pick=st.integers(0, 99))
    def refresh_current(self, pick: int) -> None:
        session = self.sessions[pick % len(self.sessions)]
        self._present(session, session.generation)

    # No precondition below may depend on what the store answered: session
    # names are random, so which of two sessions with the same deadline the
    # limit ends differs from run to run, and Hypothesis must draw the same
    # steps when it replays an example. A rule with no candidate does nothing.

    @rule(pick=st.integers(0, 99))
    def refresh_previous(self, pick: int) -> None:
        candidates = [s for s in self.sessions if s.generation >= 1]
        if candidates:
            session = candidates[pick % len(candidates)]
            self._present(session, session.generation - 1)

    @rule(pick=st.integers(0, 99), back=st.integers(2, 5))
    def refresh_older(self, pick: int, back: int) -> None:
        candidates = [s for s in self.sessions if s.generation >= 2]
        if candidates:
            session = candidates[pick % len(candidates)]
            self._present(session, max(0, session.generation - back))

    @precondition(lambda self: self.sessions)
    @rule(pick=st.integers(0, 99), ahead=st.integers(0, 3))
    def refresh_forged(self, pick: int, ahead: int) -> None:
        session = self.sessions[pick % len(self.sessions)]
        generation = session.generation + ahead
        forged = f"{session.id}.{generation}.{'A' * 43}"
        with pytest.raises(RefreshTokenInvalid):
            self.store.rotate(forged, None, None)

    @precondition(lambda self: self.sessions)
    @rule(pick=st.integers(0, 99))
    def revoke(self, pick: int) -> None:
        session = self.sessions[pick % len(self.sessions)]
        was_live = session in self.live()
        owner = self.store.revoke(session.id, owner=USER.id)
        assert (owner == USER.id) is was_live
        session.alive = False

    def _present(self, session: ModelSession, generation: int) -> None:
        token = session.tokens[generation]
        now = self.clock.now()
        live = session in self.live()
        current = session.generation

        if not live:
            # A session closed for reuse says so to every token of its family
            # until its own deadline; any other dead session is just invalid.
            closed_for_reuse = session.reused and now < session.deadline
            expected = RefreshTokenReused if closed_for_reuse else RefreshTokenInvalid
            with pytest.raises(expected):
                self.store.rotate(token, None, None)
        elif generation == current:
            rotation = self.store.rotate(token, None, None)
            assert rotation.rotated and rotation.session_id == session.id
            session.tokens.append(rotation.token)
            session.last_used = session.rotated_at = now
        elif generation == current - 1 and now - session.rotated_at < GRACE:
            rotation = self.store.rotate(token, None, None)
            assert not rotation.rotated
            assert rotation.token == session.tokens[current]
        else:
            with pytest.raises(RefreshTokenReused):
                self.store.rotate(token, None, None)
            session.alive = False
            session.reused = True

    @invariant()
    def listing_matches_the_model(self) -> None:
        listed = {s.id for s in self.store.list_user(USER.id)}
        assert listed == {s.id for s in self.live()}

    @invariant()
    def deadlines_match_the_model(self) -> None:
        for session in self.live():
            info = self.store.get(session.id)
            assert info is not None
            assert info.expires_at == pytest.approx(session.deadline, abs=0.001)


def test_sessions_follow_the_rotation_rules(
    make_app: AppFactory, clock: ManualClock
) -> None:
    app: Flask = make_app(
        {
            "REFRESH_TOKEN_TTL": int(IDLE),
            "SESSION_MAX_AGE": int(MAX_AGE),
            "REFRESH_REUSE_GRACE": int(GRACE),
            "SESSIONS_PER_USER": LIMIT,
        }
    )
    with app.app_context():
        store = app.extensions["token_service"].sessions
        run_state_machine_as_test(
            lambda: SessionRules(store, clock),
            settings=settings(
                max_examples=150,
                stateful_step_count=30,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow],
            ),
        )
