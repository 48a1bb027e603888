"""``make bench``: this service, flask-jwt-extended and a floor, side by side.

One Redis, three gunicorn servers with the same settings, and wrk in its own
process. Each round runs every target on both scenarios, in an order that
rotates from round to round, so slow drift of the machine (other work, CPU
frequency) lands on every target alike. The report gives medians over the
rounds, and ratios taken within each round before their median is taken.

Settings, from the environment:

- ``BENCH_ROUNDS`` (3): rounds of every target and scenario.
- ``BENCH_DURATION`` (5): seconds of one wrk run.
- ``BENCH_CONNECTIONS`` (4): clients, each on its own connection and thread.
- ``BENCH_WORKERS`` (the number of cores): gunicorn sync workers per target
  (:mod:`bench.gunicorn_conf`).
- ``BENCH_LOGINS`` (21): logins timed for the login cost.
"""

from __future__ import annotations

import json
import os
import platform
import secrets
import subprocess
import sys
import time
from typing import Any

import redis
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from . import login, report
from .gunicorn_conf import SUMMARY as GUNICORN
from .servers import BIN, ROOT, Processes, Server
from .targets import COOKIE, ORIGIN, TARGETS, Client, Target, User

HERE = os.path.dirname(os.path.abspath(__file__))
LUA = os.path.join(HERE, "client.lua")
SCENARIOS = ("refresh", "me")

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
DURATION = int(os.environ.get("BENCH_DURATION", "5"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "4"))
WARM_UP = 1


def signing_key_pem() -> str:
    key = ed25519.Ed25519PrivateKey.generate()
    return key.private_bytes(serialization.Encoding.PEM,
                             serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def service_env(procs: Processes, common: dict[str, str]) -> dict[str, str]:
    return {
        **common,
        "DATABASE_URL": f"sqlite:///{procs.dir}/users.sqlite3",
        "CORS_ORIGINS": ORIGIN,
        "COOKIE_SECURE": "0",
    }


def redis_reads(client: redis.Redis) -> int:
    """Reads the server has processed: one per round trip of a client."""
    return int(client.info("stats")["total_reads_processed"])


class Bench:
    def __init__(self, procs: Processes, redis_client: redis.Redis, out_dir: str):
        self.procs = procs
        self.redis = redis_client
        self.out_dir = out_dir
        self.users: dict[str, list[User]] = {}
        #: Per target, the sessions the ``me`` runs use; never refreshed.
        self.clients: dict[str, list[Client]] = {}

    def set_up(self, server: Server, target: Target) -> None:
        self.users[target.name] = [target.new_user(server.port, i)
                                   for i in range(CONNECTIONS)]
        self.clients[target.name] = self.sign_in(server, target)

    def sign_in(self, server: Server, target: Target) -> list[Client]:
        return [target.sign_in(server.port, u) for u in self.users[target.name]]

    def load(self, server: Server, target: Target, scenario: str,
             duration: int) -> dict[str, Any]:
        """One wrk run; returns what it measured, per request where it can."""
        if scenario == "refresh":
            clients = self.sign_in(server, target)
        else:
            clients = self.clients[target.name]
        clients_path = os.path.join(self.out_dir, f"clients-{target.name}.txt")
        with open(clients_path, "w") as out:
            out.writelines(f"{c.cookie}\t{c.access_token}\n" for c in clients)
        out_path = os.path.join(self.out_dir, "wrk-last.json")
        request = target.refresh if scenario == "refresh" else target.me
        n = str(len(clients))
        argv = ["wrk", "-t", n, "-c", n, "-d", f"{duration}s", "--timeout", "5s",
                "-s", LUA, server.url, "--", scenario, request.method, request.path,
                COOKIE, clients_path, out_path, request.body]

        cpu, redis_cpu, reads = (server.cpu_seconds(), self.procs.redis_cpu_seconds(),
                                 redis_reads(self.redis))
        subprocess.run(argv, check=True, timeout=duration + 60,
                       stdout=subprocess.DEVNULL)
        cpu = server.cpu_seconds() - cpu
        redis_cpu = self.procs.redis_cpu_seconds() - redis_cpu
        reads = redis_reads(self.redis) - reads - 1  # less our own INFO

        with open(out_path) as result_file:
            result = json.load(result_file)
        done = max(1, result["requests"])
        return {
            "target": target.name,
            "scenario": scenario,
            "requests": result["requests"],
            "rps": result["requests"] / (result["duration_us"] / 1e6),
            "p50_ms": result["p50_us"] / 1000,
            "p99_ms": result["p99_us"] / 1000,
            "cpu_us": cpu / done * 1e6,
            "redis_cpu_us": redis_cpu / done * 1e6,
            "round_trips": reads / done,
            "errors": result["errors"] + result["socket_errors"],
        }


def machine() -> dict[str, Any]:
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "cpu": model, "python": platform.python_version(),
            "kernel": platform.release()}


def main() -> int:
    stamp = time.strftime("%Y-%m-%dT%H-%M-%S")
    out_dir = os.path.join(HERE, "results", stamp)
    os.makedirs(out_dir, exist_ok=True)
    procs = Processes(out_dir)
    try:
        redis_client = procs.start_redis()
        common = {"REDIS_URL": procs.redis_url, "JWT_PRIVATE_KEY": signing_key_pem(),
                  # Long enough that no access token expires during the run.
                  "ACCESS_TOKEN_TTL": "3600"}
        env = {
            "service": service_env(procs, common),
            "jwt_extended": common,
            "floor": {**common, "FLOOR_SECRET": secrets.token_hex(32)},
        }
        procs.run("migrate", [os.path.join(BIN, "flask"), "--app", "wsgi", "db",
                              "upgrade"], env["service"])
        servers = {t.name: procs.start_gunicorn(t.name, t.app, env[t.name])
                   for t in TARGETS}

        bench = Bench(procs, redis_client, out_dir)
        for target in TARGETS:
            bench.set_up(servers[target.name], target)
            for scenario in SCENARIOS:
                bench.load(servers[target.name], target, scenario, WARM_UP)

        runs: list[dict[str, Any]] = []
        for number in range(ROUNDS):
            order = TARGETS[number % len(TARGETS):] + TARGETS[:number % len(TARGETS)]
            scenarios = SCENARIOS if number % 2 == 0 else SCENARIOS[::-1]
            for target in order:
                for scenario in scenarios:
                    run = bench.load(servers[target.name], target, scenario, DURATION)
                    run["round"] = number
                    runs.append(run)
                    print(f"round {number + 1}/{ROUNDS} {target.name:13} "
                          f"{scenario:8} {run['rps']:8.0f} req/s", file=sys.stderr)

        logins = login.measure(procs, env["service"], servers["service"])
    finally:
        procs.close()

    result = {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "machine": machine(),
        "settings": {"rounds": ROUNDS, "duration_s": DURATION,
                     "connections": CONNECTIONS, "gunicorn": GUNICORN},
        "runs": runs,
        "summary": report.summarise(runs, [t.name for t in TARGETS], SCENARIOS),
        "login": logins,
    }
    with open(os.path.join(out_dir, "result.json"), "w") as out:
        json.dump(result, out, indent=2)
    table = report.markdown(result, {t.name: t.label for t in TARGETS})
    with open(os.path.join(out_dir, "result.md"), "w") as out:
        out.write(table)
    print(table)
    print(f"results: {os.path.relpath(out_dir, ROOT)}/", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

