"""Daily talking time per device and quiet hours, with the kind words a child hears when it is over."""

from collections.abc import Callable
from datetime import datetime, time

from hootkit.safety.guard import Verdict, language_of
from hootkit.settings import UsageSettings

MESSAGES = {
    "daily_limit": {
        "en": "That's all our talking time for today. You did great learning! See you tomorrow.",
        "zh": "今天的聊天时间到啦。你学得真棒！我们明天见。",
    },
    "quiet_hours": {
        "en": "It's quiet time now, so I'm resting. Let's talk again later!",
        "zh": "现在是安静时间，我在休息哦。我们等会儿再聊吧！",
    },
}


def _window(text: str) -> tuple[time, time]:
    start, _, end = text.partition("-")
    return time.fromisoformat(start.strip()), time.fromisoformat(end.strip())


class UsageLimits:
    """Counts seconds of talk per device per day (in memory) and knows the quiet hours.

    Only today is kept (earlier days are dropped when the day changes), a device that talked for no time
    gets no entry, and past `max_devices` devices in a day the one that talked least is forgotten."""

    def __init__(self, settings: UsageSettings, now: Callable[[], datetime] = datetime.now, max_devices: int = 10_000):
        self.settings = settings
        self.now = now
        self.max_devices = max_devices
        self.windows = [_window(text) for text in settings.quiet_hours]
        self._day = ""
        self._used: dict[str, float] = {}  # today's seconds per device
        self._typed_at: dict[str, float] = {}  # when each device's last typed question was taken (monotonic)

    def __len__(self) -> int:
        return len(self._used)

    def may_type(self, device_id: str, at: float, every_s: float) -> bool:
        """Whether a typed question of this device's, at monotonic time `at`, comes `every_s` after its last one
        (then it is the last one); kept across its connections, so reconnecting does not reset it."""
        last = self._typed_at.get(device_id)
        if last is not None and at - last < every_s:
            return False
        if device_id not in self._typed_at and len(self._typed_at) >= self.max_devices:
            del self._typed_at[min(self._typed_at, key=self._typed_at.__getitem__)]
        self._typed_at[device_id] = at
        return True

    def used_s(self, device_id: str) -> float:
        self._today()
        return self._used.get(device_id, 0.0)

    def record(self, device_id: str, seconds: float) -> None:
        self._today()
        if seconds <= 0:
            return
        if device_id not in self._used and len(self._used) >= self.max_devices:
            del self._used[min(self._used, key=self._used.__getitem__)]
        self._used[device_id] = self._used.get(device_id, 0.0) + seconds

    def _today(self) -> None:
        day = self.now().date().isoformat()
        if day != self._day:
            self._day = day
            self._used.clear()

    def refusal(self, device_id: str, transcript: str) -> Verdict | None:
        """None while the device may talk; else what the child hears instead of an answer."""
        reason = None
        if self._quiet(self.now().time()):
            reason = "quiet_hours"
        elif self.settings.daily_minutes and self.used_s(device_id) >= self.settings.daily_minutes * 60:
            reason = "daily_limit"
        if reason is None:
            return None
        return Verdict(transcript, "usage", "redirect", reason, MESSAGES[reason][language_of(transcript)])

    def _quiet(self, moment: time) -> bool:
        for start, end in self.windows:
            if (start <= moment < end) if start <= end else (moment >= start or moment < end):
                return True
        return False
