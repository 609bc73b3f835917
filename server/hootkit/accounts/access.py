"""Who is calling the dashboard API, and which classes and devices they may see."""

from dataclasses import dataclass

ROLES = ("admin", "teacher", "parent")


@dataclass(frozen=True)
class Caller:
    """A logged-in person, a teacher token, or this machine before any account exists (an admin)."""

    name: str
    role: str
    account_id: int | None = None
    csrf: str | None = None  # set for browser logins: their changes must echo it
    ip: str = ""

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


async def visible_class_ids(store, caller: Caller) -> set[int] | None:
    """The classes the caller may see; None means all of them."""
    if caller.is_admin:
        return None
    if caller.role != "teacher":
        return set()
    return {classroom.id for classroom in await store.classes(teacher_id=caller.account_id)}


async def visible_device_ids(store, caller: Caller) -> set[str] | None:
    """The devices the caller may see; None means all of them (devices not yet in the store included)."""
    if caller.is_admin:
        return None
    if caller.role == "parent":
        return {device.id for device in await store.devices(parent_id=caller.account_id)}
    class_ids = await visible_class_ids(store, caller)
    if not class_ids:
        return set()
    return {device.id for device in await store.devices(class_ids=sorted(class_ids))}
