"""The callback signature scheme shared by the worker and the gateway."""

import pytest

from inference.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, SignatureError, sign_headers, verify


def test_signed_body_verifies():
    headers = sign_headers("k3y", b'{"ready": true}', now=1_000_000)
    verify("k3y", headers, b'{"ready": true}', now=1_000_010)


@pytest.mark.parametrize(
    ("secret", "body", "now", "reason"),
    [
        ("other", b"{}", 1_000_000, "does not match"),
        ("k3y", b'{"x": 1}', 1_000_000, "does not match"),
        ("k3y", b"{}", 1_000_000 + 301, "outside the allowed window"),
    ],
)
def test_tampering_is_rejected(secret, body, now, reason):
    headers = sign_headers("k3y", b"{}", now=1_000_000)
    with pytest.raises(SignatureError, match=reason) as info:
        verify(secret, headers, body, now=now)
    assert "k3y" not in str(info.value)


def test_missing_headers_are_rejected():
    with pytest.raises(SignatureError, match="missing"):
        verify("k3y", {TIMESTAMP_HEADER: "1"}, b"")
    with pytest.raises(SignatureError, match="missing"):
        verify("k3y", {SIGNATURE_HEADER: "v1=00"}, b"")
