"""Security events: one log line each, and a capped Redis stream to read back.

Events carry ids, addresses and reasons, never a token, password or key.
The stream keeps at most ``EVENTS_MAX`` entries (approximate trimming) and
expires after :data:`RETENTION` seconds without a new event.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from redis.exceptions import RedisError

from .clock import Clock, utc_iso

logger = logging.getLogger(__name__)

STREAM = "events"
RETENTION = 90 * 24 * 3600

#: Event types and the level they are logged at.
LEVELS = {
    "login": logging.INFO,
    "login_failed": logging.WARNING,
    "register": logging.INFO,
    "refresh_reused": logging.WARNING,
    "logout": logging.INFO,
    "logout_all": logging.INFO,
    "session_revoked": logging.INFO,
    "user_sessions_revoked": logging.INFO,
    "all_sessions_revoked": logging.WARNING,
    "user_created": logging.INFO,
    "user_type_changed": logging.WARNING,
    "key_rotated": logging.WARNING,
}


@dataclass(frozen=True)
class Event:
    id: str
    time: datetime
    type: str
    user_id: str | None
    session_id: str | None
    ip_address: str | None
    user_agent: str | None
    detail: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        """The shape ``flask events --json`` prints (CONTRACT.md)."""
        return {
            "id": self.id,
            "time": utc_iso(self.time.timestamp()),
            "type": self.type,
            "userId": self.user_id,
            "sessionId": self.session_id,
            "ipAddress": self.ip_address,
            "userAgent": self.user_agent,
            "detail": self.detail,
        }


class EventLog:
    def __init__(self, redis: Any, clock: Clock, max_events: int) -> None:
        self.redis = redis
        self.clock = clock
        self.max_events = max_events

    def record(
        self,
        type: str,
        *,
        user_id: str | None = None,
        session_id: str | None = None,
        ip_address: str | None = None,
        user_agent: str | None = None,
        **detail: Any,
    ) -> None:
        """Log one event and append it to the stream.

        A stream that cannot be written is logged, not raised: the action
        the event describes has already happened.
        """
        level = LEVELS.get(type, logging.INFO)
        logger.log(level, "security event %s user=%s session=%s ip=%s %s", type,
                   user_id or "-", session_id or "-", ip_address or "-",
                   json.dumps(detail, sort_keys=True) if detail else "")
        fields = {
            "t": str(self.clock.now()),
            "type": type,
            "user": user_id or "",
            "session": session_id or "",
            "ip": ip_address or "",
            "ua": (user_agent or "")[:256],
            "detail": json.dumps(detail, sort_keys=True),
        }
        try:
            pipe = self.redis.pipeline(transaction=False)
            pipe.xadd(STREAM, fields, maxlen=self.max_events, approximate=True)
            pipe.expire(STREAM, RETENTION)
            pipe.execute()
        except RedisError as err:
            logger.error("security event %s not stored: %s", type,
                         err.__class__.__name__)

    def read(self, after: str = "-", count: int = 1000) -> list[Event]:
        """Events after the id ``after`` (exclusive unless ``-``), oldest first."""
        start = after if after == "-" else "(" + after
        return [_event(i, f) for i, f in self.redis.xrange(STREAM, start, "+", count)]

    def follow(self, after: str = "$", block_ms: int = 500) -> Iterator[Event | None]:
        """Yield new events as they arrive; ``None`` after each idle wait.

        :param block_ms: how long one wait blocks; keep it below the client's
            socket timeout (:data:`app.redis_client.COMMAND_TIMEOUT`), or an
            idle stream reads as a dead server.
        """
        last = after
        while True:
            reply = self.redis.xread({STREAM: last}, block=block_ms, count=100)
            if not reply:
                yield None
                continue
            for entry_id, fields in reply[0][1]:
                last = entry_id
                yield _event(entry_id, fields)


def _event(entry_id: str, fields: dict[str, str]) -> Event:
    return Event(
        id=entry_id,
        time=datetime.fromtimestamp(float(fields["t"]), UTC),
        type=fields["type"],
        user_id=fields.get("user") or None,
        session_id=fields.get("session") or None,
        ip_address=fields.get("ip") or None,
        user_agent=fields.get("ua") or None,
        detail=json.loads(fields.get("detail") or "{}"),
    )
