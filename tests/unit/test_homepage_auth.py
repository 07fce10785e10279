from __future__ import annotations

import pytest

from streams.homepage.auth import InvalidToken, issue_token, verify_token

SECRET = b"test-secret-of-reasonable-length"


def test_token_names_its_user_until_it_expires() -> None:
    token = issue_token(SECRET, "user 42 ✓", ttl_s=60, now=1_000)
    assert verify_token(SECRET, token, now=1_059) == "user 42 ✓"
    with pytest.raises(InvalidToken, match="expired"):
        verify_token(SECRET, token, now=1_061)


def test_forged_or_tampered_tokens_are_refused() -> None:
    token = issue_token(SECRET, "alice", ttl_s=60, now=1_000)
    other = issue_token(SECRET, "bob", ttl_s=60, now=1_000)
    version, _, expiry, signature = token.split(".")
    bob_b64 = other.split(".")[1]
    with pytest.raises(InvalidToken, match="signature"):
        verify_token(SECRET, f"{version}.{bob_b64}.{expiry}.{signature}", now=1_000)
    with pytest.raises(InvalidToken, match="signature"):
        verify_token(
            SECRET, f"{version}.{token.split('.')[1]}.{int(expiry) + 999}.{signature}", now=1_000
        )
    with pytest.raises(InvalidToken, match="signature"):
        verify_token(b"another-secret", token, now=1_000)


@pytest.mark.parametrize("token", ["", "abc", "v2.YQ.10.sig", "v1.YQ.soon.sig", "v1.!!.10.***"])
def test_malformed_tokens_are_refused(token: str) -> None:
    with pytest.raises(InvalidToken):
        verify_token(SECRET, token, now=0)
