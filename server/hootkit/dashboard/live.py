"""Live news for dashboards: device states, finished turns and lesson progress, fanned out to each subscriber."""

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

QUEUE_SIZE = 500


@dataclass(frozen=True)
class News:
    """One piece of news: its kind (device, turn, lesson, paired), the device it is about, and its JSON data."""

    kind: str
    device_id: str
    data: dict


class Subscription:
    """One dashboard's queue of news; a dashboard too slow to keep up is told to reload (`overflowed`)."""

    def __init__(self):
        self.queue: asyncio.Queue[News | None] = asyncio.Queue(QUEUE_SIZE)
        self.overflowed = False

    def put(self, news: News | None) -> None:
        try:
            self.queue.put_nowait(news)
        except asyncio.QueueFull:
            self.overflowed = True


class LiveFeed:
    """Publishing never waits: each subscriber has its own bounded queue."""

    def __init__(self):
        self._subscriptions: set[Subscription] = set()
        self.relay: Callable[[str, str, dict], None] | None = None  # news made here goes to the other servers too

    def publish(self, kind: str, device_id: str, data: dict) -> None:
        """News made on this server: for its dashboards, and relayed to the other servers sharing the store."""
        self.publish_here(kind, device_id, data)
        if self.relay is not None:
            self.relay(kind, device_id, data)

    def publish_here(self, kind: str, device_id: str, data: dict) -> None:
        """News for this server's dashboards only (what another server relayed)."""
        news = News(kind, device_id, {"device_id": device_id, **data})
        for subscription in self._subscriptions:
            subscription.put(news)

    def close(self) -> None:
        """The server is stopping: every subscription gets None, its end."""
        for subscription in self._subscriptions:
            subscription.put(None)

    @contextmanager
    def subscribe(self) -> Iterator[Subscription]:
        subscription = Subscription()
        self._subscriptions.add(subscription)
        try:
            yield subscription
        finally:
            self._subscriptions.discard(subscription)
