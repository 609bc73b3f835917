"""Runs the protocol tests on the MicroPython unix port: micropython tests/protocol/mpy_runner.py."""

import os
import sys

HERE = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
sys.path.insert(0, HERE)
sys.path.insert(0, HERE + "/../../protocol")


def main():
    passed = failed = 0
    for name in sorted(os.listdir(HERE)):
        if not (name.startswith("test_") and name.endswith(".py")):
            continue
        module = __import__(name[:-3])
        for attr in sorted(dir(module)):
            if not attr.startswith("test_"):
                continue
            try:
                getattr(module, attr)()
                passed += 1
            except Exception as error:
                failed += 1
                print("FAIL %s.%s: %r" % (name, attr, error))
    print("micropython: %d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)


main()
