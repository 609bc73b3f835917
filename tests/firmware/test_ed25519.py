"""The firmware's own Ed25519 verifier against RFC 8032's test vectors and the `cryptography` signer."""

import hashlib
import os
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "firmware"))
from hoot import ed25519  # noqa: E402

pytestmark = pytest.mark.timeout(60)

# RFC 8032 section 7.1, TEST 1 and TEST 2: (public key, message, signature)
RFC_VECTORS = [
    ("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"),
    ("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"),
]


@pytest.mark.parametrize("public, message, signature", RFC_VECTORS)
def test_rfc_8032_vectors_verify_and_any_flipped_bit_does_not(public, message, signature):
    public, message, signature = bytes.fromhex(public), bytes.fromhex(message), bytes.fromhex(signature)
    assert ed25519.verify(public, message, signature)
    for position in (0, 31, 32, 63):
        flipped = bytearray(signature)
        flipped[position] ^= 1
        assert not ed25519.verify(public, message, bytes(flipped))
    assert not ed25519.verify(public, message + b"!", signature)


def test_signatures_made_by_the_server_side_signer_verify():
    for size in (0, 100, 3000):
        key = Ed25519PrivateKey.generate()
        public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        message = os.urandom(size)
        assert ed25519.verify(public, message, key.sign(message))
        other = Ed25519PrivateKey.generate().public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        assert not ed25519.verify(other, message, key.sign(message))


def test_malformed_keys_and_signatures_are_refused_not_raised():
    public = bytes.fromhex(RFC_VECTORS[0][0])
    signature = bytes.fromhex(RFC_VECTORS[0][2])
    assert not ed25519.verify(public[:31], b"", signature)
    assert not ed25519.verify(public, b"", signature[:63])
    assert not ed25519.verify(b"\xff" * 32, b"", signature)  # y >= p encodes no point
    too_big_s = signature[:32] + (ed25519.L).to_bytes(32, "little")
    assert not ed25519.verify(public, b"", too_big_s)


@pytest.mark.parametrize("size", [0, 111, 112, 127, 128, 1000])
def test_sha512_matches_hashlib_across_padding_boundaries(size):
    data = os.urandom(size)
    assert ed25519.sha512(data) == hashlib.sha512(data).digest()
