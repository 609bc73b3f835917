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
    priority.wait_for_quiet()
    with priority.speaking():
        pass
    priority.wait_for_quiet()
