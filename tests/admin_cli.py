"""Running the administration commands in tests: in-process and as processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from click.testing import Result
from flask import Flask

from app import create_app
from app.clock import SystemClock
from tests.conftest import Api, code

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLASK = os.path.join(os.path.dirname(sys.executable), "flask")
PASSWORD = "correct horse"


class Cli:
    """``flask ...`` of one app through Flask's ``CliRunner``."""

    def __init__(self, app: Flask) -> None:
        self.runner = app.test_cli_runner()

    def __call__(self, *args: str, input: str | None = None) -> Result:
        return self.runner.invoke(args=list(args), input=input)

    def ok(self, *args: str, input: str | None = None) -> str:
        """Run a command that must succeed; returns its standard output."""
        result = self(*args, input=input)
        assert result.exit_code == 0, (result.output, result.exception)
        return result.stdout

    def fails(self, *args: str, status: int = 1, input: str | None = None) -> str:
        """Run a command that must fail with one line on standard error."""
        result = self(*args, input=input)
        assert_one_line_failure(result.exit_code, result.stdout, result.stderr, status)
        return result.stderr.strip()


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


def assert_one_line_failure(exit_code: int, stdout: str, stderr: str,
                            status: int) -> None:
    assert exit_code == status, (exit_code, stdout, stderr)
    assert "Traceback" not in stderr
    assert stdout == ""
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ")


def flask(*args: str, env: dict[str, str], input: str | None = None,
          timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``flask --app wsgi ...`` as its own process, as an operator runs it."""
    return subprocess.run(
        [FLASK, "--app", "wsgi", *args], cwd=ROOT, env=env, input=input,
        capture_output=True, text=True, timeout=timeout, check=False,
    )


def process_env(redis_url: str, database_url: str, cluster: bool = False,
                **extra: Any) -> dict[str, str]:
    """The environment of a deployment on the test Redis and database."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("FLASK_", "REDIS_", "DATABASE_"))}
    env.update({
        "REDIS_URL": redis_url,
        "REDIS_CLUSTER": "1" if cluster else "0",
        "DATABASE_URL": database_url,
        "ARGON2_TIME_COST": "1",
        "ARGON2_MEMORY_COST": "1024",
        "ARGON2_PARALLELISM": "1",
    })
    env.update({k: str(v) for k, v in extra.items()})
    return env


def deployment(app: Flask, tmp_path: Any, **extra: Any) -> dict[str, str]:
    """The environment of a deployment on ``app``'s Redis and a fresh SQLite
    database migrated as production migrates it (``flask db upgrade``)."""
    settings = app.extensions["token_service"].settings
    env = process_env(settings.redis_url, f"sqlite:///{tmp_path}/deploy.sqlite3",
                      settings.redis_cluster, **extra)
    migrated = flask("db", "upgrade", env=env)
    assert migrated.returncode == 0, migrated.stderr
    return env


def app_on(env: dict[str, str]) -> Flask:
    """An application in this process on a deployment's database and Redis."""
    return create_app(
        {"DATABASE_URL": env["DATABASE_URL"], "REDIS_URL": env["REDIS_URL"],
         "REDIS_CLUSTER": env["REDIS_CLUSTER"], "ARGON2_TIME_COST": 1,
         "ARGON2_MEMORY_COST": 1024, "ARGON2_PARALLELISM": 1},
        clock=SystemClock(), environ={},
    )
