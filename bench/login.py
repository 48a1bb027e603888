"""Login cost: the argon2id hash, and what the service spends around it.

Two measurements, each timing sequential ``loginUser`` calls against a bare
argon2id verify with the same parameters, alternated so that both meet the
same machine:

- with the configured parameters (the defaults unless ``ARGON2_*`` say
  otherwise): the login latency users see, next to the hash alone;
- on a second server whose parameters make the hash nearly free: the
  service's own overhead stands out of the noise of a 64 MiB hash.
"""

from __future__ import annotations

import os
import time
from statistics import median
from typing import Any

from argon2 import PasswordHasher

from app.config import DEFAULTS

from .servers import BIN, Processes, Server
from .targets import LOGIN, PASSWORD, REGISTER, bench_email, graphql

SAMPLES = int(os.environ.get("BENCH_LOGINS", "21"))
#: Cheap logins are quick. One user signs in every time, so past
#: ``SESSIONS_PER_USER`` (100) each login would also end a session and record
#: it: stay below, as users do.
CHEAP_SAMPLES = min(10 * SAMPLES, 90)
#: The cheapest parameters argon2id accepts with one lane.
CHEAP = {"time_cost": 1, "memory_cost": 8, "parallelism": 1}
PLAIN = "{ __typename }"


def parameters(env: dict[str, str]) -> dict[str, int]:
    def value(name: str) -> int:
        return int(env.get(name) or os.environ.get(name) or DEFAULTS[name].default or 0)

    return {"time_cost": value("ARGON2_TIME_COST"),
            "memory_cost": value("ARGON2_MEMORY_COST"),
            "parallelism": value("ARGON2_PARALLELISM")}


def _hasher(parameters: dict[str, int]) -> PasswordHasher:
    return PasswordHasher(time_cost=parameters["time_cost"],
                          memory_cost=parameters["memory_cost"],
                          parallelism=parameters["parallelism"])


def _timed(port: int, hasher: PasswordHasher,
           samples: int) -> tuple[float, float, float]:
    """Median milliseconds of one login, one bare verify and one plain request.

    The plain request, ``{ __typename }``, is the cost of an HTTP round trip
    to the service that does no work: connection, gunicorn, Flask, GraphQL.
    """
    email = bench_email(0)
    graphql(port, REGISTER, {"email": email, "password": PASSWORD})
    stored = hasher.hash(PASSWORD)
    logins, verifies, plain = [], [], []
    for _ in range(samples):
        start = time.perf_counter()
        graphql(port, LOGIN, {"email": email, "password": PASSWORD})
        logins.append(time.perf_counter() - start)

        start = time.perf_counter()
        hasher.verify(stored, PASSWORD)
        verifies.append(time.perf_counter() - start)

        start = time.perf_counter()
        graphql(port, PLAIN)
        plain.append(time.perf_counter() - start)
    return median(logins) * 1000, median(verifies) * 1000, median(plain) * 1000


def measure(procs: Processes, env: dict[str, str], server: Server) -> dict[str, Any]:
    configured = parameters(env)
    login_ms, verify_ms, plain_ms = _timed(server.port, _hasher(configured), SAMPLES)

    cheap_env = {
        **env,
        "DATABASE_URL": f"sqlite:///{procs.dir}/users-cheap.sqlite3",
        "ARGON2_TIME_COST": str(CHEAP["time_cost"]),
        "ARGON2_MEMORY_COST": str(CHEAP["memory_cost"]),
        "ARGON2_PARALLELISM": str(CHEAP["parallelism"]),
    }
    procs.run("migrate-cheap", [os.path.join(BIN, "flask"), "--app", "wsgi", "db",
                                "upgrade"], cheap_env)
    cheap_server = procs.start_gunicorn("service-cheap-hash", "wsgi:app", cheap_env)
    cheap_login_ms, cheap_verify_ms, cheap_plain_ms = _timed(
        cheap_server.port, _hasher(CHEAP), CHEAP_SAMPLES)
    return {
        "samples": SAMPLES,
        "parameters": configured,
        "login_ms": login_ms,
        "verify_ms": verify_ms,
        "overhead_ms": login_ms - verify_ms,
        "plain_ms": plain_ms,
        "cheap_parameters": CHEAP,
        "cheap_samples": CHEAP_SAMPLES,
        "cheap_login_ms": cheap_login_ms,
        "cheap_verify_ms": cheap_verify_ms,
        "cheap_overhead_ms": cheap_login_ms - cheap_verify_ms,
        "cheap_plain_ms": cheap_plain_ms,
        "cheap_own_ms": cheap_login_ms - cheap_verify_ms - cheap_plain_ms,
    }
