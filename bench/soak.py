"""A bounded soak: mixed traffic against gunicorn and a real Redis, then a
check that Redis gives back every key and byte once the lifetimes pass.

Everything runs on this machine's loopback: a ``redis-server`` of its own,
``gunicorn wsgi:app`` on a free port, and several client processes. Each
client process plays many browsers, one cookie jar and one client address
(``X-Forwarded-For`` through ``TRUSTED_PROXIES=1``) each, and behaves like
the demo SPA: it refreshes before its access token expires, signs in again
when its session has reached its end, and otherwise registers, signs in,
refreshes, asks ``me`` and signs out at random. Every answer that is not a
success counts as an error; the run passes with none.

Lifetimes are short (``ACCESS_TOKEN_TTL`` 15 s, ``REFRESH_TOKEN_TTL`` 20 s,
``SESSION_MAX_AGE`` 40 s) so that sessions end every way they can during the
run. After the traffic stops the soak waits until every key with a lifetime
has gone and compares Redis's key count and used memory with the start.
The security events stream is the one key meant to stay: it is capped at
``EVENTS_MAX`` entries and reported on its own.

    .venv/bin/python bench/soak.py --duration 300
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import redis
import requests

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from app.redis_client import redis_server_binary  # noqa: E402

BIN = os.path.dirname(sys.executable)
EVENTS = "events"

#: The service's settings for the soak; lifetimes short enough to end often.
SETTINGS = {
    "ACCESS_TOKEN_TTL": "15",
    "REFRESH_TOKEN_TTL": "20",
    "SESSION_MAX_AGE": "40",
    "REFRESH_REUSE_GRACE": "10",
    "EVENTS_MAX": "1000",
    "REGISTER_RATE_LIMIT": "1000/minute",
    "TRUSTED_PROXIES": "1",
    "COOKIE_SECURE": "0",  # plain HTTP on loopback
    "ARGON2_TIME_COST": "1",
    "ARGON2_MEMORY_COST": "8192",
    "ARGON2_PARALLELISM": "1",
}
#: The longest any key but the events stream lives after its last write:
#: the rate-limit windows are a minute long.
LONGEST_TTL = 60

PASSWORD = "soak test password"
REGISTER = """mutation($email: String!, $password: String!) {
  registerUser(email: $email, password: $password) { accessToken expiresIn } }"""
LOGIN = """mutation($email: String!, $password: String!) {
  loginUser(email: $email, password: $password) { accessToken expiresIn } }"""
REFRESH = "mutation { refreshToken { accessToken expiresIn } }"
ME = "{ me { id email } }"
LOGOUT = "mutation { logout }"

#: Seconds kept clear of a deadline, so that a request in flight never races it.
MARGIN = 2.0
#: Browsers one client process plays at once; a new one takes a random slot.
BROWSERS = 60
#: Client addresses from the documentation ranges (RFC 5737): only ever
#: written into X-Forwarded-For, never connected to.
ADDRESSES = [f"{net}.{host}" for net in ("192.0.2", "198.51.100", "203.0.113")
             for host in range(1, 255)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- the browsers -------------------------------------------------------------


@dataclass
class Browser:
    """One user's browser: a cookie jar, an access token, what it knows of
    its session's deadlines."""

    email: str
    address: str
    http: requests.Session = field(default_factory=requests.Session)
    registered: bool = False
    token_expires: float = 0.0
    session_ends: float = 0.0  # the refresh cookie's Max-Age, as a time
    token: str | None = None

    @property
    def signed_in(self) -> bool:
        return self.token is not None and time.monotonic() < self.session_ends - MARGIN


class Client:
    """One client process's loop over its browsers."""

    def __init__(self, url: str, origin: str, number: int, seed: int) -> None:
        self.url = url
        self.origin = origin
        self.number = number
        self.random = random.Random(seed)
        self.browsers: list[Browser] = []
        self.created = 0
        self.latencies: dict[str, list[float]] = {}
        self.errors: dict[str, int] = {}
        self.samples: list[str] = []

    def new_browser(self) -> Browser:
        """A new user's browser, in a free slot or in place of another one."""
        self.created += 1
        slot = len(self.browsers) if len(self.browsers) < BROWSERS \
            else self.random.randrange(BROWSERS)
        browser = Browser(f"soak-{self.number}-{self.created}-{os.getpid()}@x.test",
                          ADDRESSES[self.number * BROWSERS + slot])
        if slot == len(self.browsers):
            self.browsers.append(browser)
        else:
            self.browsers[slot] = browser  # the old one's session simply lapses
        return browser

    def call(self, browser: Browser, name: str, query: str,
             variables: dict[str, Any] | None = None, bearer: bool = False) -> Any:
        headers = {"Origin": self.origin, "X-Forwarded-For": browser.address,
                   "User-Agent": f"soak/{self.number}"}
        if bearer and browser.token:
            headers["Authorization"] = f"Bearer {browser.token}"
        started = time.monotonic()
        try:
            response = browser.http.post(f"{self.url}/graphql", headers=headers,
                                         json={"query": query, "variables": variables},
                                         timeout=10)
            body = response.json()
            failure = None if response.status_code == 200 and "errors" not in body \
                else f"{response.status_code} {_codes(body)}"
        except (requests.RequestException, ValueError) as err:
            body, failure = None, err.__class__.__name__
        self.latencies.setdefault(name, []).append(time.monotonic() - started)
        if failure:
            key = f"{name}: {failure}"
            self.errors[key] = self.errors.get(key, 0) + 1
            return None
        return body["data"]

    def grant(self, browser: Browser, name: str, query: str,
              variables: dict[str, Any] | None = None) -> None:
        data = self.call(browser, name, query, variables)
        if data is None:
            browser.token = None
            return
        payload = data[name]
        now = time.monotonic()
        browser.token = payload["accessToken"]
        browser.token_expires = now + payload["expiresIn"]
        cookie = next((c for c in browser.http.cookies if c.name == "refresh"), None)
        browser.session_ends = float(cookie.expires) - time.time() + now \
            if cookie and cookie.expires else now

    def step(self) -> None:
        if len(self.browsers) < 5 or self.random.random() < 0.02:
            browser = self.new_browser()
        else:
            browser = self.random.choice(self.browsers)

        if not browser.registered:
            self.grant(browser, "registerUser", REGISTER,
                       {"email": browser.email, "password": PASSWORD})
            browser.registered = browser.token is not None
            return
        if not browser.signed_in:
            browser.http.cookies.clear()  # a browser drops an expired cookie
            self.grant(browser, "loginUser", LOGIN,
                       {"email": browser.email, "password": PASSWORD})
            return
        if time.monotonic() > browser.token_expires - MARGIN:
            self.grant(browser, "refreshToken", REFRESH)
            return

        roll = self.random.random()
        if roll < 0.45:
            self.call(browser, "me", ME, bearer=True)
        elif roll < 0.85:
            self.grant(browser, "refreshToken", REFRESH)
        else:
            self.call(browser, "logout", LOGOUT, bearer=True)
            browser.token = None


def _codes(body: Any) -> str:
    if not isinstance(body, dict):
        return "not JSON"
    return ",".join(e.get("extensions", {}).get("code", "?")
                    for e in body.get("errors") or [])


def run_client(url: str, origin: str, number: int, until: float, max_requests: int,
               results: Any) -> None:
    client = Client(url, origin, number, seed=number)
    sent = 0
    while time.time() < until and sent < max_requests:
        client.step()
        sent += 1
    results.put({"latencies": client.latencies, "errors": client.errors,
                 "browsers": client.created})


# -- the servers ----------------------------------------------------------------


class Servers:
    """The soak's own redis-server and gunicorn, stopped however the run ends."""

    def __init__(self, workers: int, database_url: str | None) -> None:
        self.dir = tempfile.mkdtemp(prefix="soak-")
        self.redis_port = free_port()
        self.port = free_port()
        self.workers = workers
        self.database_url = database_url or f"sqlite:///{self.dir}/soak.sqlite3"
        self.processes: list[subprocess.Popen[bytes]] = []
        self.log_path = os.path.join(self.dir, "gunicorn.log")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("FLASK_", "REDIS_", "DATABASE_"))}
        env.update(SETTINGS)
        env.update({"REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/0",
                    "DATABASE_URL": self.database_url,
                    "CORS_ORIGINS": self.url})
        return env

    def start(self) -> redis.Redis:
        self.processes.append(subprocess.Popen(
            [redis_server_binary(), "--port", str(self.redis_port),
             "--bind", "127.0.0.1", "--dir", self.dir, "--save", "",
             "--appendonly", "yes", "--maxmemory-policy", "noeviction"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        ))
        client = redis.Redis(port=self.redis_port, decode_responses=True)
        _wait(lambda: client.ping(), "redis-server")

        subprocess.run([os.path.join(BIN, "flask"), "--app", "wsgi", "db", "upgrade"],
                       cwd=ROOT, env=self.env(), check=True, capture_output=True)
        log = open(self.log_path, "w")  # noqa: SIM115 - closed with the process
        self.processes.append(subprocess.Popen(
            [os.path.join(BIN, "gunicorn"), "--workers", str(self.workers),
             "--bind", f"127.0.0.1:{self.port}", "wsgi:app"],
            cwd=ROOT, env=self.env(), stdout=log, stderr=subprocess.STDOUT,
        ))
        _wait(lambda: requests.get(f"{self.url}/readyz", timeout=1).ok, "gunicorn")
        return client

    def stop_gunicorn(self) -> None:
        gunicorn = self.processes.pop()
        gunicorn.terminate()
        gunicorn.wait(30)

    def close(self) -> None:
        for process in reversed(self.processes):
            process.terminate()
            process.wait(30)


def _wait(ready: Any, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if ready():
                return
        except (redis.RedisError, requests.RequestException):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start")
        time.sleep(0.05)


# -- measuring Redis ---------------------------------------------------------------


def snapshot(client: redis.Redis) -> dict[str, int]:
    """Keys and memory, the events stream counted apart."""
    memory = client.info("memory")
    kinds: dict[str, int] = {}
    for key in client.scan_iter(count=1000):
        kind = key.split(":", 1)[0] if key != EVENTS else EVENTS
        kinds[kind] = kinds.get(kind, 0) + 1
    stream = client.memory_usage(EVENTS) or 0
    return {
        "keys": int(client.dbsize()),
        "keys_but_events": sum(n for k, n in kinds.items() if k != EVENTS),
        "users_with_sessions": kinds.get("u", 0),
        "rate_limit_windows": kinds.get("rl", 0),
        "used_memory": int(memory["used_memory"]),
        "dataset_memory": int(memory["used_memory_dataset"]),
        "events_stream_memory": int(stream),
        "events_stream_entries": int(client.xlen(EVENTS)),
    }


class Sampler(threading.Thread):
    """Samples Redis once a second; keeps the peaks."""

    def __init__(self, client: redis.Redis) -> None:
        super().__init__(daemon=True)
        self.client = client
        self.peak: dict[str, int] = {}
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(1.0):
            now = snapshot(self.client)
            self.peak = {k: max(v, self.peak.get(k, 0)) for k, v in now.items()}


# -- the run ------------------------------------------------------------------------


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000


def soak(args: argparse.Namespace) -> dict[str, Any]:
    servers = Servers(args.workers, args.database_url)
    try:
        client = servers.start()
        start = snapshot(client)
        sampler = Sampler(client)
        sampler.start()

        began = time.time()
        context = multiprocessing.get_context("spawn")
        results = context.Queue()
        clients = [context.Process(target=run_client, args=(
            servers.url, servers.url, number, began + args.duration,
            args.max_requests, results)) for number in range(args.processes)]
        for process in clients:
            process.start()
        outcomes = [results.get(timeout=args.duration + 120) for _ in clients]
        for process in clients:
            process.join(30)
        traffic_seconds = time.time() - began
        sampler.stopped.set()
        sampler.join()
        at_end = snapshot(client)

        servers.stop_gunicorn()
        with open(servers.log_path) as log:
            server_errors = sum("ERROR" in line or "Traceback" in line for line in log)

        # Wait for every lifetime to run out: the keys, not a fixed sleep.
        stopped = time.monotonic()
        deadline = stopped + LONGEST_TTL + int(SETTINGS["SESSION_MAX_AGE"]) + 30
        while True:
            after = snapshot(client)
            if after["keys_but_events"] <= start["keys_but_events"] or \
                    time.monotonic() > deadline:
                break
            time.sleep(1)
        drained_in = time.monotonic() - stopped
    finally:
        servers.close()

    latencies: dict[str, list[float]] = {}
    errors: dict[str, int] = {}
    for outcome in outcomes:
        for name, values in outcome["latencies"].items():
            latencies.setdefault(name, []).extend(values)
        for name, count in outcome["errors"].items():
            errors[name] = errors.get(name, 0) + count
    total = sum(len(v) for v in latencies.values())

    memory_back = after["used_memory"] - after["events_stream_memory"] \
        <= start["used_memory"] + args.memory_slack
    return {
        "duration_s": round(traffic_seconds, 1),
        "client_processes": args.processes,
        "gunicorn_workers": args.workers,
        "database": "postgresql" if args.database_url else "sqlite",
        "browsers": sum(o["browsers"] for o in outcomes),
        "requests": total,
        "requests_per_s": round(total / traffic_seconds, 1),
        "errors": sum(errors.values()),
        "error_kinds": errors,
        "server_log_errors": server_errors,
        "operations": {
            name: {"count": len(values),
                   "p50_ms": round(percentile(values, 0.50), 1),
                   "p95_ms": round(percentile(values, 0.95), 1),
                   "p99_ms": round(percentile(values, 0.99), 1),
                   "mean_ms": round(statistics.fmean(values) * 1000, 1)}
            for name, values in sorted(latencies.items())
        },
        "redis": {"start": start, "peak": sampler.peak, "end_of_traffic": at_end,
                  "after_ttls": after, "drained_in_s": round(drained_in, 1)},
        "keys_back_to_start": after["keys_but_events"] == start["keys_but_events"],
        "memory_back_to_start": memory_back,
    }


def render(report: dict[str, Any]) -> str:
    redis_ = report["redis"]
    lines = [
        f"soak: {report['duration_s']} s of traffic from {report['client_processes']} "
        f"processes ({report['browsers']} browsers) against gunicorn with "
        f"{report['gunicorn_workers']} workers, Redis on loopback, "
        f"{report['database']}",
        f"requests: {report['requests']} ({report['requests_per_s']}/s), "
        f"errors: {report['errors']}, server log errors: "
        f"{report['server_log_errors']}",
    ]
    lines += [f"  {kind}: {count}" for kind, count in report["error_kinds"].items()]
    lines.append(f"{'operation':<14}{'count':>8}{'p50 ms':>9}{'p95 ms':>9}"
                 f"{'p99 ms':>9}")
    for name, stats in report["operations"].items():
        lines.append(f"{name:<14}{stats['count']:>8}{stats['p50_ms']:>9}"
                     f"{stats['p95_ms']:>9}{stats['p99_ms']:>9}")
    lines.append(f"{'redis':<22}{'start':>10}{'peak':>12}{'traffic end':>13}"
                 f"{'after TTLs':>12}")
    for key in ("keys", "users_with_sessions", "rate_limit_windows",
                "events_stream_entries", "used_memory", "dataset_memory",
                "events_stream_memory"):
        lines.append(f"{key:<22}{redis_['start'][key]:>10}"
                     f"{redis_['peak'].get(key, 0):>12}"
                     f"{redis_['end_of_traffic'][key]:>13}"
                     f"{redis_['after_ttls'][key]:>12}")
    lines += [
        f"drained {redis_['drained_in_s']} s after the traffic stopped",
        f"keys back to start (events stream apart): {report['keys_back_to_start']}",
        f"used memory back to start (events stream apart): "
        f"{report['memory_back_to_start']}",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=60,
                        help="seconds of traffic (default 60)")
    parser.add_argument("--processes", type=int, default=4,
                        help="client processes (default 4)")
    parser.add_argument("--workers", type=int, default=3,
                        help="gunicorn workers (default 3)")
    parser.add_argument("--max-requests", type=int, default=2_000_000,
                        help="requests per client process at most")
    parser.add_argument("--database-url",
                        help="a PostgreSQL URL to use instead of a fresh SQLite file")
    parser.add_argument("--memory-slack", type=int, default=64 * 1024,
                        help="bytes of used memory allowed above the start")
    parser.add_argument("--json", metavar="PATH", help="also write the report here")
    args = parser.parse_args()
    if args.processes * BROWSERS > len(ADDRESSES):
        parser.error(f"at most {len(ADDRESSES) // BROWSERS} processes")

    report = soak(args)
    print(render(report))
    if args.json:
        with open(args.json, "w") as out:
            json.dump(report, out, indent=2)
    passed = report["errors"] == 0 and report["server_log_errors"] == 0 and \
        report["keys_back_to_start"] and report["memory_back_to_start"]
    print("PASS" if passed else "FAIL")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
