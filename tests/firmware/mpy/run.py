"""Runs the firmware unit tests on MicroPython: micropython -X heapsize=1M tests/firmware/mpy/run.py."""

import gc
import os
import sys

import asyncio

HERE = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
if not HERE.startswith("/"):
    HERE = os.getcwd() + "/" + HERE
ROOT = HERE + "/../../.."


def _setup_path():
    """Without MICROPYPATH, find the test folder, the fakes, the firmware and the protocol from here."""
    for folder in (HERE, ROOT + "/server/hootkit/emulator/fakes", ROOT + "/firmware", ROOT + "/protocol"):
        if folder not in sys.path:
            sys.path.append(folder)
    try:
        import board  # noqa: F401  (MICROPYPATH may name a folder with the generated board.py)
    except ImportError:
        sys.path.append(ROOT + "/firmware/boards")
        sys.modules["board"] = __import__("diy_s3")


def _run(function):
    result = function()
    if hasattr(result, "send"):  # an async def test: a coroutine (a generator on MicroPython)
        asyncio.new_event_loop()
        asyncio.run(result)


def _fail(label, error):
    print("FAIL %s: %r" % (label, error))
    sys.print_exception(error)


def main():
    _setup_path()
    passed = failed = 0
    for name in sorted(os.listdir(HERE)):
        if not (name.startswith("test_") and name.endswith(".py")):
            continue
        try:
            module = __import__(name[:-3])
        except Exception as error:
            failed += 1
            _fail(name[:-3], error)
            continue
        for attr in sorted(dir(module)):
            function = getattr(module, attr)
            if not attr.startswith("test_") or not callable(function):
                continue
            gc.collect()
            try:
                _run(function)
                passed += 1
            except Exception as error:
                failed += 1
                _fail("%s.%s" % (name[:-3], attr), error)
    print("micropython firmware: %d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)


main()
