"""Passwords hashed with argon2 (off the event loop), and random tokens kept only as their sha256."""

import asyncio
import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 10
_hasher = PasswordHasher()


def weakness(password: str) -> str | None:
    """Why a new password is not good enough, or None."""
    if len(password) < MIN_LENGTH:
        return f"a password needs at least {MIN_LENGTH} characters"
    if len(set(password)) < 4:
        return "a password needs more than a few different characters"
    return None


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


async def check_password(password_hash: str, password: str) -> bool:
    """True when `password` matches; hashing takes tens of milliseconds, so it runs in a thread."""

    def verify() -> bool:
        try:
            return _hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(verify)


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """What the store keeps of a token: enough to recognise it, useless to a thief of the database."""
    return hashlib.sha256(token.encode()).hexdigest()
