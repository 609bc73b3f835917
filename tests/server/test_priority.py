"""Speech first: generation waits while a clause is synthesized, and resumes right after."""

import threading

from hootkit.engines.priority import SpeechFirst


def test_generation_waits_until_synthesis_is_done():
    priority = SpeechFirst()
    order = []
    in_synthesis, waiter_started = threading.Event(), threading.Event()
    finish_synthesis = threading.Event()

    def synthesize():
        with priority.speaking():
            in_synthesis.set()
            finish_synthesis.wait()
            order.append("clause spoken")

    def generate():
        in_synthesis.wait()
        waiter_started.set()
        priority.wait_for_quiet()
        order.append("next token")

    threads = [threading.Thread(target=synthesize), threading.Thread(target=generate)]
    for thread in threads:
        thread.start()
    waiter_started.wait()
    finish_synthesis.set()
    for thread in threads:
        thread.join(timeout=10)
    assert order == ["clause spoken", "next token"]


def test_quiet_when_nothing_is_spoken():
    priority = SpeechFirst()
    waited = []

    def generate():
        priority.wait_for_quiet()
        waited.append("next token")

    def returns_at_once() -> bool:
        # on a thread: a wait that blocked (the old bug this guards against) fails the test instead of hanging it
        thread = threading.Thread(target=generate, daemon=True)
        thread.start()
        thread.join(timeout=10)
        return not thread.is_alive()

    assert returns_at_once()  # nothing was ever spoken
    with priority.speaking():
        pass
    assert returns_at_once()  # the clause is spoken: quiet again
    assert waited == ["next token", "next token"]
