"""stash/transport.py: the hook's own HTTP/1.1 client, against a server that answers byte by byte
what a real one may send (Go's net/http chunks a streamed answer; an answer may carry
Content-Length, or end when the server closes), and against answers that are cut short, malformed,
too large or never come. StashClient turns each into the error the hook already handled.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from stash import transport
from stash.graphql import StashClient, StashError, StashUnavailable


class ScriptedServer:
    """Answers every connection with ``reply`` (bytes, sent in ``pieces`` with a pause between),
    after reading one request; records what it read."""

    def __init__(self, reply: bytes, *, pieces: int = 1, close: bool = True, family: int = socket.AF_INET) -> None:
        self.reply, self.pieces, self.close = reply, pieces, close
        self.requests: list[bytes] = []
        host = "::1" if family == socket.AF_INET6 else "127.0.0.1"
        self.listener = socket.create_server((host, 0), family=family)
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with conn:
                self.requests.append(_read_request(conn))
                size = max(1, len(self.reply) // self.pieces)
                for start in range(0, len(self.reply), size):
                    conn.sendall(self.reply[start : start + size])
                    time.sleep(0.002)
                if not self.close:
                    time.sleep(2)

    def stop(self) -> None:
        self.listener.close()


def _read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        data += conn.recv(4096)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), 0)
    while len(body) < length:
        body += conn.recv(4096)
    return head + b"\r\n\r\n" + body


@contextmanager
def serving(reply: bytes, **kwargs: object) -> Iterator[ScriptedServer]:
    server = ScriptedServer(reply, **kwargs)  # type: ignore[arg-type]
    try:
        yield server
    finally:
        server.stop()


def graphql_reply(data: dict) -> bytes:
    return json.dumps({"data": data}).encode()


def client(port: int, **connection: object) -> StashClient:
    return StashClient({"Scheme": "http", "Host": "0.0.0.0", "Port": port,
                        "SessionCookie": {"Name": "session", "Value": "cookie-value"}, **connection}, timeout=1.0)


def test_the_request_is_one_plain_http_1_1_post() -> None:
    body = graphql_reply({"findScene": {"id": "1", "updated_at": "2026-01-01T00:00:00Z"}})
    with serving(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                 % (len(body), body)) as server:
        data = client(server.port).execute("query { x }", {"id": "1"})
    assert data == {"findScene": {"id": "1", "updated_at": "2026-01-01T00:00:00Z"}}
    head, _, sent = server.requests[0].partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST /graphql HTTP/1.1"
    headers = dict(line.split(": ", 1) for line in lines[1:])
    assert headers["Host"] == f"127.0.0.1:{server.port}"  # Stash's 0.0.0.0 means this machine
    assert headers["Cookie"] == "session=cookie-value"
    assert headers["Content-Type"] == "application/json" and headers["Connection"] == "close"
    assert int(headers["Content-Length"]) == len(sent)
    assert json.loads(sent) == {"query": "query { x }", "variables": {"id": "1"}}


@pytest.mark.parametrize("pieces", [1, 7, 1000])
def test_a_chunked_answer_with_extensions_and_trailers_read_in_any_pieces(pieces: int) -> None:
    body = graphql_reply({"findScenes": {"scenes": [{"id": str(i), "title": "é" * 50} for i in range(200)]}})
    chunks = [body[i : i + 997] for i in range(0, len(body), 997)]
    encoded = b"".join(b"%x;name=value\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\nX-Trailer: yes\r\n\r\n"
    reply = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n" + encoded
    with serving(reply, pieces=pieces) as server:
        data = client(server.port).execute("query { x }")
    assert data == json.loads(body)["data"]


def test_an_answer_that_ends_when_the_server_closes_after_an_interim_100() -> None:
    body = graphql_reply({"runPluginTask": "7"})
    with serving(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n" + body,
                 pieces=3) as server:
        assert client(server.port).execute("mutation { x }") == {"runPluginTask": "7"}


def test_an_ipv6_stash() -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 here")
    body = graphql_reply({"ok": True})
    try:
        server = ScriptedServer(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body),
                                family=socket.AF_INET6)
    except OSError:
        pytest.skip("no IPv6 loopback here")
    try:
        assert client(server.port, Host="::1").execute("query { x }") == {"ok": True}
        assert server.requests[0].split(b"\r\n")[1] == b"Host: [::1]:%d" % server.port
    finally:
        server.stop()


def test_a_host_name_is_resolved() -> None:
    body = graphql_reply({"ok": True})
    with serving(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)) as server:
        assert client(server.port, Host="localhost").execute("query { x }") == {"ok": True}


@pytest.mark.parametrize(("reply", "kwargs"), [
    (b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n{\"data\": {}", {}),  # cut short
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n{\"data\"", {}),  # chunk cut short
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", {}),  # not a chunk size
    (b"SSH-2.0-OpenSSH_9.6\r\n", {}),  # not HTTP at all
    (b"", {}),  # closed without a word
    (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n", {"close": False}),  # headers never end: timeout
], ids=["cut short", "chunk cut short", "bad chunk size", "not HTTP", "closed", "never ends"])
def test_broken_answers_count_as_stash_unavailable(reply: bytes, kwargs: dict) -> None:
    with serving(reply, **kwargs) as server:
        started = time.monotonic()
        with pytest.raises(StashUnavailable, match=f"cannot reach Stash at http://127.0.0.1:{server.port}"):
            client(server.port).execute("query { x }")
    assert time.monotonic() - started < 3  # the 1 s timeout of this client, not forever


def test_nobody_listening_is_stash_unavailable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(StashUnavailable, match="Connection refused|refused"):
        client(port).execute("query { x }")


@pytest.mark.parametrize(("status", "error"), [
    (503, StashUnavailable), (500, StashUnavailable), (401, StashError), (403, StashError),
])
def test_status_codes_keep_their_meaning(status: int, error: type[Exception]) -> None:
    with serving(b"HTTP/1.1 %d Whatever\r\nContent-Length: 0\r\n\r\n" % status) as server:
        with pytest.raises(error) as raised:
            client(server.port).execute("query { x }")
    assert "cookie-value" not in str(raised.value)  # the session never appears in an error


def test_an_answer_over_the_limit_is_refused() -> None:
    with serving(b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n" + b"x" * 5000) as server:
        with pytest.raises(transport.ResponseTooLarge):
            transport.request("http", "127.0.0.1", server.port, "GET", "/", {}, timeout=1.0, limit=4000)
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"800\r\n" + b"x" * 2048 + b"\r\n" * 3
    with serving(chunked) as server:
        with pytest.raises(StashError, match="larger than 1000 bytes"):
            client(server.port)._request("GET", "/x", None, {}, 1.0, limit=1000)


def test_a_line_break_in_a_header_value_or_the_path_is_refused_without_sending_it() -> None:
    with pytest.raises(ValueError) as raised:
        transport.request("http", "127.0.0.1", 9, "POST", "/graphql", {"Cookie": "session=a\r\nX-Evil: 1"}, b"{}",
                          timeout=1.0, limit=100)
    assert "session=a" not in str(raised.value)
    with pytest.raises(ValueError, match="control character"):
        transport.request("http", "127.0.0.1", 9, "GET", "/scene/1/screenshot HTTP/1.1\r\nX-Evil: 1", {},
                          timeout=1.0, limit=100)


def test_plain_http_never_loads_ssl_or_socket() -> None:
    import subprocess
    import sys
    from pathlib import Path

    code = ("import sys\nfrom stash import transport\n"
            "try:\n    transport.request('http', '127.0.0.1', 9, 'GET', '/', {}, timeout=1, limit=10)\n"
            "except OSError:\n    pass\n"
            "print(sorted(m for m in ('ssl', 'socket', 'http.client', 'email', 'urllib') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).resolve().parent.parent, check=True)
    assert done.stdout.strip() == "[]"
