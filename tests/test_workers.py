"""End to end: gunicorn with two workers, a real Redis, the CLI as a process.

Each worker keeps its own key ring and its own connections, as in
production. Which worker answered a request is read from gunicorn's access
log (its ``%(p)s`` atom), so nothing is added to the service for the tests.
Requests go out several at a time, each on a new connection, until both
workers have answered.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import jwt
import pytest
import requests
from flask import Flask

from tests.admin_cli import FLASK, ROOT, app_on, deployment, flask
from tests.conftest import LOGIN, ME, ORIGIN, REFRESH
from tests.servers import free_port

GUNICORN = os.path.join(os.path.dirname(sys.executable), "gunicorn")
PASSWORD = "correct horse"
COOKIE = "__Host-refresh"
#: KEY_RING_REFRESH of these deployments: the bound a rotation must meet.
RING_REFRESH = 2
#: Room for a round of requests and for clocks read by different processes.
SLACK = 1.0


class Gunicorn:
    """``gunicorn -w 2 wsgi:app`` on a loopback port, with a pid access log."""

    def __init__(self, env: dict[str, str], logs: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.access_log = os.path.join(logs, "access.log")
        self.output = open(os.path.join(logs, "gunicorn.log"), "w")  # noqa: SIM115
        self.process = subprocess.Popen(
            [GUNICORN, "-w", "2", "-b", f"127.0.0.1:{self.port}",
             "--access-logfile", self.access_log,
             "--access-logformat", "%(p)s %(q)s %(s)s", "wsgi:app"],
            cwd=ROOT, env=env, stdout=self.output, stderr=subprocess.STDOUT,
        )
        self.tags = itertools.count()

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if requests.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except (requests.ConnectionError, requests.Timeout):
                pass  # not listening yet, or a worker still importing
            assert self.process.poll() is None, "gunicorn exited"
            assert time.monotonic() < deadline, "gunicorn did not start"
            time.sleep(0.05)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.output.close()

    def graphql(self, query: str, variables: dict[str, Any] | None = None,
                **headers: str) -> tuple[str, requests.Response]:
        """POST one operation on a new connection; returns its tag and response."""
        tag = f"t{next(self.tags)}"
        response = requests.post(
            f"{self.url}/graphql?probe={tag}",
            json={"query": query, "variables": variables},
            headers={"Origin": ORIGIN, "Connection": "close", **headers},
            timeout=10,
        )
        return tag, response

    def workers_of(self, tags: list[str], timeout: float = 5) -> list[str]:
        """The pid of the worker that answered each tagged request."""
        deadline = time.monotonic() + timeout
        while True:
            with open(self.access_log) as log:
                seen = dict(_tag_and_pid(line) for line in log if "probe=" in line)
            if all(tag in seen for tag in tags):
                return [seen[tag] for tag in tags]
            assert time.monotonic() < deadline, "requests missing from the access log"
            time.sleep(0.02)

    def on_both_workers(
        self, send: Callable[[], tuple[str, requests.Response]], at_least: int = 8
    ) -> list[tuple[str, requests.Response]]:
        """Send requests four at a time until both workers answered some, and
        at least ``at_least`` went out; returns each worker pid and response."""
        answers: list[tuple[str, requests.Response]] = []
        deadline = time.monotonic() + 20
        with ThreadPoolExecutor(4) as pool:
            while len(answers) < at_least or len({pid for pid, _ in answers}) < 2:
                assert time.monotonic() < deadline, "one worker answered everything"
                sent = list(pool.map(lambda _: send(), range(4)))
                pids = self.workers_of([tag for tag, _ in sent])
                answers += zip(pids, [response for _, response in sent], strict=True)
        return answers


def _tag_and_pid(line: str) -> tuple[str, str]:
    pid, query, _ = line.split()
    return query.removeprefix("probe="), pid


def error_code(response: requests.Response) -> str | None:
    errors = response.json().get("errors") or []
    return errors[0]["extensions"]["code"] if errors else None


@pytest.fixture
def env(app: Flask, tmp_path: Any) -> dict[str, str]:
    """A deployment with one user, ann@x.test, created with the CLI."""
    env = deployment(app, tmp_path, KEY_RING_REFRESH=RING_REFRESH)
    created = flask("users", "create", "ann@x.test", env=env, input=PASSWORD)
    assert created.returncode == 0, created.stderr
    return env


@pytest.fixture
def server(env: dict[str, str], tmp_path: Any) -> Iterator[Gunicorn]:
    server = Gunicorn(env, str(tmp_path))
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def login(server: Gunicorn) -> tuple[str, requests.Response]:
    return server.graphql(LOGIN, {"email": "ann@x.test", "password": PASSWORD})


def test_cli_revocation_is_refused_by_both_workers_at_once(server: Gunicorn,
                                                          env: dict[str, str]) -> None:
    _, signed_in = login(server)
    access = signed_in.json()["data"]["loginUser"]["accessToken"]
    refresh = signed_in.cookies[COOKIE]
    bearer = {"Authorization": f"Bearer {access}"}
    before = server.on_both_workers(lambda: server.graphql(ME, **bearer))
    assert all(error_code(response) is None for _, response in before)

    revoked = flask("sessions", "revoke-user", "ann@x.test", env=env)
    assert revoked.stdout == "revoked 1 session of ann@x.test\n", revoked.stderr

    access_after = server.on_both_workers(lambda: server.graphql(ME, **bearer))
    refresh_after = server.on_both_workers(
        lambda: server.graphql(REFRESH, Cookie=f"{COOKIE}={refresh}"))
    assert {error_code(r) for _, r in access_after} == {"UNAUTHENTICATED"}
    assert {error_code(r) for _, r in refresh_after} == {"REFRESH_TOKEN_INVALID"}


def test_rotation_reaches_both_workers_within_key_ring_refresh(
    server: Gunicorn, env: dict[str, str]
) -> None:
    login(server)  # one first key, before two workers could each make one
    warm = server.on_both_workers(lambda: login(server))  # both cache the ring
    (old,) = {kid_of(response) for _, response in warm}
    old_token = warm[0][1].json()["data"]["loginUser"]["accessToken"]

    # Sign in all along, from before the rotation until both workers sign with
    # the new key: the bound holds wherever each worker is in its interval.
    rotation = subprocess.Popen([FLASK, "--app", "wsgi", "keys", "rotate"], cwd=ROOT,
                                env=env, stdout=subprocess.PIPE, text=True)
    signed: list[tuple[float, str, str]] = []  # when, which worker, which kid
    new, committed = "", 0.0
    while not new or len({pid for _, pid, kid in signed if kid == new}) < 2:
        if not new and rotation.poll() is not None:
            new, committed = rotated_key(rotation, env)
        assert not new or time.time() < committed + RING_REFRESH + SLACK, signed
        with ThreadPoolExecutor(2) as pool:
            sent = list(pool.map(lambda _: login(server), range(2)))
        pids = server.workers_of([tag for tag, _ in sent])
        signed += [(time.time(), pid, kid_of(response))
                   for pid, (_, response) in zip(pids, sent, strict=True)]
        time.sleep(0.2)

    lags = {pid: min(t for t, p, kid in signed if p == pid and kid == new) - committed
            for pid in {pid for _, pid, _ in signed}}
    assert max(lags.values()) <= RING_REFRESH + SLACK, lags
    assert {kid for _, _, kid in signed} == {old, new}
    assert all(t - committed <= RING_REFRESH + SLACK
               for t, _, kid in signed if kid == old)

    jwks = requests.get(f"{server.url}/.well-known/jwks.json", timeout=5).json()
    assert {key["kid"] for key in jwks["keys"]} == {old, new}
    still = server.on_both_workers(
        lambda: server.graphql(ME, Authorization=f"Bearer {old_token}"))
    assert {error_code(r) for _, r in still} == {None}


def kid_of(response: requests.Response) -> str:
    token = response.json()["data"]["loginUser"]["accessToken"]
    found: str = jwt.get_unverified_header(token)["kid"]
    return found


def rotated_key(rotation: subprocess.Popen[str],
                env: dict[str, str]) -> tuple[str, float]:
    """The kid ``flask keys rotate`` made, and when: its ``created_at`` is read
    before the commit, so a lag measured from it is never too short."""
    assert rotation.returncode == 0 and rotation.stdout is not None
    out = rotation.stdout.read()
    assert f"within {RING_REFRESH} s" in out
    new = out.split()[3]
    app = app_on(env)
    with app.app_context():
        return new, app.extensions["token_service"].keys.get(new).created_at.timestamp()
