"""Tiny assertion helpers shared by the protocol tests on CPython and MicroPython."""


def raises(exc_type, fn, *args, **kwargs):
    """Call fn and return the exception it raised; fail if it raised nothing or something else."""
    try:
        fn(*args, **kwargs)
    except exc_type as error:
        return error
    raise AssertionError("%s was not raised" % exc_type.__name__)
