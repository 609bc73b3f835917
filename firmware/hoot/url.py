"""Split ws:// and http:// URLs, and find the server's HTTP base from its websocket URL. No I/O."""

DEFAULT_PORTS = {"ws": 80, "wss": 443, "http": 80, "https": 443}


def split(url):
    """(scheme, host, port, path) of a URL like ws://host:8765/v1/device."""
    if "://" not in url:
        raise ValueError("not a URL: %s" % url)
    scheme, rest = url.split("://", 1)
    if scheme not in DEFAULT_PORTS:
        raise ValueError("unsupported URL scheme: %s" % scheme)
    slash = rest.find("/")
    hostport, path = (rest, "/") if slash < 0 else (rest[:slash], rest[slash:])
    if ":" in hostport:
        host, port = hostport.rsplit(":", 1)
        port = int(port)
    else:
        host, port = hostport, DEFAULT_PORTS[scheme]
    if not host:
        raise ValueError("no host in URL: %s" % url)
    return scheme, host, port, path


def http_base(ws_url):
    """http(s)://host:port of the server a websocket URL points at."""
    scheme, host, port, _ = split(ws_url)
    return "%s://%s:%d" % ("https" if scheme == "wss" else "http", host, port)
