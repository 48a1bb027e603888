"""Access-token verification refuses every forgery (RFC 8725), never with a 500."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from flask import Flask

from app.access_tokens import AccessTokens
from app.clock import ManualClock
from app.errors import Unauthenticated
from tests.conftest import ME, Api, AppFactory, code


@pytest.fixture
def tokens(app: Flask) -> Iterator[AccessTokens]:
    with app.app_context():
        yield app.extensions["token_service"].tokens


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def segments(token: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    header, payload, signature = token.split(".")
    pad = lambda s: s + "=" * (-len(s) % 4)  # noqa: E731
    return (
        json.loads(base64.urlsafe_b64decode(pad(header))),
        json.loads(base64.urlsafe_b64decode(pad(payload))),
        signature,
    )


def assemble(header: dict[str, Any], payload: dict[str, Any], signature: str) -> str:
    return ".".join(
        [b64(json.dumps(header).encode()), b64(json.dumps(payload).encode()), signature]
    )


def test_issued_token_has_the_contract_header_and_claims(
    tokens: AccessTokens, app: Flask
) -> None:
    token, ttl = tokens.issue("user-1", "session-1")
    header, claims, _ = segments(token)
    assert header["typ"] == "at+jwt" and header["alg"] == "EdDSA" and header["kid"]
    assert set(claims) == {"iss", "aud", "sub", "sid", "iat", "exp", "jti"}
    assert claims["exp"] - claims["iat"] == ttl == 300
    assert (claims["iss"], claims["aud"]) == ("token-service", "api")
    assert tokens.verify(token)["sid"] == "session-1"


def test_token_verifies_with_the_published_jwks(
    app: Flask, tokens: AccessTokens
) -> None:
    token, _ = tokens.issue("user-1", "session-1")
    jwks = app.test_client().get("/.well-known/jwks.json").get_json()
    key = jwt.PyJWK(jwks["keys"][0])
    claims = jwt.decode(
        token,
        key,
        algorithms=["EdDSA"],
        audience="api",
        options={"verify_exp": False, "verify_iat": False},
    )
    assert claims["sub"] == "user-1"


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
def test_alg_none_is_refused_in_any_case(tokens: AccessTokens, alg: str) -> None:
    header, claims, _ = segments(tokens.issue("u", "s")[0])
    with pytest.raises(Unauthenticated):
        tokens.verify(assemble({**header, "alg": alg}, claims, ""))


def test_hs256_signed_with_the_public_key_is_refused(tokens: AccessTokens) -> None:
    token, _ = tokens.issue("u", "s")
    header, claims, _ = segments(token)
    key = tokens.ring.verifying_key(header["kid"])
    assert key is not None
    public_pem = key.verifying_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signing_input = (
        f"{b64(json.dumps({**header, 'alg': 'HS256'}).encode())}."
        f"{b64(json.dumps(claims).encode())}"
    )
    import hashlib
    import hmac

    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    with pytest.raises(Unauthenticated):
        tokens.verify(f"{signing_input}.{b64(mac)}")


def test_tampered_payload_is_refused(tokens: AccessTokens) -> None:
    header, claims, signature = segments(tokens.issue("u", "s")[0])
    with pytest.raises(Unauthenticated):
        tokens.verify(assemble(header, {**claims, "sub": "admin"}, signature))


@pytest.mark.parametrize("junk", ["!", "=", " ", "*"])
def test_a_header_segment_with_junk_is_refused_though_its_kid_reads(
    tokens: AccessTokens, junk: str
) -> None:
    """The kid comes from a quick read of the header; the strict parse decides."""
    token = tokens.issue("u", "s")[0]
    header, rest = token.split(".", 1)
    with pytest.raises(Unauthenticated):
        tokens.verify(header[:8] + junk + header[8:] + "." + rest)


@pytest.mark.parametrize(
    "claim,value", [("iss", "evil"), ("aud", "other"), ("aud", ["api", "other"])]
)
def test_wrong_issuer_or_audience_is_refused(
    tokens: AccessTokens, claim: str, value: Any
) -> None:
    _, claims, _ = segments(tokens.issue("u", "s")[0])
    key = tokens.ring.signing_key()
    forged = jwt.encode(
        {**claims, claim: value},
        key.signing_key,
        algorithm="EdDSA",
        headers={"kid": key.kid, "typ": "at+jwt"},
    )
    with pytest.raises(Unauthenticated):
        tokens.verify(forged)


@pytest.mark.parametrize("typ", ["JWT", "jwt", "", "at+jwt2"])
def test_wrong_typ_is_refused(tokens: AccessTokens, typ: str) -> None:
    _, claims, _ = segments(tokens.issue("u", "s")[0])
    key = tokens.ring.signing_key()
    forged = jwt.encode(
        claims, key.signing_key, algorithm="EdDSA", headers={"kid": key.kid, "typ": typ}
    )
    with pytest.raises(Unauthenticated):
        tokens.verify(forged)


@pytest.mark.parametrize("missing", ["iss", "aud", "sub", "sid", "iat", "exp", "jti"])
def test_every_claim_is_required(tokens: AccessTokens, missing: str) -> None:
    _, claims, _ = segments(tokens.issue("u", "s")[0])
    key = tokens.ring.signing_key()
    del claims[missing]
    forged = jwt.encode(
        claims,
        key.signing_key,
        algorithm="EdDSA",
        headers={"kid": key.kid, "typ": "at+jwt"},
    )
    with pytest.raises(Unauthenticated):
        tokens.verify(forged)


def test_expired_token_is_refused(tokens: AccessTokens, clock: ManualClock) -> None:
    token, ttl = tokens.issue("u", "s")
    clock.advance(ttl)
    with pytest.raises(Unauthenticated):
        tokens.verify(token)


def test_unknown_kid_is_refused(tokens: AccessTokens) -> None:
    header, claims, signature = segments(tokens.issue("u", "s")[0])
    with pytest.raises(Unauthenticated):
        tokens.verify(assemble({**header, "kid": "nobody"}, claims, signature))


def test_token_signed_by_a_foreign_key_with_a_known_kid_is_refused(
    tokens: AccessTokens,
) -> None:
    from cryptography.hazmat.primitives.asymmetric import ed25519

    _, claims, _ = segments(tokens.issue("u", "s")[0])
    kid = tokens.ring.signing_key().kid
    forged = jwt.encode(
        claims,
        ed25519.Ed25519PrivateKey.generate(),
        algorithm="EdDSA",
        headers={"kid": kid, "typ": "at+jwt"},
    )
    with pytest.raises(Unauthenticated):
        tokens.verify(forged)


GARBAGE = [
    "",
    "a",
    "a.b",
    "a.b.c",
    "...",
    "e30.e30.",
    "\x00\xff",
    "é.é.é",
    b64(b'{"alg":"EdDSA","kid":[1],"typ":"at+jwt"}') + ".e30.AAAA",
    b64(b'{"alg":"EdDSA","kid":"x","typ":"at+jwt"}') + "." + b64(b"[]") + ".AA",
    "Bearer",
    "x" * 10000,
]


@pytest.mark.parametrize("garbage", GARBAGE)
def test_garbage_is_unauthenticated_never_a_500(api: Api, garbage: str) -> None:
    response = api.post(ME, token=garbage or "x")
    assert response.status_code == 200
    assert code(response.get_json()) == "UNAUTHENTICATED"


def test_each_forgery_over_http_is_unauthenticated(api: Api, app: Flask) -> None:
    api.register()
    header, claims, signature = segments(api.access_token or "")
    forgeries = [
        assemble({**header, "alg": "none"}, claims, ""),
        assemble(header, {**claims, "exp": claims["exp"] + 3600}, signature),
        assemble({**header, "kid": "other"}, claims, signature),
        assemble({**header, "typ": "JWT"}, claims, signature),
    ]
    for forged in forgeries:
        response = api.post(ME, token=forged)
        assert response.status_code == 200
        assert code(response.get_json()) == "UNAUTHENTICATED"


def test_missing_bearer_is_unauthenticated(api: Api) -> None:
    assert code(api.call(ME)) == "UNAUTHENTICATED"
    response = api.post(ME, Authorization="Basic dXNlcjpwYXNz")
    assert code(response.get_json()) == "UNAUTHENTICATED"


@pytest.mark.parametrize("algorithm", ["ES256", "RS256", "HS256"])
def test_every_supported_algorithm_round_trips(
    make_app: AppFactory, algorithm: str
) -> None:
    app = make_app({"JWT_ALGORITHM": algorithm})
    api = Api(app)
    api.register()
    header, _, _ = segments(api.access_token or "")
    assert header["alg"] == algorithm
    assert api.call(ME)["data"]["me"]["email"] == "ann@x.test"
    jwks = app.test_client().get("/.well-known/jwks.json").get_json()
    assert len(jwks["keys"]) == (0 if algorithm == "HS256" else 1)
