"""CPU per request of refresh, ``me`` and login, in-process, without gunicorn.

Calls the WSGI callables of the service and of the floor (:mod:`bench.floor`)
directly, as a server would, against one throw-away Redis, and prints the
process CPU time of the best of ``--repeat`` runs of ``--requests`` calls
each: a quick way to see what a change to the request path saves, before
``make bench`` measures it under load. Refresh carries each rotated cookie
into the next call, as the benchmark's clients do; ``me`` sends a bearer
token and no cookie. Login signs in 200 users in turn, each from an address
of its own, with the cheapest argon2id hash (tens of µs), so what it prints
is nearly all the service's own work; the floor has no login to compare.

Usage: ``.venv/bin/python -m bench.inprocess [--requests N] [--repeat N]
[--profile refresh|me|login [--sort tottime|cumtime]]``. On a busy machine
the noise is a few tens of µs: run it more than once.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import secrets
import tempfile
import time
from collections.abc import Callable
from io import BytesIO
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from werkzeug.test import EnvironBuilder

from tests.servers import RedisServer

ORIGIN = "http://127.0.0.1:5000"
REFRESH = ("mutation { refreshToken { accessToken expiresIn "
           "user { id email userType createdAt } } }")
ME = "{ me { id email userType createdAt } }"
PASSWORD = "correct horse battery staple"
REGISTER = ("mutation ($email: String!, $password: String!) { "
            "registerUser(email: $email, password: $password) { accessToken } }")
LOGIN = ("mutation ($email: String!, $password: String!) { "
         "loginUser(email: $email, password: $password) { accessToken expiresIn "
         "user { id email userType createdAt } } }")


def _pem() -> str:
    key = ed25519.Ed25519PrivateKey.generate()
    return key.private_bytes(serialization.Encoding.PEM,
                             serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


class Caller:
    """One client of a WSGI app: a fixed request, and the cookie it was given."""

    def __init__(self, app: Any, path: str, headers: dict[str, str],
                 body: bytes = b"", address: str = "127.0.0.1") -> None:
        self.app = app
        self.body = body
        self.environ = EnvironBuilder(path, method="POST", headers=headers,
                                      data=body, content_type="application/json",
                                      environ_base={"REMOTE_ADDR": address}
                                      ).get_environ()
        self.cookie: str | None = None

    def __call__(self) -> bytes:
        environ = dict(self.environ, **{"wsgi.input": BytesIO(self.body)})
        if self.cookie:
            environ["HTTP_COOKIE"] = self.cookie
        return b"".join(self.app(environ, self._start))

    def _start(self, status: str, headers: list[tuple[str, str]]) -> None:
        for name, value in headers:
            if name.lower() == "set-cookie":
                self.cookie = value.partition(";")[0]


def _json(query: str, variables: dict[str, str] | None = None) -> bytes:
    return json.dumps({"query": query, "variables": variables}).encode()


def service(redis_url: str, pem: str) -> dict[str, Callable[[], object]]:
    """The service's refresh and ``me`` calls, each one request."""
    from app import create_app
    from app.models import db

    database = os.path.join(tempfile.mkdtemp(prefix="bench-"), "bench.db")
    app = create_app({
        "REDIS_URL": redis_url, "DATABASE_URL": f"sqlite:///{database}",
        "COOKIE_SECURE": "0", "ACCESS_TOKEN_TTL": 3600, "JWT_PRIVATE_KEY": pem,
        # The cheapest hash argon2id allows: a login's own cost stands out.
        "ARGON2_MEMORY_COST": 8, "ARGON2_TIME_COST": 1, "ARGON2_PARALLELISM": 1,
    }, environ={})
    with app.app_context():
        db.create_all()
    register = Caller(app, "/graphql", {"Origin": ORIGIN}, _json(
        'mutation { registerUser(email: "bench@example.com", '
        'password: "correct horse battery staple") { accessToken } }'))
    answer = json.loads(register())
    bearer = "Bearer " + answer["data"]["registerUser"]["accessToken"]
    refresh = Caller(app, "/graphql", {"Origin": ORIGIN}, _json(REFRESH))
    refresh.cookie = register.cookie
    me = Caller(app, "/graphql", {"Authorization": bearer}, _json(ME))
    return {"refresh": refresh, "me": me, "login": Logins(app)}


class Logins:
    """``loginUser`` with the right password, each call a user and an address
    of its own in turn, so that up to about 20,000 calls (the default is
    5,050) no user reaches ``SESSIONS_PER_USER`` and no address the cookie
    operations ceiling."""

    USERS = 200

    def __init__(self, app: Any) -> None:
        self.callers = []
        for n in range(self.USERS):
            email, address = f"login{n}@example.com", f"10.0.{n // 250}.{n % 250 + 1}"
            variables = {"email": email, "password": PASSWORD}
            Caller(app, "/graphql", {"Origin": ORIGIN},
                   _json(REGISTER, variables), address)()
            self.callers.append(Caller(app, "/graphql", {"Origin": ORIGIN},
                                       _json(LOGIN, variables), address))
        self.turn = 0

    def __call__(self) -> bytes:
        self.turn += 1
        return self.callers[self.turn % self.USERS]()


def floor(redis_url: str, pem: str) -> dict[str, Callable[[], object]]:
    """The floor's refresh and ``me`` calls, each one request."""
    os.environ.update(REDIS_URL=redis_url, JWT_PRIVATE_KEY=pem,
                      FLOOR_SECRET=secrets.token_hex(32), ACCESS_TOKEN_TTL="3600")
    from bench import floor as bare

    login = Caller(bare.app, "/login", {},
                   json.dumps({"id": "1", "email": "bench@example.com"}).encode())
    bearer = "Bearer " + json.loads(login())["accessToken"]
    refresh = Caller(bare.app, "/refresh", {"Origin": ORIGIN})
    refresh.cookie = login.cookie
    me = Caller(bare.app, "/me", {"Authorization": bearer})
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
    parser.add_argument("--profile", choices=("refresh", "me", "login"),
                        help="print the service's cProfile for one scenario")
    parser.add_argument("--sort", choices=("tottime", "cumtime"), default="tottime",
                        help="the order of --profile's lines")
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
            pstats.Stats(profile).sort_stats(options.sort).print_stats(40)
            return
        bare = floor(redis_server.url, pem)
        print("scenario  service µs  floor µs  floor/service")
        for scenario in ("refresh", "me"):
            mine = best(ours[scenario], options.requests, options.repeat)
            base = best(bare[scenario], options.requests, options.repeat)
            print(f"{scenario:<9} {mine:>10.0f} {base:>9.0f} {base / mine:>14.2f}")
        login = best(ours["login"], options.requests, options.repeat)
        print(f"{'login':<9} {login:>10.0f}         -              -")
    finally:
        redis_server.close()


if __name__ == "__main__":
    main()
