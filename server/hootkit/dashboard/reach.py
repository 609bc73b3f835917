"""What a caller may touch: devices and classes outside their reach get 404, written to the audit log."""

from fastapi import Request

from hootkit.accounts.access import Caller, visible_class_ids, visible_device_ids
from hootkit.dashboard.logins import refuse


async def device_ids_in_reach(request: Request, who: Caller, device_ids: list[str]) -> list[str]:
    """The named devices, or 404 naming the first one the caller may not see."""
    visible = await visible_device_ids(request.app.state.hoot.store, who)
    for device_id in device_ids:
        if visible is not None and device_id not in visible:
            raise await refuse(request, 404, f"no device {device_id!r} among yours", who.name)
    return device_ids


async def class_in_reach(request: Request, who: Caller, class_id: int):
    store = request.app.state.hoot.store
    classroom = await store.class_(class_id)
    visible = await visible_class_ids(store, who)
    if classroom is None or (visible is not None and class_id not in visible):
        raise await refuse(request, 404, f"no class {class_id} among yours", who.name)
    return classroom


async def class_device_ids(request: Request, who: Caller, class_ids: list[int]) -> list[str]:
    """The devices of these classes, each once, after checking the caller may see every class."""
    found: list[str] = []
    for class_id in class_ids:
        await class_in_reach(request, who, class_id)
        found += [device.id for device in await request.app.state.hoot.store.devices(class_ids=[class_id])]
    return list(dict.fromkeys(found))
