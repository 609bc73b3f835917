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
    """Counts seconds of talk per device per day (in memory) and knows the quiet hours."""

    def __init__(self, settings: UsageSettings, now: Callable[[], datetime] = datetime.now):
        self.settings = settings
        self.now = now
        self.windows = [_window(text) for text in settings.quiet_hours]
        self._used: dict[tuple[str, str], float] = {}

    def used_s(self, device_id: str) -> float:
        return self._used.get((device_id, self.now().date().isoformat()), 0.0)

    def record(self, device_id: str, seconds: float) -> None:
        key = (device_id, self.now().date().isoformat())
        self._used[key] = self._used.get(key, 0.0) + seconds

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
