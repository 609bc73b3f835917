"""The firmware signing key: an Ed25519 key in the data folder that signs every update manifest.

Devices carry the public half (`update-key.txt`, written into each build) and install an update only
when its manifest is signed by that key, so nobody on the school network can push code to them."""

import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

KEY_FILE = "firmware-signing.key"
PUBLIC_KEY_FILE = "update-key.txt"
SIGNATURE_FILE = "manifest.sig"
SIGNED_PREFIX = b"hootkit-manifest-v1\n"  # keeps a manifest signature from meaning anything else


class SigningKeyError(Exception):
    """The signing key file exists but cannot be used; the message says which file and what to do."""


def default_key_file() -> Path:
    from hootkit.settings import Settings

    return Settings().data_dir / KEY_FILE


def load_or_create_key(path: Path) -> Ed25519PrivateKey:
    """The key in `path`, made (readable by its owner only) the first time."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as f:
            f.write(pem)
        return key
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError) as error:
        raise SigningKeyError(f"{path} is not a PEM Ed25519 private key ({error}); restore it from a backup"
                              " (devices only accept updates signed by it)") from error
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(f"{path} holds a {type(key).__name__}, not an Ed25519 key")
    return key


def public_key_hex(key: Ed25519PrivateKey) -> str:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()


def sign_manifest(key: Ed25519PrivateKey, manifest: bytes) -> str:
    """The hex signature a device checks before it trusts `manifest` (the file's exact bytes)."""
    return key.sign(SIGNED_PREFIX + manifest).hex()


def signature_matches(public_hex: str, manifest: bytes, signature_hex: str) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_hex)).verify(bytes.fromhex(signature_hex), SIGNED_PREFIX + manifest)
    except (ValueError, InvalidSignature):
        return False
    return True


def sign_folder(folder: Path, key: Ed25519PrivateKey) -> None:
    """Write `manifest.sig` for the manifest.json in `folder`."""
    manifest = (folder / "manifest.json").read_bytes()
    (folder / SIGNATURE_FILE).write_text(sign_manifest(key, manifest) + "\n")
