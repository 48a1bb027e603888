"""Access tokens: short-lived JWTs in the RFC 9068 profile.

Verification follows RFC 8725: the algorithm comes from the key the ``kid``
names, never from the token; every claim is required; ``iss``, ``aud`` and
``typ`` must match exactly. Expiry is checked against the service's clock so
tests can move time.
"""

from __future__ import annotations

import base64
import json
import secrets
from typing import Any, TypedDict

import jwt

from .clock import Clock
from .config import Settings
from .errors import Unauthenticated
from .keys import LEEWAY, KeyRing

TOKEN_TYPE = "at+jwt"  # noqa: S105 - a media type, not a secret
_REQUIRED = ["iss", "aud", "sub", "sid", "iat", "exp", "jti"]


class AccessClaims(TypedDict):
    iss: str
    aud: str
    sub: str
    sid: str
    iat: int
    exp: int
    jti: str


class AccessTokens:
    """Issues and verifies access tokens with the key ring."""

    def __init__(self, settings: Settings, ring: KeyRing, clock: Clock) -> None:
        self.settings = settings
        self.ring = ring
        self.clock = clock

    def issue(self, user_id: str, session_id: str) -> tuple[str, int]:
        """Sign a token for ``user_id`` in ``session_id``; returns it and its TTL."""
        key = self.ring.signing_key()
        now = int(self.clock.now())
        ttl = self.settings.access_token_ttl
        claims: AccessClaims = {
            "iss": self.settings.jwt_issuer,
            "aud": self.settings.jwt_audience,
            "sub": user_id,
            "sid": session_id,
            "iat": now,
            "exp": now + ttl,
            "jti": secrets.token_urlsafe(16),
        }
        token = jwt.encode(
            dict(claims),
            key.signing_key,
            algorithm=key.algorithm,
            headers={"kid": key.kid, "typ": TOKEN_TYPE},
        )
        return token, ttl

    def verify(self, token: str) -> AccessClaims:
        """Check signature, header and claims; return the claims.

        Does not consult Redis: revocation is checked by the caller
        (CONTRACT.md rule 4), so tokens still verify while Redis is down
        (rule 5).

        :raises Unauthenticated: for anything but a valid, unexpired token.
        """
        header = _unverified_header(token)
        kid = header.get("kid")
        typ = header.get("typ")
        if not isinstance(kid, str) or not isinstance(typ, str):
            raise Unauthenticated("header")
        if typ.lower() not in (TOKEN_TYPE, "application/" + TOKEN_TYPE):
            raise Unauthenticated("typ")

        key = self.ring.verifying_key(kid)
        if key is None:
            raise Unauthenticated("unknown kid")

        try:
            claims = jwt.decode(
                token,
                key.verifying_key,
                algorithms=[key.algorithm],
                audience=self.settings.jwt_audience,
                issuer=self.settings.jwt_issuer,
                options={
                    "require": _REQUIRED,
                    "verify_exp": False,  # checked below with our clock
                    "verify_iat": False,
                    "verify_nbf": False,
                    "strict_aud": True,
                },
            )
        except (jwt.PyJWTError, ValueError, TypeError) as err:
            raise Unauthenticated("invalid") from err

        now = self.clock.now()
        exp, iat = claims["exp"], claims["iat"]
        if not isinstance(exp, int) or not isinstance(iat, int):
            raise Unauthenticated("claims")
        # No leeway on exp: this clock is the one that set it. iat may be a
        # little ahead when another host's clock runs fast.
        if now >= exp or iat > now + LEEWAY:
            raise Unauthenticated("expired")
        for name in ("sub", "sid", "jti"):
            if not isinstance(claims[name], str):
                raise Unauthenticated("claims")

        return claims  # type: ignore[return-value]


def _unverified_header(token: str) -> dict[str, Any]:
    """The JOSE header of ``token``, read only to choose the key.

    Decodes the first segment alone: :func:`jwt.decode` then reads the whole
    token strictly, header included, under a signature that covers it, so
    nothing read here is trusted beyond the choice of ``kid``. (PyJWT's
    ``get_unverified_header`` decodes and checks all three segments, which
    doubled the parsing of every verification.)

    :raises Unauthenticated: the segment is not base64url-encoded JSON.
    """
    segment, dot, _ = token.partition(".")
    if not dot:
        raise Unauthenticated("malformed")
    try:
        padded = segment + "=" * (-len(segment) % 4)
        header = json.loads(base64.urlsafe_b64decode(padded))
    except (ValueError, TypeError, RecursionError) as err:
        raise Unauthenticated("malformed") from err
    if not isinstance(header, dict):
        raise Unauthenticated("malformed")
    return header
