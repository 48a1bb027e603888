"""The service on a real Redis Cluster: one slot per script, and a failover.

These tests always use the cluster. The rest of the suite runs against it
too with ``TEST_REDIS=cluster`` (``make test-cluster``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from flask import Flask
from redis.cluster import RedisCluster

from app import redis_scripts
from app.clock import SystemClock
from app.sessions import SessionStore, SessionUser, session_key
from tests.cluster import Cluster
from tests.conftest import ME, SESSIONS, Api, AppFactory, code

pytestmark = pytest.mark.own_redis

ANN = SessionUser("u-ann", "ann@x.test", "user", 1_700_000_000.0)


@pytest.fixture
def cluster(redis_cluster: Cluster) -> Cluster:
    redis_cluster.wait_healthy()
    redis_cluster.flushall()
    return redis_cluster


@pytest.fixture
def cluster_app(make_app: AppFactory, cluster: Cluster) -> Flask:
    return make_app({"REDIS_URL": cluster.url, "REDIS_CLUSTER": True})


@pytest.fixture
def store(cluster_app: Flask) -> Iterator[SessionStore]:
    with cluster_app.app_context():
        yield cluster_app.extensions["token_service"].sessions


def test_redis_cluster_setting_gives_a_cluster_client(store: SessionStore) -> None:
    assert isinstance(store.redis, RedisCluster)
    assert len(store.redis.get_primaries()) == 3


# -- one slot per operation -----------------------------------------------


@pytest.mark.parametrize("name", ["CREATE", "ROTATE", "REVOKE", "REVOKE_USER"])
def test_every_script_touches_only_keys_it_is_given(name: str) -> None:
    script = getattr(redis_scripts, name)
    # No key name is built inside a script: Redis Cluster checks that the
    # keys a call declares share a slot, and could not check a built one.
    calls = re.findall(r"redis\.call\('(\w+)',\s*([^,)]+)", script)
    assert calls
    assert all(re.fullmatch(r"KEYS\[\d\]", key.strip()) for _, key in calls)


def _users(count: int) -> list[SessionUser]:
    return [SessionUser(f"u-{n}", f"u{n}@x.test", "user", 1_700_000_000.0)
            for n in range(count)]


def test_users_spread_over_every_master_and_rotate_there(
    store: SessionStore, cluster: Cluster
) -> None:
    rotations = [store.create(user, "ua", None) for user in _users(30)]
    masters = {cluster.node_of(session_key(r.session_id)).port for r in rotations}
    assert len(masters) == 3

    for rotation in rotations:
        successor = store.rotate(rotation.token, "ua", None)
        assert successor.session_id == rotation.session_id
        assert store.revoke(rotation.session_id) == rotation.user.id


def test_iter_all_scans_every_master(store: SessionStore) -> None:
    ids = {store.create(user, "ua", None).session_id for user in _users(20)}
    ids |= {store.create(ANN, "ua", None).session_id for _ in range(3)}
    assert {info.id for info in store.iter_all()} == ids


def test_revoke_all_reaches_every_master(store: SessionStore) -> None:
    rotations = [store.create(user, "ua", None) for user in _users(20)]
    assert store.revoke_all() == 20
    assert list(store.iter_all()) == []
    assert store.get(rotations[0].session_id) is None


def test_list_user_and_revoke_user_on_the_cluster(store: SessionStore) -> None:
    ids = [store.create(ANN, "ua", None).session_id for _ in range(20)]
    store.revoke(ids[0])
    assert {info.id for info in store.list_user(ANN.id)} == set(ids[1:])
    assert store.revoke_user(ANN.id) == 19
    assert store.list_user(ANN.id) == []


def test_login_rate_limit_counts_on_the_cluster(make_app: AppFactory,
                                                cluster: Cluster) -> None:
    app = make_app({"REDIS_URL": cluster.url, "REDIS_CLUSTER": True,
                    "LOGIN_RATE_LIMIT": "2/minute"})
    api = Api(app)
    api.register()
    answers = [code(api.login(password="wrong password")) for _ in range(3)]
    assert answers == ["INVALID_CREDENTIALS", "INVALID_CREDENTIALS", "RATE_LIMITED"]
    assert code(api.login()) == "RATE_LIMITED"


def test_api_works_end_to_end_on_the_cluster(cluster_app: Flask) -> None:
    api = Api(cluster_app)
    api.register()
    assert api.call(ME)["data"]["me"]["email"] == "ann@x.test"
    assert api.refresh()["data"]["refreshToken"]["user"]["email"] == "ann@x.test"
    assert len(api.call(SESSIONS)["data"]["sessions"]) == 1


# -- failover ---------------------------------------------------------------


@dataclass
class Device:
    """One signed-in browser, from an address of its own."""

    api: Api
    address: str
    session_id: str = ""

    def refresh(self) -> str | None:
        body = self.api.refresh()
        return code(body)

    def me(self) -> str | None:
        return code(self.api.call(ME))


def _devices(app: Flask, count: int) -> list[Device]:
    """Signed-in browsers of ``count`` users, whose keys spread over the masters."""
    devices = []
    for number in range(count):
        device = Device(Api(app, user_agent=f"device {number}"), f"198.51.100.{number}")
        device.api.client.environ_base["REMOTE_ADDR"] = device.address
        assert code(device.api.register(f"device{number}@x.test")) is None
        cookie = device.api.refresh_cookie
        assert cookie
        device.session_id = cookie.split(".")[0]
        devices.append(device)
    return devices


def test_failover_moves_a_masters_slots_to_its_replica_without_a_restart(
    make_app: AppFactory, cluster: Cluster
) -> None:
    app = make_app({"REDIS_URL": cluster.url, "REDIS_CLUSTER": True},
                   app_clock=SystemClock())
    devices = _devices(app, 24)
    state = app.extensions["token_service"]

    # The victim holds sessions but not the events stream, so that the
    # devices elsewhere are left with nothing on it.
    victims = [node for node in cluster.masters()
               if node is not cluster.node_of("events")]
    victim = next(node for node in victims
                  if any(cluster.node_of(session_key(d.session_id)) is node
                         for d in devices))
    replica = cluster.replica_of(victim)
    on_victim = [d for d in devices if cluster.node_of(session_key(d.session_id))
                 is victim]
    untouched = [d for d in devices if d not in on_victim]
    assert on_victim and untouched

    # Replication is asynchronous: let the replica acknowledge every write.
    assert victim.client().execute_command("WAIT", 1, 2000) >= 1
    killed_at = time.monotonic()
    victim.stop()

    served_again_at = None
    seen: dict[str, set[str | None]] = {"untouched": set(), "on_victim": set()}
    deadline = killed_at + 20
    while time.monotonic() < deadline:
        for device in untouched:
            seen["untouched"].update({device.me(), device.refresh()})
        answers = {device.refresh() for device in on_victim}
        seen["on_victim"] |= answers
        if answers == {None}:
            served_again_at = time.monotonic()
            break
        time.sleep(0.05)

    assert served_again_at is not None, "the moved slots were never served again"
    failover_seconds = served_again_at - killed_at
    print(f"\nfailover: slots served again {failover_seconds:.2f} s after the kill")
    # Nobody elsewhere noticed; on the victim's slots nobody was signed out.
    assert seen["untouched"] == {None}
    assert seen["on_victim"] <= {None, "SERVICE_UNAVAILABLE"}
    assert replica.info("replication")["role"] == "master"
    for device in on_victim:
        assert device.me() is None
    with app.app_context():
        # Every device's session survived.
        for device in devices:
            assert state.sessions.get(device.session_id) is not None

    # The old master comes back as a replica of the one that replaced it.
    victim.start()
    cluster.wait_healthy()
    assert victim.info("replication")["role"] == "slave"
