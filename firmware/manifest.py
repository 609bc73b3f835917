# Freeze manifest: builds a MicroPython image with the Hootkit app inside (see README.md).
# Paths are relative to this file. The board file (boards/<name>.py, installed as board.mpy) and
# config.json stay on the filesystem.
include("$(PORT_DIR)/boards/manifest.py")
package("hoot")
package("hootproto", base_path="../protocol")
