"""Guarantees of the served-model backend beyond tests/test_remote.py: raw text with its thinking markers, no
Authorization header without a key, redirects refused, a dead host told from a busy one, connections closed."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import medgemma_helpers as mh
from medgemma_helpers import remote as remote_module
from medgemma_helpers.asking import build_messages
from medgemma_helpers.remote import RemoteMedGemma, connect

SECRET = "sk-test-7f3a9c1e-do-not-print"
MESSAGES = build_messages([], "Hello?")


class _KeepAliveHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as uvicorn and vLLM do: closing the client must close the socket

    def log_message(self, *args):
        pass

    def setup(self):
        super().setup()
        with self.server.lock:
            self.server.open += 1

    def finish(self):
        super().finish()
        with self.server.lock:
            self.server.open -= 1

    def _send(self, status, body, headers=()):
        data = json.dumps(body).encode()
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):  # noqa: N802
        self.server.seen.append(("GET", self.path, self.headers.get("Authorization")))
        if self.server.mode == "redirect_all":
            return self._send(301, {}, [("Location", self.server.elsewhere + self.path)])
        self._send(200, {"data": [{"id": "medgemma"}]})

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        self.server.seen.append(("POST", self.path, self.headers.get("Authorization")))
        mode = self.server.mode
        if mode in ("redirect", "redirect_all"):
            return self._send(307, {}, [("Location", self.server.elsewhere + self.path)])
        if not body.get("stream"):
            return self._send(200, {"choices": [{"index": 0, "message": {"role": "assistant", "content": "Fine."},
                                                 "finish_reason": "stop"}],
                                    "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}})
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True

        def event(payload):
            self.wfile.write(f"data: {json.dumps(payload)}\n\n".encode())
            self.wfile.flush()

        if mode == "stall":
            event({"choices": [{"delta": {"content": "Norm"}}]})
            time.sleep(2.0)
            return
        event({"choices": [{"delta": {"reasoning_content": "Look."}}]})
        event({"choices": [{"delta": {"content": "Big"}, "finish_reason": "stop"}]})
        event({"choices": [], "usage": {"prompt_tokens": 30, "completion_tokens": 3}})
        self.wfile.write(b"data: [DONE]\n\n")


def _start(handler=_KeepAliveHandler):
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    server.mode, server.seen, server.open, server.lock = "ok", [], 0, threading.Lock()
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    server.elsewhere = ""
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def server():
    main, other = _start(), _start()
    main.elsewhere = other.url
    yield main, other
    for each in (main, other):
        each.shutdown()
        each.server_close()


def test_raw_text_keeps_the_thinking_markers_and_on_text_grows(server):
    main, _ = server
    seen: list[str] = []
    with connect(main.url) as connection:
        completion = connection.complete(MESSAGES, max_new_tokens=8, on_text=seen.append)
    assert completion.raw == "<unused94>Look.<unused95>Big"
    assert (completion.prompt_tokens, completion.new_tokens) == (30, 3)
    assert seen[0] == "<unused94>Look." and seen[-1] == completion.raw


def test_no_key_sends_no_authorization_even_with_a_saved_hugging_face_token(server, monkeypatch):
    main, _ = server
    monkeypatch.setenv("HF_TOKEN", "hf_saved_token_must_stay_home")
    with connect(main.url) as connection:
        connection.complete(MESSAGES, max_new_tokens=8)
        connection.complete(MESSAGES, max_new_tokens=8, on_text=lambda text: None)
    assert [authorization for *_, authorization in main.seen] == [None, None, None]


def test_a_redirect_is_refused_with_a_message_and_the_key_goes_nowhere_else(server):
    main, other = server
    with connect(main.url, api_key=SECRET) as connection:
        main.mode = "redirect"
        for on_text in (None, lambda text: None):
            with pytest.raises(mh.MedGemmaError, match="redirects to") as redirected:
                connection.complete(MESSAGES, max_new_tokens=8, on_text=on_text)
            assert main.url in str(redirected.value) and SECRET not in str(redirected.value)
    assert other.seen == []  # nothing, not even a keyless POST, went to the other address
    main.mode = "redirect_all"
    with pytest.raises(mh.MedGemmaError, match="redirects to"):
        connect(main.url, api_key=SECRET)


def test_a_dead_host_fails_at_the_connect_timeout_while_a_busy_one_gets_the_read_timeout(monkeypatch):
    monkeypatch.setattr(remote_module, "CONNECT_TIMEOUT", 0.5)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    fillers = []
    for _ in range(8):  # fill the accept queue: further SYNs are dropped, as with a host that is down
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(listener.getsockname())
        fillers.append(filler)
    time.sleep(0.2)
    dead = RemoteMedGemma(f"http://127.0.0.1:{listener.getsockname()[1]}", "medgemma", timeout=600)
    started = time.perf_counter()
    try:
        with pytest.raises(mh.AccessError, match="did not answer within") as late:
            dead.complete(MESSAGES, max_new_tokens=8)
    finally:
        dead.close()
        for filler in fillers:
            filler.close()
        listener.close()
    assert time.perf_counter() - started < 5 and "127.0.0.1" in str(late.value)


def test_a_stream_that_stalls_mid_answer_is_a_read_timeout_naming_the_server(server):
    main, _ = server
    connection = connect(main.url, timeout=0.5)
    main.mode = "stall"
    started = time.perf_counter()
    try:
        with pytest.raises(mh.MedGemmaError, match="stopped answering") as late:
            connection.complete(MESSAGES, max_new_tokens=8, on_text=lambda text: None)
    finally:
        connection.close()
    assert time.perf_counter() - started < 1.9 and main.url in str(late.value)


def test_close_closes_the_connections(server):
    main, _ = server
    connection = connect(main.url)
    connection.complete(MESSAGES, max_new_tokens=8)
    connection.close()
    deadline = time.perf_counter() + 2
    while main.open and time.perf_counter() < deadline:
        time.sleep(0.05)
    assert main.open == 0, f"{main.open} connection(s) still open after close()"


def test_the_key_is_in_no_attribute_of_the_connection_or_what_it_holds(server):
    main, _ = server
    with connect(main.url, api_key=SECRET) as connection:
        connection.complete(MESSAGES, max_new_tokens=8)
        held = [connection, *vars(connection).values()]
        for item in held:
            assert SECRET not in repr(item)
            assert SECRET not in str(getattr(item, "__dict__", ""))
    from huggingface_hub.utils import get_session  # the Hub's shared client: the key must not reach it either

    assert SECRET not in str(getattr(get_session(), "__dict__", ""))
