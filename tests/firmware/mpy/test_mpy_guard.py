"""hoot.guard on MicroPython: staging an update, finishing a swap after a power cut, rollback, confirm."""

import json
import os

from hoot import guard
from tempdir import TempDir

FILES = ["app/a.py", "app/b.py", "c.py"]  # c.py is new in the update


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def read(path):
    with open(path) as f:
        return f.read()


def tree():
    """Every file under the current folder with its text: {"app/a.py": "A1", ...}."""
    found = {}

    def walk(folder, prefix):
        for entry in os.ilistdir(folder):
            name = prefix + entry[0]
            if entry[1] == 0x4000:
                walk(name, name + "/")
            else:
                found[name] = read(name)

    walk(".", "")
    return found


def installed_v1_with_v2_downloaded():
    """Version 1 installed, version 2 downloaded next to it as .new files."""
    os.mkdir("app")
    write("main.py", "boot")
    write("app/a.py", "A1")
    write("app/b.py", "B1")
    write("keep.py", "K1")
    write("app/a.py.new", "A2")
    write("app/b.py.new", "B2")
    write("c.py.new", "C2")


SWAPPED = {"main.py": "boot", "keep.py": "K1", "app/a.py": "A2", "app/a.py.old": "A1", "app/b.py": "B2",
           "app/b.py.old": "B1", "c.py": "C2"}
V1 = {"main.py": "boot", "keep.py": "K1", "app/a.py": "A1", "app/b.py": "B1"}


def test_stage_swaps_new_files_in_and_keeps_old_ones():
    with TempDir():
        installed_v1_with_v2_downloaded()
        guard.stage("2.0", "1.0", FILES)
        state = guard.read_state()
        assert state == {"pending": "2.0", "previous": "1.0", "tries": 0, "files": FILES}
        files = tree()
        assert json.loads(files.pop(guard.STATE)) == state
        assert files == SWAPPED


def test_finish_swap_is_idempotent():
    with TempDir():
        installed_v1_with_v2_downloaded()
        guard.stage("2.0", "1.0", FILES)
        before = tree()
        guard.finish_swap(FILES)
        guard.finish_swap(FILES)
        assert tree() == before


def test_finish_swap_completes_a_swap_cut_by_a_power_loss():
    with TempDir():
        os.mkdir("app")
        write("main.py", "boot")
        write("keep.py", "K1")
        # a.py: the power went before anything happened to it
        write("app/a.py", "A1")
        write("app/a.py.new", "A2")
        # b.py: cut between the two renames (old kept, new not yet in place)
        write("app/b.py.old", "B1")
        write("app/b.py.new", "B2")
        # c.py: a new file already in place
        write("c.py", "C2")
        guard.finish_swap(FILES)
        assert tree() == SWAPPED
        guard.finish_swap(FILES)
        assert tree() == SWAPPED


def test_finish_swap_with_old_file_and_original_present():
    with TempDir():
        # a cut after the old copy was written but before the original went: keep the first .old
        write("d.py", "D1")
        write("d.py.old", "D1")
        write("d.py.new", "D2")
        guard.finish_swap(["d.py"])
        assert tree() == {"d.py": "D2", "d.py.old": "D1"}


def test_rollback_restores_old_files_and_deletes_new_ones():
    with TempDir():
        installed_v1_with_v2_downloaded()
        guard.stage("2.0", "1.0", FILES)
        guard.rollback(guard.read_state())
        files = tree()
        assert json.loads(files.pop(guard.STATE)) == {"rejected": "2.0"}
        assert files == V1
        assert guard.read_state() == {"rejected": "2.0"}


def test_rollback_removes_leftover_new_files():
    with TempDir():
        installed_v1_with_v2_downloaded()
        guard.stage("2.0", "1.0", FILES)
        write("app/a.py.new", "A3")  # a stray download next to the swapped-in file
        guard.rollback({"pending": "2.0", "previous": "1.0", "tries": 2, "files": FILES})
        files = tree()
        files.pop(guard.STATE)
        assert files == V1


def test_confirm_drops_old_files_and_the_journal():
    with TempDir():
        installed_v1_with_v2_downloaded()
        guard.stage("2.0", "1.0", FILES)
        guard.confirm()
        v2 = {"main.py": "boot", "keep.py": "K1", "app/a.py": "A2", "app/b.py": "B2", "c.py": "C2"}
        assert tree() == v2
        assert guard.read_state() is None
        guard.confirm()  # nothing pending: nothing to do
        assert guard.read_state() is None


def test_confirm_leaves_a_rejection_alone():
    with TempDir():
        guard.write_state({"rejected": "2.0"})
        guard.confirm()
        assert guard.read_state() == {"rejected": "2.0"}


def test_read_state_of_missing_or_broken_journal():
    with TempDir():
        assert guard.read_state() is None
        write(guard.STATE, '{"pending": "2.0", "tri')
        assert guard.read_state() is None
        write(guard.STATE, "")
        assert guard.read_state() is None
        guard.write_state({"pending": "3.0", "previous": "2.0", "tries": 1, "files": []})
        assert guard.read_state()["tries"] == 1
        assert guard.STATE + ".tmp" not in os.listdir()
        guard.clear_state()
        guard.clear_state()
        assert guard.read_state() is None


def test_protected_files_include_the_guard_and_the_config():
    for path in ("main.py", "hoot/guard.py", "hoot/guard.mpy", "config.json", guard.STATE):
        assert path in guard.PROTECTED


async def test_no_new_update_is_fetched_while_one_is_unconfirmed():
    from hoot import ota

    with TempDir():
        guard.write_state({"pending": "2.0", "previous": "1.0", "tries": 1, "files": ["c.py"]})
        staged = await ota.check("http://127.0.0.1:9", None)
        assert staged is False
        assert guard.read_state() == {"pending": "2.0", "previous": "1.0", "tries": 1, "files": ["c.py"]}
