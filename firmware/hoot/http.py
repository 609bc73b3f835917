"""A minimal HTTP/1.0 GET client on asyncio streams, enough to fetch the update manifest and files."""

import asyncio

from hoot import url as urls


class HttpError(Exception):
    """A request failed: no connection, or a status other than 200."""

    def __init__(self, message, status=None):
        super().__init__(message)
        self.status = status


async def get(url, token=None, sink=None, timeout_ms=20000):
    """GET `url`; with `sink(chunk)` the body is streamed to it, otherwise returned as bytes."""
    return await asyncio.wait_for_ms(_get(url, token, sink), timeout_ms)


async def _get(url, token, sink):
    scheme, host, port, path = urls.split(url)
    try:
        if scheme == "https":
            reader, writer = await asyncio.open_connection(host, port, ssl=True)
        else:
            reader, writer = await asyncio.open_connection(host, port)
    except OSError as error:
        raise HttpError("cannot connect to %s:%d (%r)" % (host, port, error))
    try:
        request = "GET %s HTTP/1.0\r\nHost: %s:%d\r\n" % (path, host, port)
        if token:
            request += "Authorization: Bearer %s\r\n" % token
        writer.write((request + "\r\n").encode())
        await writer.drain()
        status_line = await reader.readline()
        parts = status_line.split()
        if len(parts) < 2:
            raise HttpError("no HTTP answer from %s" % url)
        status = int(parts[1])
        while True:
            line = await reader.readline()
            if not line or line == b"\r\n":
                break
        if status != 200:
            raise HttpError("%s answered %d" % (url, status), status)
        body = bytearray()
        while True:
            chunk = await reader.read(1024)
            if not chunk:
                break
            if sink is None:
                body.extend(chunk)
            else:
                sink(chunk)
        return bytes(body)
    except (OSError, EOFError) as error:
        raise HttpError("connection to %s lost (%r)" % (url, error))
    finally:
        try:
            writer.close()
        except OSError:
            pass
