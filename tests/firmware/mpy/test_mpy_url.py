"""hoot.url on MicroPython: splitting ws/wss/http URLs and the server's HTTP base."""

from hoot import url


def raises_value_error(text):
    try:
        url.split(text)
    except ValueError as error:
        return str(error)
    raise AssertionError("no ValueError for %r" % text)


def test_split_ws_with_port_and_path():
    assert url.split("ws://10.0.0.5:8765/v1/device") == ("ws", "10.0.0.5", 8765, "/v1/device")


def test_split_default_ports_and_root_path():
    assert url.split("ws://hoot.local") == ("ws", "hoot.local", 80, "/")
    assert url.split("wss://hoot.example.org") == ("wss", "hoot.example.org", 443, "/")
    assert url.split("http://hoot.local") == ("http", "hoot.local", 80, "/")
    assert url.split("https://hoot.example.org/") == ("https", "hoot.example.org", 443, "/")


def test_split_path_without_port_and_port_without_path():
    assert url.split("wss://hoot.example.org/v1/device") == ("wss", "hoot.example.org", 443, "/v1/device")
    assert url.split("http://hoot.local:8080") == ("http", "hoot.local", 8080, "/")
    assert url.split("http://hoot.local:8080/firmware/manifest.json?x=1") == (
        "http", "hoot.local", 8080, "/firmware/manifest.json?x=1")


def test_split_errors():
    assert "not a URL" in raises_value_error("hoot.local:8765/v1/device")
    assert "not a URL" in raises_value_error("")
    assert "unsupported URL scheme: ftp" in raises_value_error("ftp://hoot.local/")
    assert "unsupported URL scheme" in raises_value_error("WS://hoot.local/")
    assert "no host" in raises_value_error("ws://")
    assert "no host" in raises_value_error("ws:///v1/device")
    assert "no host" in raises_value_error("ws://:8765/v1/device")
    raises_value_error("ws://hoot.local:port/")


def test_http_base():
    assert url.http_base("ws://10.0.0.5:8765/v1/device") == "http://10.0.0.5:8765"
    assert url.http_base("ws://hoot.local/v1/device") == "http://hoot.local:80"
    assert url.http_base("wss://hoot.example.org/v1/device") == "https://hoot.example.org:443"
    assert url.http_base("wss://hoot.example.org:9443") == "https://hoot.example.org:9443"
    try:
        url.http_base("hoot.local")
    except ValueError:
        pass
    else:
        raise AssertionError("http_base accepted a URL without a scheme")
