"""The rotation and revocation rules of CONTRACT.md, on SessionStore and the API."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from flask import Flask

from app.clock import ManualClock
from app.errors import RefreshTokenInvalid, RefreshTokenReused
from app.sessions import SessionStore, SessionUser, session_key
from tests.conftest import ME, ORIGIN, REFRESH, SESSIONS, Api, AppFactory, code
from tests.servers import live_server

ANN = SessionUser("u-ann", "ann@x.test", "user", 1_700_000_000.0)
BOB = SessionUser("u-bob", "bob@x.test", "user", 1_700_000_000.0)


@pytest.fixture
def store(app: Flask) -> Iterator[SessionStore]:
    with app.app_context():
        yield app.extensions["token_service"].sessions


def generation(store: SessionStore, session_id: str) -> int:
    state = store.redis.hget(session_key(session_id), session_id.split(":")[1])
    return int(state.split(" ")[0], 36)


# -- rule 1: rotation ----------------------------------------------------


def test_refresh_issues_a_new_token_and_keeps_the_session_id(
    store: SessionStore,
) -> None:
    first = store.create(ANN, "ua", "10.0.0.1")
    second = store.rotate(first.token, "ua", "10.0.0.1")
    assert second.token != first.token
    assert second.session_id == first.session_id
    assert generation(store, first.session_id) == 1


def test_current_token_rotates_again_and_again(store: SessionStore) -> None:
    token = store.create(ANN, None, None).token
    for _ in range(5):
        token = store.rotate(token, None, None).token
    assert token.split(".")[1] == "5"


def test_no_refresh_token_is_stored_in_redis(store: SessionStore) -> None:
    issued = store.create(ANN, None, None)
    rotated = store.rotate(issued.token, None, None)
    dump = repr(store.redis.hgetall(session_key(issued.session_id)))
    for token in (issued.token, rotated.token):
        assert token.split(".")[2] not in dump


def test_every_session_key_has_a_ttl(store: SessionStore) -> None:
    issued = store.create(ANN, None, None)
    store.rotate(issued.token, None, None)
    for key in store.redis.keys("*"):
        assert store.redis.pttl(key) > 0, key


# -- rule 2: the grace window --------------------------------------------


def test_predecessor_within_grace_gets_the_same_successor(
    store: SessionStore, clock: ManualClock
) -> None:
    first = store.create(ANN, None, None)
    successor = store.rotate(first.token, None, None)
    clock.advance(9.9)
    again = store.rotate(first.token, None, None)
    assert again.token == successor.token
    assert again.rotated is False
    assert generation(store, first.session_id) == 1


def test_predecessor_after_grace_is_reuse(
    store: SessionStore, clock: ManualClock
) -> None:
    first = store.create(ANN, None, None)
    store.rotate(first.token, None, None)
    clock.advance(10)
    with pytest.raises(RefreshTokenReused):
        store.rotate(first.token, None, None)


def test_grace_zero_turns_the_grace_rule_off(make_app: AppFactory) -> None:
    app = make_app({"REFRESH_REUSE_GRACE": 0})
    with app.app_context():
        store = app.extensions["token_service"].sessions
        first = store.create(ANN, None, None)
        store.rotate(first.token, None, None)
        with pytest.raises(RefreshTokenReused):
            store.rotate(first.token, None, None)


def test_token_two_generations_back_inside_grace_is_reuse(store: SessionStore) -> None:
    first = store.create(ANN, None, None)
    second = store.rotate(first.token, None, None)
    store.rotate(second.token, None, None)
    with pytest.raises(RefreshTokenReused) as caught:
        store.rotate(first.token, None, None)
    assert caught.value.presented_generation == 0
    assert caught.value.current_generation == 2


def test_twenty_concurrent_refreshes_get_one_identical_successor(
    make_app: AppFactory,
) -> None:
    app = make_app(app_clock=None)
    api = Api(app)
    api.register()
    cookie_name = app.extensions["token_service"].settings.refresh_cookie_name
    token = api.refresh_cookie

    def refresh(_: int) -> tuple[str, str]:
        response = requests.post(
            f"{server.url}/graphql",
            json={"query": REFRESH},
            headers={"Origin": ORIGIN, "Cookie": f"{cookie_name}={token}"},
            timeout=10,
        )
        body = response.json()
        assert "errors" not in body, body
        return response.cookies.get(cookie_name) or "", response.headers["Set-Cookie"]

    with live_server(app) as server, ThreadPoolExecutor(20) as pool:
        results = list(pool.map(refresh, range(20)))

    successors = {value for value, _ in results}
    assert len(successors) == 1
    assert successors.pop().split(".")[1] == "1"
    session_id = token.split(".")[0]
    with app.app_context():
        store = app.extensions["token_service"].sessions
        assert generation(store, session_id) == 1


# -- rule 3: reuse revokes the whole session -----------------------------


def replay_after_grace(store: SessionStore, clock: ManualClock) -> tuple[str, str]:
    """Rotate once, replay the first token after the grace window (reuse).

    :returns: the session id and the victim's current token.
    """
    first = store.create(ANN, None, None)
    current = store.rotate(first.token, None, None)
    clock.advance(11)
    with pytest.raises(RefreshTokenReused):
        store.rotate(first.token, None, None)
    return first.session_id, current.token


def test_reuse_revokes_the_current_token_too(
    store: SessionStore, clock: ManualClock
) -> None:
    session_id, current = replay_after_grace(store, clock)
    # The victim's current token is refused as reuse too, so the user learns
    # why the session ended rather than seeing an ordinary sign-out.
    with pytest.raises(RefreshTokenReused) as caught:
        store.rotate(current, None, None)
    assert caught.value.current_generation is None
    assert store.get(session_id) is None


def test_reuse_tombstone_ends_at_the_sessions_deadline(
    store: SessionStore, clock: ManualClock
) -> None:
    session_id, current = replay_after_grace(store, clock)
    name = session_id.split(":")[1]
    assert store.redis.hget(session_key(session_id), name).startswith("!")
    assert 0 < store.redis.pttl(session_key(session_id))
    clock.advance(store.settings.refresh_token_ttl)
    with pytest.raises(RefreshTokenInvalid):
        store.rotate(current, None, None)


def test_revoked_session_answers_invalid_not_reused(store: SessionStore) -> None:
    first = store.create(ANN, None, None)
    current = store.rotate(first.token, None, None)
    store.revoke(first.session_id)
    for token in (first.token, current.token):
        with pytest.raises(RefreshTokenInvalid):
            store.rotate(token, None, None)


def test_reuse_leaves_the_users_other_sessions_alone(
    store: SessionStore, clock: ManualClock
) -> None:
    stolen = store.create(ANN, None, None)
    other = store.create(ANN, None, None)
    store.rotate(stolen.token, None, None)
    clock.advance(11)
    with pytest.raises(RefreshTokenReused):
        store.rotate(stolen.token, None, None)
    assert store.rotate(other.token, None, None).session_id == other.session_id


def test_reuse_kills_the_sessions_access_tokens(api: Api, clock: ManualClock) -> None:
    api.register()
    stolen = api.refresh_cookie
    api.refresh()
    access_token = api.access_token
    clock.advance(11)
    api.set_refresh_cookie(stolen)
    assert code(api.refresh()) == "REFRESH_TOKEN_REUSED"
    assert code(api.call(ME, token=access_token)) == "UNAUTHENTICATED"


def test_reuse_over_the_api_answers_reused_to_thief_and_victim(
    api: Api, clock: ManualClock
) -> None:
    api.register()
    stolen = api.refresh_cookie
    api.refresh()
    current = api.refresh_cookie
    clock.advance(11)
    api.set_refresh_cookie(stolen)
    assert code(api.refresh()) == "REFRESH_TOKEN_REUSED"
    api.set_refresh_cookie(current)
    assert code(api.refresh()) == "REFRESH_TOKEN_REUSED"


def test_forged_token_is_invalid_and_changes_nothing(store: SessionStore) -> None:
    issued = store.create(ANN, None, None)
    session_id, _, mac = issued.token.split(".")
    for forged in (
        f"{session_id}.1.{mac}",
        f"{session_id}.0.{'A' * 43}",
        "garbage",
        f"{session_id}.-1.{mac}",
        f"{session_id}.01.{mac}",
        "",
    ):
        with pytest.raises(RefreshTokenInvalid):
            store.rotate(forged, None, None)
    assert generation(store, session_id) == 0
    assert store.rotate(issued.token, None, None).session_id == session_id


def test_token_of_unknown_session_is_invalid(store: SessionStore) -> None:
    issued = store.create(ANN, None, None)
    store.redis.delete(session_key(issued.session_id))  # Redis lost its data
    with pytest.raises(RefreshTokenInvalid):
        store.rotate(issued.token, None, None)


# -- logout and revocation -----------------------------------------------


def test_after_logout_the_predecessor_in_grace_is_invalid_not_the_successor(
    api: Api,
) -> None:
    api.register()
    first = api.refresh_cookie
    api.refresh()
    assert api.call("mutation { logout }")["data"]["logout"] is True
    api.set_refresh_cookie(first)
    body = api.refresh()
    assert code(body) == "REFRESH_TOKEN_INVALID"
    assert body["data"] is None


def test_logout_clears_the_cookie_and_answers_false_without_a_session(api: Api) -> None:
    response = api.post("mutation { logout }")
    assert response.get_json()["data"]["logout"] is False
    assert "Max-Age=0" in response.headers["Set-Cookie"]


def test_logout_by_access_token_when_there_is_no_cookie(api: Api) -> None:
    api.register()
    api.client.delete_cookie(
        api.app.extensions["token_service"].settings.refresh_cookie_name
    )
    assert api.call("mutation { logout }")["data"]["logout"] is True
    assert code(api.call(ME)) == "UNAUTHENTICATED"


def test_logout_all_revokes_every_session_and_counts_them(app: Flask) -> None:
    phone, laptop, tablet = Api(app), Api(app), Api(app)
    phone.register()
    laptop.login()
    tablet.login()
    cookies = {client: client.refresh_cookie for client in (phone, laptop, tablet)}
    response = laptop.post("mutation { logoutAll }")
    assert response.get_json()["data"]["logoutAll"] == 3
    assert "Max-Age=0" in response.headers["Set-Cookie"]
    for client, cookie in cookies.items():
        assert code(client.call(ME)) == "UNAUTHENTICATED"
        client.set_refresh_cookie(cookie or "")
        assert code(client.refresh()) == "REFRESH_TOKEN_INVALID"


def test_revoke_session_of_another_device(app: Flask) -> None:
    phone, laptop = Api(app), Api(app)
    phone.register()
    laptop.login()
    phone_session = phone.call(SESSIONS)["data"]["sessions"]
    phone_id = next(s["id"] for s in phone_session if s["current"])
    response = laptop.post(
        "mutation($id: ID!) { revokeSession(id: $id) }", {"id": phone_id}
    )
    assert response.get_json()["data"]["revokeSession"] is True
    assert "Set-Cookie" not in response.headers  # not the caller's own session
    assert code(phone.call(ME)) == "UNAUTHENTICATED"
    assert laptop.call(ME)["data"]["me"]["email"] == "ann@x.test"


def test_revoke_own_current_session_expires_the_cookie(api: Api) -> None:
    api.register()
    own = api.call(SESSIONS)["data"]["sessions"][0]["id"]
    response = api.post("mutation($id: ID!) { revokeSession(id: $id) }", {"id": own})
    assert response.get_json()["data"]["revokeSession"] is True
    assert "Max-Age=0" in response.headers["Set-Cookie"]


def test_revoke_session_of_another_user_is_forbidden(app: Flask) -> None:
    ann, bob = Api(app), Api(app)
    ann.register("ann@x.test")
    bob.register("bob@x.test")
    bob_id = bob.call(SESSIONS)["data"]["sessions"][0]["id"]
    body = ann.call("mutation($id: ID!) { revokeSession(id: $id) }", {"id": bob_id})
    assert code(body) == "FORBIDDEN"
    assert bob.call(ME)["data"]["me"]["email"] == "bob@x.test"


def test_revoke_unknown_and_malformed_session_ids(api: Api) -> None:
    api.register()
    query = "mutation($id: ID!) { revokeSession(id: $id) }"
    unknown = "A" * 36 + ":" + "A" * 12
    assert api.call(query, {"id": unknown})["data"]["revokeSession"] is False
    assert code(api.call(query, {"id": "not an id"})) == "BAD_USER_INPUT"
    assert code(api.call(query, {"id": "A" * 22})) == "BAD_USER_INPUT"


def test_admin_may_revoke_anyones_session(app: Flask) -> None:
    admin, bob = Api(app), Api(app)
    admin.register("root@x.test")
    with app.app_context():
        service = app.extensions["token_service"]
        service.users.set_type(service.users.by_email("root@x.test"), "admin")
    admin.login("root@x.test")
    bob.register("bob@x.test")
    bob_id = bob.call(SESSIONS)["data"]["sessions"][0]["id"]
    body = admin.call("mutation($id: ID!) { revokeSession(id: $id) }", {"id": bob_id})
    assert body["data"]["revokeSession"] is True
    assert code(bob.call(ME)) == "UNAUTHENTICATED"


# -- listing ---------------------------------------------------------------


def test_sessions_lists_live_sessions_and_marks_the_current_one(
    app: Flask, clock: ManualClock
) -> None:
    phone, laptop = Api(app, user_agent="Phone"), Api(app, user_agent="Laptop")
    phone.register()
    clock.advance(1)
    laptop.login()
    sessions = laptop.call(SESSIONS)["data"]["sessions"]
    assert [s["userAgent"] for s in sessions] == ["Phone", "Laptop"]
    assert [s["current"] for s in sessions] == [False, True]


def test_a_session_lost_with_redis_data_is_gone(store: SessionStore) -> None:
    kept = store.create(ANN, None, None)
    lost = store.create(ANN, None, None)
    store.redis.hdel(session_key(lost.session_id), lost.session_id.split(":")[1])
    assert [s.id for s in store.list_user(ANN.id)] == [kept.session_id]
    assert store.get(lost.session_id) is None


def test_sessions_past_their_deadline_leave_at_the_next_sign_in(
    store: SessionStore, clock: ManualClock
) -> None:
    store.create(ANN, "Old browser", "10.0.0.1")
    replay_after_grace(store, clock)  # leaves a tombstone
    clock.advance(store.settings.refresh_token_ttl)
    new = store.create(ANN, None, None)
    fields = store.redis.hkeys(session_key(new.session_id))
    names = {f for f in fields if len(f) >= 12}
    assert names == {new.session_id.split(":")[1]}


def test_the_users_key_lives_as_long_as_its_longest_session(
    store: SessionStore,
) -> None:
    first = store.create(ANN, None, None)
    key, lifetime = session_key(first.session_id), store.settings.session_lifetime
    store.redis.pexpire(key, 1000)  # as if most of its life had passed
    rotated = store.rotate(first.token, None, None)
    assert store.redis.pttl(key) / 1000 > lifetime - 5
    store.redis.pexpire(key, 1000)
    store.create(ANN, None, None)
    assert store.redis.pttl(key) / 1000 > lifetime - 5
    longer = 2 * lifetime  # a longer session holds the key: not shortened
    store.redis.pexpire(key, int(longer * 1000))
    store.rotate(rotated.token, None, None)
    assert store.redis.pttl(key) / 1000 > longer - 5


def test_revoke_user_counts_only_live_sessions(store: SessionStore) -> None:
    store.create(ANN, None, None)
    store.create(ANN, None, None)
    bobs = store.create(BOB, None, None)
    assert store.revoke_user(ANN.id) == 2
    assert store.list_user(ANN.id) == []
    assert store.get(bobs.session_id) is not None


# -- one user's sessions are bounded ---------------------------------------


@pytest.fixture
def limited(make_app: AppFactory) -> Iterator[SessionStore]:
    app = make_app({"SESSIONS_PER_USER": 3})
    with app.app_context():
        yield app.extensions["token_service"].sessions


def test_a_sign_in_past_the_limit_ends_the_session_nearest_its_deadline(
    limited: SessionStore, clock: ManualClock
) -> None:
    made = []
    for _ in range(3):
        made.append(limited.create(ANN, None, None))
        clock.advance(1)
    first, second, third = made
    clock.advance(60)
    limited.rotate(first.token, None, None)  # used lately: the last to go
    fourth = limited.create(ANN, None, None)
    assert fourth.ended == (second.session_id,)
    live = {s.id for s in limited.list_user(ANN.id)}
    assert live == {first.session_id, third.session_id, fourth.session_id}
    with pytest.raises(RefreshTokenInvalid):
        limited.rotate(second.token, None, None)
    assert limited.create(BOB, None, None).ended == ()


def test_tombstones_count_toward_the_limit_but_are_not_reported(
    limited: SessionStore, clock: ManualClock
) -> None:
    first = limited.create(ANN, None, None)
    current = limited.rotate(first.token, None, None)
    clock.advance(11)
    with pytest.raises(RefreshTokenReused):
        limited.rotate(first.token, None, None)  # a tombstone now
    others = [limited.create(ANN, None, None) for _ in range(2)]
    assert [o.ended for o in others] == [(), ()]
    # The tombstone is nearest its deadline: it makes room, silently.
    assert limited.create(ANN, None, None).ended == ()
    with pytest.raises(RefreshTokenInvalid):
        limited.rotate(current.token, None, None)
    assert len(limited.list_user(ANN.id)) == 3


def test_a_session_ended_by_the_limit_is_a_security_event(
    make_app: AppFactory,
) -> None:
    app = make_app({"SESSIONS_PER_USER": 1})
    first, second = Api(app), Api(app)
    first.register()
    started = (first.refresh_cookie or "").split(".")[0]
    second.login()
    assert code(first.refresh()) == "REFRESH_TOKEN_INVALID"
    assert code(first.call(ME)) == "UNAUTHENTICATED"
    assert second.call(ME)["data"]["me"]["email"] == "ann@x.test"
    with app.app_context():
        events = app.extensions["token_service"].events.read()
    ended = [e for e in events if e.type == "session_revoked"]
    assert [e.detail.get("reason") for e in ended] == ["session limit"]
    assert ended[0].session_id == started


def test_a_user_id_that_cannot_name_a_session_is_refused(store: SessionStore) -> None:
    odd = SessionUser("u:1", "odd@x.test", "user", 1_700_000_000.0)
    with pytest.raises(ValueError):
        store.create(odd, None, None)
    assert store.redis.keys("u:*") == []
