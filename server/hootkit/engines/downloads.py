"""Resumable HTTP downloads of model files: a .part beside the target, checked, then moved into place."""

import hashlib
import os
import re
from pathlib import Path

import httpx
from tqdm import tqdm

from hootkit.engines.models import ModelMissing

CHUNK = 1 << 20
CONTENT_RANGE = re.compile(r"bytes (?:(?P<first>\d+)-\d+|\*)/(?P<total>\d+)")
# identity: a gzipped body would match neither Content-Length nor the byte offsets of a resume
HEADERS = {"Accept-Encoding": "identity"}


class DownloadError(ModelMissing):
    """A model file could not be downloaded or failed its checks; `reason` is the short cause."""

    def __init__(self, message: str, reason: str | None = None):
        super().__init__(message)
        self.reason = reason or message


class Unreachable(DownloadError):
    """The network failed or the transfer broke off; the .part stays so that the next try resumes it."""

    def __init__(self, url: str, cause: object, partial: Path):
        kept = partial.stat().st_size if partial.exists() else 0
        again = (
            f"The {kept} bytes received so far stay in {partial}: run the same command again to resume."
            if kept else "Run the same command again once online."
        )
        super().__init__(f"could not reach {url} ({cause}); is this machine offline? {again}", str(cause))


class HttpStatus(DownloadError):
    """The server answered with an HTTP error status."""

    def __init__(self, url: str, status: int):
        super().__init__(f"{url} answered HTTP {status}", f"answered {status}")
        self.status = status


def partial_path(target: Path) -> Path:
    return target.with_name(f"{target.name}.part")


def download(url: str, target: Path, sha256: str | None, size: int | None, progress: bool = True) -> Path:
    """Fetch `url` into `target`, resuming its .part, checking size and sha256 before an atomic move."""
    target = Path(target)
    partial = partial_path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    have = partial.stat().st_size if partial.exists() else 0
    if size is not None and have > size:
        partial.unlink()
    if size is None or have != size:
        with httpx.Client(follow_redirects=True, timeout=30, headers=HEADERS) as client:
            try:
                _fetch(client, url, partial, size, progress)
            except httpx.TransportError as error:
                raise Unreachable(url, error, partial) from error
    _check(url, partial, sha256, size)
    os.replace(partial, target)
    return target


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as data:
        while block := data.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def _fetch(client: httpx.Client, url: str, partial: Path, size: int | None, progress: bool) -> None:
    """Append the rest of the file to `partial`, or rewrite it when the server cannot continue it."""
    have = partial.stat().st_size if partial.exists() else 0
    with client.stream("GET", url, headers={"Range": f"bytes={have}-"} if have else {}) as response:
        start, total = _body_offset(response, have)
        if total is not None and size is not None and total != size:
            raise DownloadError(f"{url} is {total} bytes, not the expected {size}: the file on the server changed")
        if start is not None and response.status_code != 416:
            _save(response, partial, start, total, progress)
    if start is None:
        partial.unlink()
        _fetch(client, url, partial, size, progress)
    elif total is not None and partial.stat().st_size < total:
        raise Unreachable(url, f"the transfer stopped after {partial.stat().st_size} of {total} bytes", partial)


def _body_offset(response: httpx.Response, have: int) -> tuple[int | None, int | None]:
    """Where the body goes in the file (None: the .part cannot be continued) and the whole file's size."""
    status = response.status_code
    if status == 200:  # also a server that ignores Range: start over
        length = response.headers.get("content-length")
        return 0, int(length) if length else None
    if status not in (206, 416) or not have:
        raise HttpStatus(str(response.url), status)
    match = CONTENT_RANGE.fullmatch(response.headers.get("content-range", "").strip())
    total = int(match["total"]) if match else None
    if status == 416:  # nothing after `have`: fine only if the .part is the whole file
        return (have, total) if total == have else (None, None)
    continues = match is not None and match["first"] is not None and int(match["first"]) == have
    return (have, total) if continues else (None, None)


def _save(response: httpx.Response, partial: Path, start: int, total: int | None, progress: bool) -> None:
    label = partial.name.removesuffix(".part")
    bar = tqdm(total=total, initial=start, desc=label, unit="B", unit_scale=True, unit_divisor=1024,
               disable=not progress)
    with partial.open("ab" if start else "wb") as out, bar:
        for chunk in response.iter_bytes():  # as it comes: a sized chunker would drop its buffer on an error
            out.write(chunk)
            bar.update(len(chunk))


def _check(url: str, partial: Path, sha256: str | None, size: int | None) -> None:
    """Raise unless the .part has the expected size and hash; a wrong one is deleted."""
    received = partial.stat().st_size
    if size is not None and received < size:
        raise Unreachable(url, f"the transfer stopped after {received} of {size} bytes", partial)
    if size is not None and received > size:
        partial.unlink()
        raise DownloadError(f"{url} sent {received} bytes, not the expected {size}; the download was deleted")
    actual = file_sha256(partial) if sha256 else None
    if actual is not None and actual != sha256.lower():
        partial.unlink()
        raise DownloadError(
            f"{url} sent a file whose sha256 is {actual}, not the expected {sha256}; the corrupt download was "
            "deleted. Try again; if it happens again, the file on the server is not the one hootkit knows."
        )
