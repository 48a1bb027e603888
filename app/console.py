"""What the administration commands print: tables for people, JSON for programs.

``sessions list --json`` and ``events --json`` have the shapes CONTRACT.md
fixes, with times in ISO 8601 UTC. Anything a client chose (a user agent, an
e-mail address typed into a failed login) is escaped before it reaches a
terminal, so that no escape sequence in it can rewrite an operator's screen.
"""

from __future__ import annotations

import json
import string
from typing import Any

from .admin import KeyState
from .clock import utc_iso
from .events import LEVELS, Event
from .sessions import SessionInfo

#: Widest user agent a table shows; ``--json`` has it whole.
AGENT_WIDTH = 40
_PLAIN = frozenset(string.ascii_letters + string.digits + "._-@:/+")
_TYPE_WIDTH = max(map(len, LEVELS))


def printable(value: str | None, width: int | None = None) -> str:
    """``value`` with control characters escaped, cut to ``width``; ``-`` if empty."""
    if not value:
        return "-"
    shown = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in value)
    if width and len(shown) > width:
        shown = shown[: width - 1] + "…"
    return shown


def table(headers: list[str], rows: list[list[str]]) -> str:
    """Left-aligned columns two spaces apart, headers first."""
    lines = [headers, *rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(headers))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True))
        .rstrip()
        for line in lines
    )


def short_time(seconds: float) -> str:
    """A time for a table: ISO 8601 UTC to the second."""
    return utc_iso(seconds, "seconds")


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def session_json(session: SessionInfo) -> dict[str, Any]:
    """One element of ``sessions list --json`` (CONTRACT.md)."""
    return {
        "id": session.id,
        "userId": session.user.id,
        "email": session.user.email,
        "createdAt": utc_iso(session.created_at),
        "lastUsedAt": utc_iso(session.last_used_at),
        "expiresAt": utc_iso(session.expires_at),
        "userAgent": session.user_agent,
        "ipAddress": session.ip_address,
    }


def session_table(sessions: list[SessionInfo]) -> str:
    return table(
        ["ID", "EMAIL", "CREATED", "LAST USED", "EXPIRES", "IP", "USER AGENT"],
        [[s.id, printable(s.user.email), short_time(s.created_at),
          short_time(s.last_used_at), short_time(s.expires_at),
          printable(s.ip_address), printable(s.user_agent, AGENT_WIDTH)]
         for s in sessions],
    )


def session_fields(session: SessionInfo) -> str:
    """One session as a two-column table of its fields."""
    return table(["FIELD", "VALUE"],
                 [[name, printable(str(value) if value else None)]
                  for name, value in session_json(session).items()])


def _value(value: Any) -> str:
    if isinstance(value, str) and value and set(value) <= _PLAIN:
        return value
    return json.dumps(value)  # quotes, and escapes what a client wrote


def event_line(event: Event) -> str:
    """One event on one line: time, type, then ``name=value`` pairs."""
    fields = [("user", event.user_id), ("session", event.session_id),
              ("ip", event.ip_address), ("ua", event.user_agent),
              *sorted(event.detail.items())]
    pairs = " ".join(f"{name}={_value(value)}" for name, value in fields
                     if value is not None)
    return f"{utc_iso(event.time.timestamp())}  {event.type:<{_TYPE_WIDTH}}  {pairs}"


def event_json(event: Event) -> str:
    """One line of ``events --json`` (CONTRACT.md)."""
    return json.dumps(event.as_json())


KEY_HEADERS = ["KID", "ALG", "STATE", "CREATED", "RETIRED", "IN JWKS UNTIL"]


def key_row(state: KeyState) -> list[str]:
    key, until = state.key, state.published_until
    return [key.kid, key.algorithm, state.state, short_time(key.created_at.timestamp()),
            short_time(key.retired_at.timestamp()) if key.retired_at else "-",
            short_time(until.timestamp()) if until else "-"]


def key_fields(state: KeyState) -> str:
    """One key as a two-column table, then its public JWK (never the private key)."""
    text = table(["FIELD", "VALUE"],
                 [[header.lower(), value]
                  for header, value in zip(KEY_HEADERS, key_row(state), strict=True)])
    if state.key.public_jwk:
        text += "\n" + json.dumps(state.key.public_jwk, indent=2)
    return text
