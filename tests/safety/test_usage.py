"""Daily limits and quiet hours: counted per device and day, and said kindly."""

from datetime import datetime

import numpy as np
from conftest import fake_engines, fast_settings, silence, tone

from hootkit.client.device import DeviceClient
from hootkit.engines.fakes import FakeLlm
from hootkit.safety.usage import UsageLimits
from hootkit.settings import UsageSettings


def at(hour: int, minute: int = 0, day: int = 23):
    return lambda: datetime(2026, 11, day, hour, minute)


def test_quiet_hours_across_midnight():
    limits = UsageLimits(UsageSettings(quiet_hours=["21:00-07:00"]), now=at(22))
    assert limits.refusal("owl-1", "hello").category == "quiet_hours"
    limits.now = at(6, 59)
    assert limits.refusal("owl-1", "hello") is not None
    limits.now = at(7)
    assert limits.refusal("owl-1", "hello") is None


def test_daily_minutes_per_device_reset_the_next_day():
    limits = UsageLimits(UsageSettings(daily_minutes=1), now=at(10))
    limits.record("owl-1", 61)
    refusal = limits.refusal("owl-1", "why is the sky blue")
    assert refusal.category == "daily_limit" and "See you tomorrow" in refusal.reply
    assert limits.refusal("owl-2", "hi") is None
    assert "明天见" in limits.refusal("owl-1", "天空为什么是蓝色的").reply
    limits.now = at(10, day=24)
    assert limits.refusal("owl-1", "hi") is None


async def test_the_device_hears_that_time_is_up(serve):
    llm = FakeLlm()
    settings = fast_settings(usage={"daily_minutes": 0.01})
    question = np.concatenate([silence(0.2), tone(0.6)])
    async with serve(fake_engines(llm=llm), settings) as url, DeviceClient(url) as client:
        first = await client.ask(question)
        second = await client.ask(question)
    assert first.sentences == ["A spider has eight legs.", "Can you count them?"]
    assert second.reply.startswith("That's all our talking time for today.")
    assert len(llm.requests) == 1
