"""CPU per request of refresh and ``me``, in-process, without gunicorn.

Drives the service and the floor (:mod:`bench.floor`) through werkzeug's test
client against one throw-away Redis, and prints the process CPU time of the
best of ``--repeat`` runs of ``--requests`` calls each: a quick way to see
what a change to the request path saves, before ``make bench`` measures it
under load. Each client carries its rotated refresh cookie into its next
call, as in the benchmark.

Usage: ``.venv/bin/python -m bench.inprocess [--requests N] [--repeat N]
[--profile refresh|me]``. The machine's noise is a few tens of µs.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import secrets
import tempfile
import time
from collections.abc import Callable

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from werkzeug.test import Client

from tests.servers import RedisServer

ORIGIN = "http://127.0.0.1:5000"
REFRESH = ("mutation { refreshToken { accessToken expiresIn "
           "user { id email userType createdAt } } }")
ME = "{ me { id email userType createdAt } }"


def _pem() -> str:
    key = ed25519.Ed25519PrivateKey.generate()
    return key.private_bytes(serialization.Encoding.PEM,
                             serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def service(redis_url: str, pem: str) -> dict[str, Callable[[], object]]:
    """The service's refresh and ``me`` calls, each one request."""
    from app import create_app
    from app.models import db

    database = os.path.join(tempfile.mkdtemp(prefix="bench-"), "bench.db")
    app = create_app({
        "REDIS_URL": redis_url, "DATABASE_URL": f"sqlite:///{database}",
        "COOKIE_SECURE": "0", "ACCESS_TOKEN_TTL": 3600, "JWT_PRIVATE_KEY": pem,
        "ARGON2_MEMORY_COST": 1024, "ARGON2_TIME_COST": 1,
        "ARGON2_PARALLELISM": 1,
    }, environ={})
    with app.app_context():
        db.create_all()
    client = app.test_client()
    answer = client.post("/graphql", headers={"Origin": ORIGIN}, json={
        "query": 'mutation { registerUser(email: "bench@example.com", '
                 'password: "correct horse battery staple") { accessToken } }',
    }).get_json()
    bearer = {"Authorization": "Bearer "
              + answer["data"]["registerUser"]["accessToken"]}

    def refresh() -> object:
        return client.post("/graphql", headers={"Origin": ORIGIN},
                           json={"query": REFRESH})

    def me() -> object:
        return client.post("/graphql", headers=bearer, json={"query": ME})

    return {"refresh": refresh, "me": me}


def floor(redis_url: str, pem: str) -> dict[str, Callable[[], object]]:
    """The floor's refresh and ``me`` calls, each one request."""
    os.environ.update(REDIS_URL=redis_url, JWT_PRIVATE_KEY=pem,
                      FLOOR_SECRET=secrets.token_hex(32), ACCESS_TOKEN_TTL="3600")
    from bench import floor as bare

    client = Client(bare.app)
    answer = client.post("/login", json={"id": "1", "email": "bench@example.com"})
    bearer = {"Authorization": "Bearer " + answer.get_json()["accessToken"]}

    def refresh() -> object:
        return client.post("/refresh", headers={"Origin": ORIGIN})

    def me() -> object:
        return client.post("/me", headers=bearer)

    return {"refresh": refresh, "me": me}


def best(call: Callable[[], object], requests: int, repeat: int) -> float:
    """µs of process CPU per call, the best of ``repeat`` runs."""
    for _ in range(50):
        call()  # warm caches: documents, keys, connections
    runs = []
    for _ in range(repeat):
        start = time.process_time()
        for _ in range(requests):
            call()
        runs.append((time.process_time() - start) / requests * 1e6)
    return min(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--profile", choices=("refresh", "me"),
                        help="print the service's cProfile for one scenario")
    options = parser.parse_args()

    redis_server = RedisServer().start()
    try:
        pem = _pem()
        ours = service(redis_server.url, pem)
        if options.profile:
            call = ours[options.profile]
            for _ in range(50):
                call()
            profile = cProfile.Profile()
            profile.runcall(lambda: [call() for _ in range(options.requests)])
            pstats.Stats(profile).sort_stats("tottime").print_stats(40)
            return
        bare = floor(redis_server.url, pem)
        print("scenario  service µs  floor µs  floor/service")
        for scenario in ("refresh", "me"):
            mine = best(ours[scenario], options.requests, options.repeat)
            base = best(bare[scenario], options.requests, options.repeat)
            print(f"{scenario:<9} {mine:>10.0f} {base:>9.0f} {base / mine:>14.2f}")
    finally:
        redis_server.close()


if __name__ == "__main__":
    main()
