"""Signed user tokens (HMAC-SHA256): with auth on, a visitor acts only as their own user.

A token is ``v1.<user id, base64url>.<expiry, unix seconds>.<signature, base64url>``.
It carries no secret and needs no session store: the service recomputes the
signature with its key. Whoever issues tokens (the site's login) shares the key;
``homefeed token USER_ID`` issues one for testing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time

TOKEN_VERSION = "v1"
# Binds the signature to this use, so the key can't be replayed for other HMACs.
_CONTEXT = b"homefeed-user-token"


class InvalidToken(ValueError):
    """A token that is malformed, forged or expired; ``str(error)`` says which."""


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(secret: bytes, user_b64: str, expires_at: int) -> bytes:
    parts = [_CONTEXT, TOKEN_VERSION.encode(), user_b64.encode(), str(expires_at).encode()]
    message = b"|".join(parts)
    return hmac.new(secret, message, hashlib.sha256).digest()


def issue_token(secret: bytes, user_id: str, ttl_s: int, *, now: float | None = None) -> str:
    """Sign a token that lets its bearer act as ``user_id`` for ``ttl_s`` seconds."""
    if not secret:
        raise ValueError("the token secret is empty")
    expires_at = int(time.time() if now is None else now) + ttl_s
    user_b64 = _b64(user_id.encode())
    signature = _b64(_signature(secret, user_b64, expires_at))
    return f"{TOKEN_VERSION}.{user_b64}.{expires_at}.{signature}"


def verify_token(secret: bytes, token: str, *, now: float | None = None) -> str:
    """Return the user id a valid token names; raise :class:`InvalidToken` otherwise."""
    parts = token.split(".")
    if len(parts) != 4 or parts[0] != TOKEN_VERSION:
        raise InvalidToken("malformed token")
    _, user_b64, expiry_text, signature_b64 = parts
    if not expiry_text.isdigit():
        raise InvalidToken("malformed token expiry")
    expires_at = int(expiry_text)
    try:
        signature = _unb64(signature_b64)
        user_id = _unb64(user_b64).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidToken("malformed token") from None
    # Constant-time comparison: timing must not reveal how much of a forgery matched.
    if not hmac.compare_digest(signature, _signature(secret, user_b64, expires_at)):
        raise InvalidToken("bad token signature")
    if expires_at < (time.time() if now is None else now):
        raise InvalidToken("token expired")
    return user_id
