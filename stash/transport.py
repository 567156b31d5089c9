"""One HTTP/1.1 request to Stash and its answer, over a plain socket (TLS only for https).

The hook makes at most two small POSTs and Stash waits for it, so this replaces ``http.client``,
which imports ``email.parser``, ``ssl`` and ``urllib`` (about a bare interpreter start's worth of
time). A plain-HTTP request imports only the interpreter's own ``_socket`` (what the ``socket``
module wraps, without its enum and selectors imports); ``ssl`` is imported for an https Stash only.

One request per connection (``Connection: close``). The answer may carry ``Content-Length``, be
chunked (Go's server chunks an answer it streams), or end when the server closes. Every socket
operation is bounded by the timeout, as with ``http.client``. Credentials are sent as headers and
never appear in an error.
"""

from __future__ import annotations

try:
    import _socket as _net  # what the socket module re-exports, without its start-up cost
except ImportError:  # an interpreter without it: the public module has the same names
    import socket as _net  # type: ignore[no-redef]

TYPE_CHECKING = False
if TYPE_CHECKING:
    import socket

LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
MAX_HEAD_BYTES = 64 * 1024  # status line and headers together
_READ_SIZE = 64 * 1024
_HEX_DIGITS = b"0123456789abcdefABCDEF"


class BadResponse(Exception):
    """The server's answer is not HTTP this client can read (cut short, malformed)."""


class ResponseTooLarge(Exception):
    """The answer's body is larger than the caller allows."""


def request(
    scheme: str,
    host: str,
    port: int,
    method: str,
    target: str,
    headers: dict[str, str],
    body: bytes | None = None,
    *,
    timeout: float,
    limit: int,
) -> tuple[int, bytes]:
    """Send one request, return (status, body). Raises OSError (unreachable, timed out, TLS),
    BadResponse or ResponseTooLarge; ValueError for a path or header that would split the request."""
    head = _request_head(scheme, host, port, method, target, headers, body)
    sock = _connect_tls(host, port, timeout) if scheme == "https" else _connect(host, port, timeout)
    try:
        sock.sendall(head + body if body else head)
        return _Reader(sock, limit).response(method)
    finally:
        sock.close()


def _request_head(scheme: str, host: str, port: int, method: str, target: str, headers: dict[str, str],
                  body: bytes | None) -> bytes:
    if any(c <= " " or c == "\x7f" for c in target):  # as http.client: no request splitting
        raise ValueError(f"the request path {target[:80]!r} has a space or control character")
    default_port = 443 if scheme == "https" else 80
    shown_host = f"[{host}]" if ":" in host else host
    lines = [f"{method} {target} HTTP/1.1",
             f"Host: {shown_host}" if port == default_port else f"Host: {shown_host}:{port}",
             "Accept-Encoding: identity"]
    for name, value in headers.items():
        if "\r" in value or "\n" in value or "\r" in name or "\n" in name:
            raise ValueError(f"invalid value for the HTTP header {name!r}")  # never the value itself
        lines.append(f"{name}: {value}")
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
    lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _addresses(host: str, port: int) -> list[tuple]:
    """Where ``host`` can be reached. An IP address (what Stash passes: 0.0.0.0 becomes
    127.0.0.1) is used as it is: the resolver's first call costs a hook 0.4 MB of memory."""
    for family, address in ((_net.AF_INET, (host, port)), (_net.AF_INET6, (host, port, 0, 0))):
        try:
            _net.inet_pton(family, host)
        except OSError:
            continue
        return [(family, _net.SOCK_STREAM, 0, "", address)]
    return _net.getaddrinfo(host, port, 0, _net.SOCK_STREAM)


def _connect(host: str, port: int, timeout: float) -> _net.socket:
    """The first address of ``host`` that accepts, as ``socket.create_connection`` picks it."""
    error: OSError | None = None
    for family, kind, proto, _, address in _addresses(host, port):
        sock = _net.socket(family, kind, proto)
        try:
            sock.settimeout(timeout)
            sock.connect(address)
            return sock
        except OSError as exc:
            error = exc
            sock.close()
    raise error or OSError(f"{host} has no address")


def _connect_tls(host: str, port: int, timeout: float) -> socket.socket:
    import socket
    import ssl

    context = ssl.create_default_context()
    if host in LOOPBACK:
        # Traffic to Stash on this same machine never leaves it; Stash's own certificate is
        # often self-signed, so verification is only enforced for remote hosts.
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    raw = socket.create_connection((host, port), timeout=timeout)
    try:
        return context.wrap_socket(raw, server_hostname=host)
    except BaseException:
        raw.close()
        raise


class _Reader:
    """Buffered reads of one answer from the socket."""

    def __init__(self, sock: _net.socket | socket.socket, limit: int) -> None:
        self.sock = sock
        self.limit = limit
        self.buffer = bytearray()
        self.closed = False

    def _fill(self) -> bool:
        if self.closed:
            return False
        chunk = self.sock.recv(_READ_SIZE)
        if not chunk:
            self.closed = True
            return False
        self.buffer += chunk
        return True

    def _take(self, size: int) -> bytes:
        with memoryview(self.buffer) as view:  # one copy, even of a 50 MB screenshot
            data = bytes(view[:size])
        del self.buffer[:size]
        return data

    def line(self, what: str) -> bytes:
        start = 0
        while (end := self.buffer.find(b"\r\n", start)) < 0:
            if len(self.buffer) > MAX_HEAD_BYTES:
                raise BadResponse(f"the {what} is longer than {MAX_HEAD_BYTES} bytes")
            start = max(0, len(self.buffer) - 1)
            if not self._fill():
                raise BadResponse(f"the connection closed in the {what}")
        return self._take(end + 2)[:-2]

    def exactly(self, size: int) -> bytes:
        while len(self.buffer) < size:
            if not self._fill():
                raise BadResponse(f"the connection closed {size - len(self.buffer)} bytes before the body's end")
        return self._take(size)

    def response(self, method: str) -> tuple[int, bytes]:
        status, fields = self._head()
        while 100 <= status < 200:  # an interim answer (100 Continue): the real one follows
            status, fields = self._head()
        if method == "HEAD" or status in (204, 304):
            return status, b""
        if "chunked" in fields.get("transfer-encoding", "").lower():
            return status, self._chunked()
        length = fields.get("content-length")
        if length is not None:
            try:
                size = int(length)
            except ValueError:
                raise BadResponse(f"Content-Length {length!r} is not a number") from None
            if size < 0:
                raise BadResponse(f"Content-Length {length!r} is not a number")
            self._check(size)
            return status, self.exactly(size)
        while self._fill():  # no length given: the body ends when the server closes
            self._check(len(self.buffer))
        return status, self._take(len(self.buffer))

    def _head(self) -> tuple[int, dict[str, str]]:
        version, _, rest = self.line("status line").partition(b" ")
        code = rest[:3]
        if not version.startswith(b"HTTP/") or not code.isdigit() or rest[3:4] not in (b"", b" "):
            raise BadResponse("the answer does not start with an HTTP status line")
        fields: dict[str, str] = {}
        size = 0
        while line := self.line("headers"):
            size += len(line)
            if size > MAX_HEAD_BYTES:
                raise BadResponse(f"the headers are longer than {MAX_HEAD_BYTES} bytes")
            name, _, value = line.decode("latin-1").partition(":")
            key = name.strip().lower()
            if key == "content-length" and key in fields and fields[key] != value.strip():
                raise BadResponse("the answer has two different Content-Length headers")
            fields[key] = f"{fields[key]}, {value.strip()}" if key in fields and key != "content-length" else value.strip()
        return int(code), fields

    def _chunked(self) -> bytes:
        body = bytearray()
        while True:
            size_text = self.line("chunk size").split(b";", 1)[0].strip()
            if not size_text or size_text.strip(_HEX_DIGITS):
                raise BadResponse(f"chunk size {size_text[:20]!r} is not a hexadecimal number")
            size = int(size_text, 16)
            if size == 0:
                while self.line("trailers"):
                    pass
                return bytes(body)
            self._check(len(body) + size)
            body += self.exactly(size)
            if self.exactly(2) != b"\r\n":
                raise BadResponse("a chunk does not end where its size says")

    def _check(self, size: int) -> None:
        if size > self.limit:
            raise ResponseTooLarge(f"larger than {self.limit} bytes")
