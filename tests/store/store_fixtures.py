"""Store fixtures (import them): a fresh SQLite store per test, and a throwaway PostgreSQL cluster when its binaries exist."""

import os
import shutil
import socket
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import need

from hootkit.store.db import Store

POSTGRES_BIN_DIRS = ("/usr/lib/postgresql/17/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/15/bin")


@pytest.fixture
async def store(data_dir):
    opened = await Store.open(Store.url_for(data_dir))
    yield opened
    await opened.close()


def _postgres_tool(name: str) -> str | None:
    for folder in POSTGRES_BIN_DIRS:
        if (Path(folder) / name).exists():
            return str(Path(folder) / name)
    return shutil.which(name)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class NoPostgres(RuntimeError):
    """PostgreSQL's tools are not here (or cannot run as root)."""


@contextmanager
def postgres_cluster():
    """`with postgres_cluster() as url:` `postgresql+asyncpg://...` of a throwaway cluster, stopped after."""
    initdb, pg_ctl = _postgres_tool("initdb"), _postgres_tool("pg_ctl")
    if not (initdb and pg_ctl):
        raise NoPostgres("PostgreSQL's initdb and pg_ctl are not installed (apt-get install postgresql)")
    as_user: list[str] = []
    if os.geteuid() == 0:
        # initdb refuses to run as root; the cluster belongs to the postgres user, in a folder it can reach
        if not (shutil.which("runuser") and subprocess.run(["id", "postgres"], capture_output=True).returncode == 0):
            raise NoPostgres("running as root without a postgres user (or runuser) to own the cluster")
        as_user = ["runuser", "-u", "postgres", "--"]
    folder = Path(tempfile.mkdtemp(prefix="hoot-pg-"))
    if as_user:
        shutil.chown(folder, "postgres", "postgres")
    data, port = folder / "data", _free_port()
    try:
        subprocess.run([*as_user, initdb, "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"],
                       check=True, capture_output=True)
        subprocess.run([*as_user, pg_ctl, "-D", str(data), "-l", str(folder / "log"), "-w", "-o",
                        f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -F", "start"],
                       check=True, capture_output=True)
    except subprocess.CalledProcessError as error:
        log = (folder / "log").read_text() if (folder / "log").exists() else ""
        shutil.rmtree(folder, ignore_errors=True)
        raise RuntimeError(f"could not start PostgreSQL: {error.stderr.decode()} {log}") from error
    try:
        yield f"postgresql+asyncpg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_user, pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"], capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def postgres_url():
    """`postgresql+asyncpg://...` of a cluster started for this module and stopped after it."""
    try:
        with postgres_cluster() as url:
            yield url
    except NoPostgres as missing:
        need(False, str(missing))
