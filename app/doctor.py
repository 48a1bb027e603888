"""Checks of a deployment: what its settings, Redis and database would do
badly, and what to change.

``flask doctor`` prints every check and exits 1 when one of them wants a
change. gunicorn logs the same findings once when it starts
(``gunicorn.conf.py``). Building the application never runs them: the checks
that need Redis or the database would connect, and ``flask db upgrade`` must
work on a host whose Redis is not up yet.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from redis.exceptions import RedisError, ResponseError
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from .config import Settings
from .models import db
from .redis_client import unavailable


@dataclass(frozen=True)
class Finding:
    """One check's verdict: what is the case and, if it is bad, what to change."""

    check: str
    ok: bool
    message: str
    fix: str = ""


# -- settings -----------------------------------------------------------------


def cookie_findings(settings: Settings) -> list[Finding]:
    if not settings.cookie_secure:
        return [Finding(
            "cookie", False,
            "COOKIE_SECURE=0: the refresh cookie travels over plain HTTP, where "
            "anyone on the path can read it",
            "serve HTTPS (TLS at the proxy) and remove COOKIE_SECURE",
        )]
    if not settings.refresh_cookie_name.startswith(("__Host-", "__Secure-")):
        return [Finding(
            "cookie", False,
            f"the refresh cookie {settings.refresh_cookie_name!r} has no __Host- "
            "prefix; a sibling subdomain could set one of the same name",
            "remove REFRESH_COOKIE_NAME (the default is __Host-refresh)",
        )]
    return [Finding("cookie", True, f"Secure, HttpOnly, SameSite=Strict, "
                                    f"{settings.refresh_cookie_name}")]


def site(origin: str) -> str:
    """The "site" of an origin for SameSite: its scheme and registrable domain.

    Without the Public Suffix List the registrable domain is taken to be the
    last two labels, which can only make two sites look like one (a.co.uk and
    b.co.uk), never one look like two: the check below may miss a problem
    but does not invent one.
    """
    parts = urlsplit(origin)
    host = (parts.hostname or "").rstrip(".").lower()
    try:
        ipaddress.ip_address(host)
    except ValueError:
        labels = host.split(".")
        host = ".".join(labels[-2:])
    return f"{parts.scheme}://{host}"


def _loopback(origin: str) -> bool:
    host = urlsplit(origin).hostname or ""
    return host == "localhost" or host.startswith("127.") or host == "::1"


def cors_findings(settings: Settings, api_origin: str | None = None) -> list[Finding]:
    """Can every allowed origin use the refresh cookie at all?

    The cookie is ``SameSite=Strict``, so a browser sends it only on requests
    from the API's own site (scheme included): from any other allowed origin
    a sign-in works, but the cookie never comes back to refresh or log out.

    :param api_origin: the origin browsers reach the API at; without it, the
        check can only see whether the origins disagree among themselves.
    """
    fix = ("serve the SPA from the API's site (app.example.com beside "
           "api.example.com, both https) and list only such origins in "
           "CORS_ORIGINS")
    if api_origin:
        home = site(api_origin)
        foreign = [o for o in settings.cors_origins if site(o) != home]
        if foreign:
            return [Finding(
                "cors", False,
                f"{', '.join(foreign)} {'is' if len(foreign) == 1 else 'are'} "
                f"cross-site to the API ({home}): the SameSite=Strict refresh "
                "cookie is never sent from there, so refresh and logout fail",
                fix,
            )]
        return [Finding("cors", True, f"every allowed origin is on {home}")]

    sites = sorted({site(o) for o in settings.cors_origins if not _loopback(o)})
    if len(sites) > 1:
        return [Finding(
            "cors", False,
            f"CORS_ORIGINS spans {len(sites)} sites ({', '.join(sites)}); the "
            "SameSite=Strict refresh cookie reaches the API from one site at "
            "most, so refresh fails on the others",
            fix,
        )]
    where = sites[0] if sites else "loopback addresses"
    return [Finding("cors", True, f"allowed origins are on {where}; run "
                                  "flask doctor --api-origin URL to compare "
                                  "them with the API's")]


# -- Redis ----------------------------------------------------------------------


def _nodes(client: Any) -> Iterator[tuple[str, Any]]:
    """Every server behind ``client``: itself, or each node of a cluster."""
    if hasattr(client, "get_nodes"):
        for node in client.get_nodes():
            yield node.name, client.get_redis_connection(node)
    else:
        yield "", client


def redis_findings(client: Any, cluster: bool) -> list[Finding]:
    """Would Redis evict sessions, or lose them on a restart?

    :param client: the service's client (``Redis`` or ``RedisCluster``).
    """
    try:
        nodes = list(_nodes(client))
        version = nodes[0][1].info("server")["redis_version"]
    except RedisError as err:
        return [Finding("redis", False, f"cannot be reached ({err.__class__.__name__})",
                        "start Redis, or correct REDIS_URL / REDIS_CLUSTER")]

    found = [Finding("redis", True, f"Redis {version}, "
                                    f"{len(nodes)} node{'s' * (len(nodes) > 1)}")]
    for name, node in nodes:
        try:
            config = node.config_get("*")
        except ResponseError:
            found.append(Finding(
                "redis config", False,
                f"{_on(name)}CONFIG GET is refused, so eviction and persistence "
                "cannot be checked",
                "make sure of maxmemory-policy noeviction and appendonly yes",
            ))
            continue
        found += [_eviction(name, config), _persistence(name, config),
                  _compact_hashes(name, config)]
        if cluster:
            found.append(_coverage(name, config))
    return found


def _on(name: str) -> str:
    return f"{name}: " if name else ""


def _eviction(name: str, config: dict[str, str]) -> Finding:
    policy = config.get("maxmemory-policy", "noeviction")
    if int(config.get("maxmemory", "0")) == 0 or policy == "noeviction":
        return Finding("redis eviction", True, f"{_on(name)}evicts nothing ({policy})")
    # volatile-* included: every key of this service has a TTL.
    return Finding(
        "redis eviction", False,
        f"{_on(name)}maxmemory-policy {policy} evicts keys when memory is full, and "
        "every key of this service has a TTL: sessions disappear (users are "
        "signed out) and failed-login windows are forgotten",
        "CONFIG SET maxmemory-policy noeviction, in redis.conf too (a full "
        "Redis then refuses new sessions with SERVICE_UNAVAILABLE)",
    )


def _persistence(name: str, config: dict[str, str]) -> Finding:
    fix = "appendonly yes with appendfsync everysec (or always), in redis.conf"
    if config.get("appendonly") == "yes":
        if config.get("appendfsync") == "no":
            return Finding(
                "redis persistence", False,
                f"{_on(name)}appendfsync no leaves flushing to the OS; a crash can "
                "lose the last half-minute of rotations and revocations",
                "appendfsync everysec",
            )
        fsync = config.get("appendfsync")
        return Finding("redis persistence", True,
                       f"{_on(name)}append-only file, fsync {fsync}")
    if config.get("save"):
        return Finding(
            "redis persistence", False,
            f"{_on(name)}RDB snapshots only; a restart loads the last snapshot, "
            "which can bring back sessions revoked since it was taken",
            fix,
        )
    return Finding(
        "redis persistence", False,
        f"{_on(name)}no persistence; a restart signs every user out",
        fix,
    )


#: Redis's own defaults: a user's hash (three fields per session, three for
#: the user) stays compact up to 41 sessions, with values of up to 64 bytes.
COMPACT_HASH_ENTRIES, COMPACT_HASH_VALUE = 128, 64


def _compact_hashes(name: str, config: dict[str, str]) -> Finding:
    # Redis 7 calls the encoding a listpack, Redis 6 a ziplist.
    prefix = ("hash-max-listpack" if "hash-max-listpack-entries" in config
              else "hash-max-ziplist")
    entries = int(config.get(f"{prefix}-entries", COMPACT_HASH_ENTRIES))
    value = int(config.get(f"{prefix}-value", COMPACT_HASH_VALUE))
    if entries >= COMPACT_HASH_ENTRIES and value >= COMPACT_HASH_VALUE:
        return Finding("redis memory", True, f"{_on(name)}compact hashes up to "
                                             f"{entries} fields of {value} bytes")
    return Finding(
        "redis memory", False,
        f"{_on(name)}{prefix}-entries {entries} and -value {value} are below "
        "Redis's defaults: a user's sessions leave the compact encoding sooner "
        "and cost two to three times the memory",
        f"CONFIG SET {prefix}-entries {COMPACT_HASH_ENTRIES} and "
        f"{prefix}-value {COMPACT_HASH_VALUE}, in redis.conf too",
    )


def _coverage(name: str, config: dict[str, str]) -> Finding:
    if config.get("cluster-require-full-coverage") == "no":
        return Finding("redis cluster", True, f"{_on(name)}a failed shard stops only "
                                              "its own slots")
    return Finding(
        "redis cluster", False,
        f"{_on(name)}cluster-require-full-coverage yes stops every request while "
        "any one shard has no master",
        "cluster-require-full-coverage no",
    )


# -- database -------------------------------------------------------------------


def database_findings(app: Flask) -> list[Finding]:
    """Is the database reachable, and are its migrations applied?"""
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    url = db.engine.url.render_as_string(hide_password=True)
    try:
        with db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            current = set(MigrationContext.configure(conn).get_current_heads())
    except SQLAlchemyError as err:
        return [Finding("database", False, f"{url} cannot be reached "
                                           f"({err.__class__.__name__})",
                        "start the database, or correct DATABASE_URL")]

    config = Config()
    config.set_main_option("script_location", app.extensions["migrate"].directory)
    heads = set(ScriptDirectory.from_config(config).get_heads())
    if current != heads:
        return [Finding("database", False,
                        f"{url}: schema at {', '.join(sorted(current)) or 'nothing'}, "
                        f"migrations at {', '.join(sorted(heads))}",
                        "flask --app wsgi db upgrade")]
    return [Finding("database", True, f"{url}, migrations applied")]


# -- all of it --------------------------------------------------------------------


def examine(app: Flask, api_origin: str | None = None) -> list[Finding]:
    """Every check, in an application context of ``app``."""
    state = app.extensions["token_service"]
    settings: Settings = state.settings
    found = cookie_findings(settings) + cors_findings(settings, api_origin)
    try:
        client = state.redis
    except Exception as err:  # a cluster client maps the slots when made
        if not unavailable(err):
            raise
        found.append(Finding("redis", False, f"cannot be reached "
                                             f"({err.__class__.__name__})",
                             "start Redis, or correct REDIS_URL / REDIS_CLUSTER"))
    else:
        found += redis_findings(client, settings.redis_cluster)
    return found + database_findings(app)


def startup_warnings(app: Flask) -> list[str]:
    """The findings to log when the server starts, one line each.

    The cookie's are left out: :func:`app.create_app` warns about those in
    every process already.
    """
    with app.app_context():
        found = examine(app)
        state = app.extensions["token_service"]
        if "redis" in state.__dict__:
            state.redis.close()  # opened here; nothing may outlive the check
        db.engine.dispose()
    return [f"{f.message}; change: {f.fix}" for f in found
            if not f.ok and f.check != "cookie"]


@click.command("doctor")
@click.option("--api-origin", metavar="URL",
              help="Where browsers reach the API, e.g. https://api.example.com.")
@with_appcontext
def doctor_command(api_origin: str | None) -> None:
    """Check the settings, Redis and the database; say what to change."""
    found = examine(current_app, api_origin)
    for finding in found:
        click.echo(f"{'ok  ' if finding.ok else 'WARN'}  {finding.check}: "
                   f"{finding.message}")
        if finding.fix:
            click.echo(f"      change: {finding.fix}")
    problems = sum(not f.ok for f in found)
    click.echo(f"{problems} thing{'s' * (problems != 1)} to change" if problems
               else "nothing to change")
    if problems:
        click.get_current_context().exit(1)


def register(app: Flask) -> None:
    app.cli.add_command(doctor_command)

