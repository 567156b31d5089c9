"""A Stash GraphQL responder for the hook benchmark: answers the hook's two documents at once.

The Stash stand-in (tests/standins/fake_stash.py) executes every document with graphql-core and
validates it against Stash's real schema, which costs milliseconds per request in Python; real
Stash (Go) answers the hook's tiny query in well under that. So the benchmark times the hook
against this responder instead: a separate process (it must not share the benchmark's GIL) that
answers, over HTTP/1.1 on 127.0.0.1, exactly the documents the hook sends (the strings in
stash/queries.py, which tests/test_graphql_documents.py validates against Stash's schema) and
refuses anything else with HTTP 400, so a hook that sent something new would fail the benchmark.

    python bench/stash_responder.py STAMPS.json   # {"<scene id>": "<updated_at>", ...}

It prints its port on the first line of stdout, then serves until stdin closes; it then prints
one JSON line of counts (requests per document, refused requests) and exits.
"""

from __future__ import annotations

import json
import selectors
import socket
import sys
import threading
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from stash import queries  # noqa: E402

MAX_REQUEST = 1 << 20


class Responder:
    """The canned answers and the counts, shared by the serving loop."""

    def __init__(self, stamps: dict[str, str]) -> None:
        self.stamps = stamps
        self.counts = {"findScene": 0, "runPluginTask": 0, "refused": 0}
        self.jobs = 0

    def answer(self, body: bytes) -> tuple[int, bytes]:
        try:
            request = json.loads(body)
            query, variables = request["query"], request.get("variables") or {}
        except (ValueError, KeyError, TypeError):
            return self._refuse("body is not a GraphQL request")
        if query == queries.SCENE_UPDATED_AT:
            self.counts["findScene"] += 1
            scene_id = str(variables.get("id"))
            stamp = self.stamps.get(scene_id)
            scene = {"id": scene_id, "updated_at": stamp} if stamp else None
            return 200, json.dumps({"data": {"findScene": scene}}).encode()
        if query == queries.RUN_PLUGIN_TASK and variables.get("plugin_id") == queries.PLUGIN_ID:
            self.counts["runPluginTask"] += 1
            self.jobs += 1
            return 200, json.dumps({"data": {"runPluginTask": str(self.jobs)}}).encode()
        return self._refuse("not a document the hook sends")

    def _refuse(self, why: str) -> tuple[int, bytes]:
        self.counts["refused"] += 1
        return 400, json.dumps({"errors": [{"message": why}], "data": None}).encode()


def _request_complete(buffer: bytes) -> tuple[bool, bytes]:
    """(whole request read, its body): headers, then Content-Length bytes."""
    head_end = buffer.find(b"\r\n\r\n")
    if head_end < 0:
        return False, b""
    length = 0
    for line in buffer[:head_end].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    body = buffer[head_end + 4 : head_end + 4 + length]
    return len(body) == length, body


def serve(listener: socket.socket, responder: Responder, stop: threading.Event) -> None:
    """One thread, non-blocking sockets: a hook's connection is read, answered and closed."""
    selector = selectors.DefaultSelector()
    listener.setblocking(False)
    selector.register(listener, selectors.EVENT_READ)
    buffers: dict[socket.socket, bytes] = {}
    while not stop.is_set():
        for key, _ in selector.select(timeout=0.2):
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            if sock is listener:
                client, _ = listener.accept()
                client.setblocking(False)
                buffers[client] = b""
                selector.register(client, selectors.EVENT_READ)
                continue
            chunk = sock.recv(65536)
            buffers[sock] += chunk
            done, body = _request_complete(buffers[sock])
            if not chunk or done or len(buffers[sock]) > MAX_REQUEST:
                selector.unregister(sock)
                del buffers[sock]
                if done:
                    status, payload = responder.answer(body)
                    reason = b"OK" if status == 200 else b"Bad Request"
                    sock.setblocking(True)
                    sock.sendall(b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                                 b"Content-Length: %d\r\nConnection: close\r\n\r\n%s"
                                 % (status, reason, len(payload), payload))
                sock.close()


def main() -> int:
    stamps = json.loads(Path(sys.argv[1]).read_text()) if len(sys.argv) > 1 else {}
    responder = Responder({str(k): str(v) for k, v in stamps.items()})
    listener = socket.create_server(("127.0.0.1", 0), backlog=128)
    stop = threading.Event()
    thread = threading.Thread(target=serve, args=(listener, responder, stop), daemon=True)
    thread.start()
    print(listener.getsockname()[1], flush=True)
    sys.stdin.read()  # the benchmark closes stdin when it is done
    stop.set()
    thread.join(timeout=5)
    print(json.dumps(responder.counts), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
