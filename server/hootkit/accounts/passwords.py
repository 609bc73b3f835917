"""Passwords hashed with argon2 on their own small executor, and random tokens kept only as their sha256."""

import asyncio
import hashlib
import logging
import os
import secrets
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 10
_hasher = PasswordHasher()
T = TypeVar("T")
log = logging.getLogger(__name__)
BACKGROUND_NICENESS = 19  # the lowest CPU priority: a child's reply always runs first


def lower_this_threads_priority() -> None:
    """Make the calling thread (and the threads it starts, such as argon2's lanes) yield the CPU to everything else.

    Linux keeps a nice value per thread; argon2 releases the GIL, so the hashing thread holds nothing the event
    loop waits for while it waits for the CPU.
    """
    if sys.platform != "linux":
        return
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), BACKGROUND_NICENESS)
    except OSError as error:
        log.warning("could not lower the password-hashing thread's priority: %s", error)


class HashingBusy(RuntimeError):
    """Too many passwords are already waiting to be hashed; the caller should try again shortly."""


class HashingQueue:
    """One thread for argon2 (tens of milliseconds and 64 MiB per hash), at the lowest CPU priority, and at most
    `max_waiting` hashes queued or running: a login flood waits here, or is turned away, instead of filling the
    default thread pool that the semantic guard, knowledge lookups and audio saving share with a child's reply,
    or taking the CPU from it."""

    def __init__(self, max_waiting: int = 16, threads: int = 1, background: bool = True):
        self.max_waiting = max_waiting
        self.ran = 0  # hashes run so far
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="hoot-argon2",
                                        initializer=lower_this_threads_priority if background else None)
        self._lock = threading.Lock()
        self._waiting = 0

    @property
    def waiting(self) -> int:
        """Hashes queued or running now."""
        return self._waiting

    async def run(self, fn: Callable[..., T], *args, refuse_when_busy: bool = True) -> T:
        """fn(*args) on the argon2 thread; HashingBusy if `max_waiting` are queued (unless told to queue anyway)."""
        with self._lock:
            if refuse_when_busy and self._waiting >= self.max_waiting:
                raise HashingBusy(f"{self._waiting} passwords are already being checked")
            self._waiting += 1
        try:
            job = self._pool.submit(fn, *args)
        except BaseException:
            self._release()
            raise
        job.add_done_callback(self._release)  # when it ran, or was cancelled before it started
        return await asyncio.wrap_future(job)

    def _release(self, _job: Future | None = None) -> None:
        with self._lock:
            self._waiting -= 1
            self.ran += 1


hashing = HashingQueue()
# A login from an address someone logged in from lately, with no wrong try in the limit's window: at the server's
# own priority, so a teacher is not kept waiting seconds while the models fill the cores; at most one a minute
# per address and per name (known_addresses.fast_lane); when this lane is full, the login goes to `hashing`.
known_hashing = HashingQueue(max_waiting=4, background=False)


def weakness(password: str) -> str | None:
    """Why a new password is not good enough, or None."""
    if len(password) < MIN_LENGTH:
        return f"a password needs at least {MIN_LENGTH} characters"
    if len(set(password)) < 4:
        return "a password needs more than a few different characters"
    return None


async def hash_password(password: str) -> str:
    """The argon2id hash to store (admins and the command line set passwords: queued, never turned away)."""
    return await hashing.run(_hasher.hash, password, refuse_when_busy=False)


async def check_password(password_hash: str, password: str, known: bool = False) -> bool:
    """True when `password` matches (checked on `known_hashing` for a `known` address); raises HashingBusy when
    too many hashes are waiting."""

    def verify() -> bool:
        try:
            return _hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    if known:
        try:
            return await known_hashing.run(verify)
        except HashingBusy:  # that lane is full: the lowest priority, like any other login
            pass
    return await hashing.run(verify)


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """What the store keeps of a token: enough to recognise it, useless to a thief of the database."""
    return hashlib.sha256(token.encode()).hexdigest()
