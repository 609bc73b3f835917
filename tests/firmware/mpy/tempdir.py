"""A throwaway current folder for MicroPython tests that write files."""

import os


class TempDir:
    """A fresh folder under /tmp as the current folder; the old one and a clean /tmp afterwards."""

    def __enter__(self):
        self.back = os.getcwd()
        self.path = "/tmp/hoot-mpy-%s" % "".join("%02x" % b for b in os.urandom(6))
        os.mkdir(self.path)
        os.chdir(self.path)
        return self.path

    def __exit__(self, *exc):
        os.chdir(self.back)
        _rmtree(self.path)
        return False


def _rmtree(path):
    for entry in os.ilistdir(path):
        child = path + "/" + entry[0]
        if entry[1] == 0x4000:
            _rmtree(child)
        else:
            os.remove(child)
    os.rmdir(path)
