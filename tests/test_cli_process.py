"""The administration commands as an operator runs them: ``flask --app wsgi``
in a process of its own, on a terminal or a pipe."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import time
from typing import Any

from flask import Flask

from tests.admin_cli import (
    FLASK,
    ROOT,
    app_on,
    assert_one_line_failure,
    deployment,
    flask,
)
from tests.conftest import UNKNOWN_SESSION, Api, code
from tests.servers import free_port

PASSWORD = "correct horse"


def read_until(fd: int, wanted: bytes, timeout: float = 10) -> bytes:
    """Read a terminal until ``wanted`` appears (or it closes)."""
    seen = b""
    deadline = time.monotonic() + timeout
    while wanted not in seen:
        left = deadline - time.monotonic()
        assert left > 0, f"waited for {wanted!r}, got {seen!r}"
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            try:
                chunk = os.read(fd, 1024)
            except OSError:  # the terminal closed: the process is gone
                break
            if not chunk:
                break
            seen += chunk
    return seen


def test_users_create_asks_twice_on_a_terminal_and_echoes_nothing(
    app: Flask, tmp_path: Any
) -> None:
    env = deployment(app, tmp_path)
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [FLASK, "--app", "wsgi", "users", "create", "bob@x.test"], cwd=ROOT, env=env,
        stdin=follower, stdout=follower, stderr=follower, start_new_session=True,
    )
    os.close(follower)
    try:
        read_until(leader, b"Password: ")
        os.write(leader, b"correct horse\n")
        read_until(leader, b"Repeat for confirmation: ")
        os.write(leader, b"correct hose\n")
        shown = read_until(leader, b"Password: ")  # a mismatch asks again
        os.write(leader, PASSWORD.encode() + b"\n")
        read_until(leader, b"Repeat for confirmation: ")
        os.write(leader, PASSWORD.encode() + b"\n")
        shown += read_until(leader, b"created user bob@x.test")
        assert process.wait(10) == 0
    finally:
        process.kill()
        os.close(leader)

    assert b"do not match" in shown
    assert b"horse" not in shown and b"hose" not in shown
    assert code(Api(app_on(env)).login("bob@x.test", PASSWORD)) is None


def test_events_follow_prints_history_then_new_events_until_ctrl_c(
    app: Flask, tmp_path: Any
) -> None:
    env = deployment(app, tmp_path)
    log = app.extensions["token_service"].events
    log.record("login_failed", email="before@x.test")
    process = subprocess.Popen(
        [FLASK, "--app", "wsgi", "events", "--follow", "--json"], cwd=ROOT, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert process.stdout is not None
        first = json.loads(process.stdout.readline())
        log.record("login_failed", email="after@x.test")
        second = json.loads(process.stdout.readline())

        process.send_signal(signal.SIGINT)
        status = process.wait(10)
    finally:
        process.kill()

    assert first["detail"] == {"email": "before@x.test"}
    assert second["detail"] == {"email": "after@x.test"}
    assert status == 0
    assert process.stderr is not None
    assert "Traceback" not in process.stderr.read()


def test_unreachable_redis_is_one_line_from_a_real_process(
    app: Flask, tmp_path: Any
) -> None:
    env = deployment(app, tmp_path, REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",
                     REDIS_CLUSTER="0")

    done = flask("sessions", "list", env=env)

    assert_one_line_failure(done.returncode, done.stdout, done.stderr, 3)


def test_unknown_session_is_one_line_from_a_real_process(
    app: Flask, tmp_path: Any
) -> None:
    env = deployment(app, tmp_path)

    done = flask("sessions", "revoke", UNKNOWN_SESSION, env=env)

    assert_one_line_failure(done.returncode, done.stdout, done.stderr, 1)
    assert done.stderr == f"error: no live session {UNKNOWN_SESSION}\n"
