"""The user agent a session remembers: short enough to keep the session small.

A session shows its ``userAgent`` so that people can tell their devices
apart ("Chrome on Windows", "Safari on an iPhone"). Browsers send 70 to 150
characters, most of them compatibility tokens every browser repeats. Redis
keeps a small hash in one compact allocation (a listpack) only while every
value is at most ``hash-max-listpack-value`` bytes, 64 by default; one
longer value turns the whole session into a hash table about three times
its size. So the session keeps the user agent without the tokens that tell
no browser from another, and at most :data:`MAX_BYTES` bytes of it.

The security events keep what the browser sent (:mod:`app.events`).
"""

from __future__ import annotations

import re

#: Redis's default ``hash-max-listpack-value`` (``hash-max-ziplist-value``
#: before Redis 7), which counts bytes.
MAX_BYTES = 64

#: Tokens that name no browser: the Mozilla prefix every browser sends,
#: the engine tokens of WebKit and Gecko, and iOS build numbers.
_NOISE = re.compile(
    r"Mozilla/5\.0 ?"
    r"|AppleWebKit/[\d.]+\+? ?"
    r"|\(KHTML, like Gecko\) ?"
    r"|Gecko/\d{8} ?"
    r"| ?Mobile/\w+(?=\s|$)"
)
#: Chromium and WebKit browsers also claim Safari; their own token says more.
_SAFARI = re.compile(r" ?Safari/[\d.]+")
_OWN_TOKEN = re.compile(r"\b(?:Chrome|CriOS|Version|FxiOS|EdgiOS|OPR|Edg)/")


def compact(user_agent: str | None) -> str:
    """The user agent as a session keeps it; ``""`` for none.

    Short user agents (``curl/8.5.0``, a test's ``"Phone"``) come back as
    they are.
    """
    if not user_agent:
        return ""
    text = user_agent.strip()
    if len(text.encode()) <= MAX_BYTES:
        return text
    text = _NOISE.sub("", text)
    if _OWN_TOKEN.search(text):
        text = _SAFARI.sub("", text)
    text = " ".join(text.split())
    # Cut at a character boundary: never half of a UTF-8 sequence.
    return text.encode()[:MAX_BYTES].decode(errors="ignore")
