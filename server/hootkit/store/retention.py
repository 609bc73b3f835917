"""The retention job: at start and then every hour, delete what is older than the retention days."""

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


async def retention_loop(store, days: Callable[[], Awaitable[float]], every_s: float = 3600.0) -> None:
    """Runs until cancelled; `days()` is read each time, so a change on the dashboard applies at the next run."""
    while True:
        try:
            purged = await store.purge(await days())
            if any(purged.values()):
                log.info("retention: deleted %s", purged)
        except Exception:
            log.exception("the retention job failed; it runs again in %g s", every_s)
        await asyncio.sleep(every_s)
