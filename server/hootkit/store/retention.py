"""The retention job: at start and then every hour, delete what is older than the retention days."""

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


async def retention_loop(store, days_getter: Callable[[], float | Awaitable[float]], every_s: float = 3600.0) -> None:
    """Runs until cancelled; `days_getter()` (plain or async) is read each time, so a change applies at the next run."""
    while True:
        try:
            days = days_getter()
            if inspect.isawaitable(days):
                days = await days
            purged = await store.purge(days)
            if any(purged.values()):
                log.info("retention: deleted %s", purged)
        except Exception:
            log.exception("the retention job failed; it runs again in %g s", every_s)
        await asyncio.sleep(every_s)
