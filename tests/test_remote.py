"""A served MedGemma (mh.connect): `transformers serve` with the tiny checkpoint on 127.0.0.1, and a small fake
OpenAI-compatible server for the answers a real one gives only when something is wrong."""

from __future__ import annotations

import base64
import io
import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from PIL import Image
from served import TransformersServe, free_port, serve_unavailable_reason

import medgemma_helpers as mh
from medgemma_helpers import access, walkthrough
from medgemma_helpers import model as model_module
from medgemma_helpers.asking import Request, analyze_many
from medgemma_helpers.pixels import pad_square
from medgemma_helpers.remote import RemoteMedGemma, connect

PROMPT = "Describe this chest X-ray."


def _ask(model, *args, **kwargs):
    """mh.analyze with this model, as a notebook asks it."""
    return mh.analyze(*args, model=model, **kwargs)
SYSTEM = "You are an expert radiologist."
SECRET = "sk-test-7f3a9c1e-do-not-print"


# ---------------------------------------------------------------- the real server


@pytest.fixture(scope="module")
def served(tiny_model_dir, tmp_path_factory):
    """`transformers serve` pinned to the tiny checkpoint folder, offline; stopped by its PID afterwards."""
    reason = serve_unavailable_reason()
    if reason is not None:
        # CI's second run uses the oldest transformers requirements.txt allows, which has no such server; the
        # client is the same code either way, and the fake server below still tests it there.
        assert "extras" not in reason, reason  # missing extras is an installation fault: fail, never skip
        pytest.skip(reason)
    server = TransformersServe(tiny_model_dir, log=tmp_path_factory.mktemp("serve") / "serve.log")
    try:
        server.wait_ready(timeout=60)
        yield server
    finally:
        server.stop()
        assert server.process.poll() is not None


@pytest.fixture
def remote(served):
    connection = connect(served.url)
    yield connection
    connection.close()  # also stops it being the default model for later tests


def test_connect_uses_the_servers_only_model_and_hides_the_key(served, tiny_model_dir):
    connection = connect(served.url + "/v1/", api_key=SECRET)  # transformers serve ignores keys
    try:
        assert connection.model_id == str(tiny_model_dir) and connection.name == tiny_model_dir.name
        assert connection.url == served.url + "/v1"
        assert SECRET not in repr(connection) and SECRET not in str(vars(connection))
        assert model_module.default_model() is connection  # calls without model= now use the server
    finally:
        connection.close()
    assert connection not in access._held.values()


def test_a_case_runs_through_the_server_as_it_does_locally(remote, with_cases, tiny_model):
    seen: list[str] = []
    served_read = mh.run_case("01", remote, max_new_tokens=16, on_text=seen.append, show_prompt=False)
    local_read = mh.run_case("01", tiny_model, max_new_tokens=16, stream=False, show_prompt=False)
    walkthrough.forget_answers()
    assert served_read.image_count == 1 and served_read.new_tokens == 16
    assert served_read.prompt_tokens == local_read.prompt_tokens > 64  # the image's soft tokens reached the model
    assert served_read.model_name == remote.name
    # Same checkpoint, same messages, greedy on both sides: the same answer.
    assert served_read.text == local_read.text != ""
    assert seen and seen[-1] == served_read.text


def test_streaming_grows_and_ends_with_the_plain_answer(remote, tiny_model, two_xrays, capsys):
    seen: list[str] = []
    streamed = mh.analyze(two_xrays[0], PROMPT, system=SYSTEM, model=remote, max_new_tokens=24, on_text=seen.append)
    plain = mh.analyze(two_xrays[0], PROMPT, system=SYSTEM, model=remote, max_new_tokens=24, stream=False)
    local = mh.analyze(two_xrays[0], PROMPT, system=SYSTEM, model=tiny_model, max_new_tokens=24, stream=False)
    assert len(seen) >= 10 and all(later.startswith(earlier) for earlier, later in zip(seen, seen[1:]))
    assert len(set(seen)) >= 10  # it grew in many steps, not in one piece at the end
    assert seen[-1] == streamed.text == plain.text == local.text != ""
    assert streamed.new_tokens == plain.new_tokens == 24 and streamed.prompt_tokens == local.prompt_tokens
    capsys.readouterr()
    in_terminal = mh.analyze(two_xrays[0], PROMPT, system=SYSTEM, model=remote, max_new_tokens=24)
    assert capsys.readouterr().out.strip() == in_terminal.text == plain.text


def test_different_images_and_labels_reach_the_server(remote, tiny_model, two_xrays):
    other = mh.analyze(two_xrays[1], PROMPT, model=remote, max_new_tokens=24, stream=False)
    first = mh.analyze(two_xrays[0], PROMPT, model=remote, max_new_tokens=24, stream=False)
    assert other.text != first.text
    pair = mh.analyze(list(two_xrays), "Compare.", model=remote, max_new_tokens=12, stream=False,
                      image_labels=["PRIOR", "CURRENT"])
    local = mh.analyze(list(two_xrays), "Compare.", model=tiny_model, max_new_tokens=12, stream=False,
                       image_labels=["PRIOR", "CURRENT"])
    assert pair.text == local.text and pair.prompt_tokens == local.prompt_tokens and pair.image_count == 2


def test_analyze_many_sends_requests_concurrently_with_the_same_answers(remote, tiny_model, two_xrays):
    requests = [Request(two_xrays[0], PROMPT, SYSTEM), {"images": two_xrays[1], "prompt": "Any effusion?"},
                Request(None, "What imaging would you order for suspected fibroids?")]
    served_answers = analyze_many(requests, model=remote, max_new_tokens=10, batch_size=3)
    local_answers = [mh.analyze(r.images, r.prompt, system=r.system, model=tiny_model, max_new_tokens=10, stream=False)
                     for r in (requests[0], Request(two_xrays[1], "Any effusion?"), requests[2])]
    assert [a.text for a in served_answers] == [a.text for a in local_answers]
    assert all(a.text for a in served_answers)


def test_environment_variable_makes_load_model_use_the_server(served, monkeypatch, tiny_model_dir):
    monkeypatch.setenv("MEDGEMMA_ENDPOINT", served.url)
    monkeypatch.setenv("MEDGEMMA_MODEL_ID", str(tiny_model_dir))  # a local folder: not a served name
    first = mh.load_model()
    try:
        assert isinstance(first, RemoteMedGemma) and first.url == served.url + "/v1"
        started = time.perf_counter()
        assert mh.load_model() is first  # cached like a loaded model
        assert time.perf_counter() - started < 0.01
        findings = mh.analyze(None, "What imaging would you order for suspected fibroids?", max_new_tokens=6,
                              stream=False)  # no model=: the default is the server
        assert findings.model_name == first.name and findings.new_tokens == 6
    finally:
        first.close()


def test_unknown_model_names_the_url_and_what_is_served(served, tiny_model_dir, two_xrays):
    with pytest.raises(mh.MedGemmaError) as refused:
        connect(served.url, model="google/medgemma-27b-it")
    message = str(refused.value)
    assert served.url in message and "google/medgemma-27b-it" in message and str(tiny_model_dir) in message
    # A name the server refuses only when asked (transformers serve answers 400 "pinned to ...").
    unchecked = RemoteMedGemma(served.url, "google/medgemma-27b-it")
    try:
        with pytest.raises(mh.MedGemmaError) as asked:
            _ask(unchecked, two_xrays[0], PROMPT, max_new_tokens=4, stream=False)
        assert "does not serve the model 'google/medgemma-27b-it'" in str(asked.value)
        assert str(tiny_model_dir) in str(asked.value) and served.url in str(asked.value)
    finally:
        unchecked.close()


def test_connection_refused_is_a_clear_error():
    port = free_port()  # bound and released: nothing listens there
    with pytest.raises(mh.AccessError) as refused:
        connect(f"http://127.0.0.1:{port}", api_key=SECRET)
    message = str(refused.value)
    assert f"http://127.0.0.1:{port}/v1" in message and "connect" in message.lower() and SECRET not in message
    assert isinstance(refused.value, mh.MedGemmaError)


# ---------------------------------------------------------------- a fake server for the failures


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):  # keep the test output quiet
        pass

    def _send(self, status: int, body: object, content_type: str = "application/json") -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _authorised(self) -> bool:
        behaviour = self.server.behaviour
        self.server.seen.append({"path": self.path, "authorization": self.headers.get("Authorization")})
        key = behaviour.get("key")
        if key and self.headers.get("Authorization") != f"Bearer {key}":
            self._send(401, {"error": {"message": "Invalid API key", "type": "invalid_request_error"}})
            return False
        return True

    def do_GET(self):  # noqa: N802 - http.server's naming
        if not self._authorised():
            return
        if self.path == "/v1/models":
            self._send(200, {"object": "list", "data": [{"id": name, "object": "model"}
                                                        for name in self.server.behaviour.get("models", ["medgemma"])]})
        else:
            self._send(404, {"detail": "Not Found"})

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        if not self._authorised():
            return
        self.server.bodies.append(body)
        chat = self.server.behaviour.get("chat", "ok")
        if chat == "missing_model":
            self._send(404, {"error": {"message": f"The model `{body['model']}` does not exist.", "code": 404}})
        elif chat == "crash":
            self._send(500, {"error": {"message": "CUDA out of memory", "type": "InternalServerError"}})
        elif chat == "slow":
            time.sleep(2.0)
            self._send(200, {"choices": [{"message": {"content": "late"}}]})
        elif not body.get("stream"):
            self._send(200, {"choices": [{"index": 0, "message": {"role": "assistant", "content": self.server.answer},
                                          "finish_reason": "stop"}],
                             "usage": {"prompt_tokens": 321, "completion_tokens": 7, "total_tokens": 328}})
        else:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            for line in self._events(chat):
                self.wfile.write(line.encode())
                self.wfile.flush()

    def _events(self, chat: str) -> list[str]:
        def event(payload: object) -> str:
            return f"data: {json.dumps(payload)}\n\n"

        if chat == "malformed":
            return [event({"choices": [{"delta": {"content": "Normal"}}]}), "data: {not json\n\n"]
        if chat == "cut":
            return [event({"choices": [{"delta": {"content": "Normal"}}]})]  # no finish, no [DONE]
        if chat == "error_event":
            return [event({"choices": [{"delta": {"content": "Nor"}}]}), event({"error": "generation failed"})]
        if chat == "reasoning":  # vLLM with a reasoning parser: the trace comes on its own
            return [": keep-alive\n\n", event({"choices": [{"delta": {"reasoning_content": "Look at the heart."}}]}),
                    event({"choices": [{"delta": {"content": "Cardio"}}]}),
                    event({"choices": [{"delta": {"content": "megaly."}, "finish_reason": "stop"}]}),
                    event({"choices": [], "usage": {"prompt_tokens": 300, "completion_tokens": 9}}), "data: [DONE]\n\n"]
        pieces = [self.server.answer[i:i + 5] for i in range(0, len(self.server.answer), 5)]
        return ([event({"choices": [{"delta": {"content": piece}}]}) for piece in pieces]
                + [event({"choices": [{"delta": {}, "finish_reason": "stop"}]}), "data: [DONE]\n\n"])


@pytest.fixture
def fake():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.behaviour, server.seen, server.bodies = {}, [], []
    server.answer = "<unused94>thought\nThe heart is large.<unused95>Cardiomegaly. No effusion."
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_a_refused_key_is_an_access_error_that_never_shows_the_key(fake, caplog, capsys):
    fake.behaviour["key"] = "the-right-key"
    caplog.set_level(logging.DEBUG)
    with pytest.raises(mh.AccessError) as refused:
        connect(fake.url, api_key=SECRET)
    message = str(refused.value)
    assert "401" in message and fake.url in message and "api_key" in message
    assert fake.seen[-1]["authorization"] == f"Bearer {SECRET}"  # the key was sent, as a header only
    shown = capsys.readouterr()
    for text in (message, repr(refused.value.args), caplog.text, shown.out, shown.err):
        assert SECRET not in text
    assert refused.value.__cause__ is None and refused.value.__suppress_context__


def test_a_server_that_needs_a_key_says_so(fake):
    fake.behaviour["key"] = "the-right-key"
    with pytest.raises(mh.AccessError, match="needs an API key"):
        connect(fake.url)
    right = connect(fake.url, api_key="the-right-key")
    try:
        assert _ask(right, None, "Hello?", stream=False).text == "Cardiomegaly. No effusion."
    finally:
        right.close()


def test_the_request_carries_the_same_messages_as_a_local_call(fake, two_xrays):
    connection = connect(fake.url)
    try:
        seen: list[str] = []
        findings = _ask(connection, list(two_xrays), PROMPT, system=SYSTEM, max_new_tokens=77,
                                      image_labels=["PRIOR", "CURRENT"], on_text=seen.append)
    finally:
        connection.close()
    body = fake.bodies[-1]
    assert body["model"] == "medgemma" and body["temperature"] == 0 and body["max_tokens"] == 77
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    system, user = body["messages"]
    assert system == {"role": "system", "content": SYSTEM} and user["role"] == "user"
    kinds = [part["type"] for part in user["content"]]
    assert kinds == ["image_url", "text", "image_url", "text", "text"]
    assert [user["content"][i]["text"] for i in (1, 3, 4)] == ["PRIOR", "CURRENT", PROMPT]
    for part, original in zip((user["content"][0], user["content"][2]), two_xrays):
        header, _, encoded = part["image_url"]["url"].partition(",")
        assert header == "data:image/png;base64"
        sent = Image.open(io.BytesIO(base64.b64decode(encoded))).convert("RGB")
        assert np.array_equal(np.asarray(sent), np.asarray(original))  # lossless: the very same pixels
    # The thinking trace is split off the streamed text the same way as locally.
    assert findings.text == "Cardiomegaly. No effusion." and findings.thinking == "The heart is large."
    assert seen[-1] == findings.text and all("unused" not in text for text in seen)
    assert findings.image_count == 2 and findings.model_name == "medgemma"


def test_a_separately_sent_thinking_trace_and_token_counts(fake):
    fake.behaviour["chat"] = "reasoning"
    with connect(fake.url) as connection:
        findings = _ask(connection, None, "Big heart?", on_text=lambda text: None)
    assert findings.text == "Cardiomegaly." and findings.thinking == "Look at the heart."
    assert findings.prompt_tokens == 300 and findings.new_tokens == 9
    with connect(fake.url) as connection:
        fake.behaviour["chat"] = "ok"
        plain = _ask(connection, None, "Big heart?", stream=False)
    assert plain.prompt_tokens == 321 and plain.new_tokens == 7 and plain.thinking == "The heart is large."


@pytest.mark.parametrize("chat, words", [
    ("missing_model", "does not serve the model 'medgemma'"),
    ("crash", "HTTP 500"),
    ("malformed", "malformed"),
    ("cut", "stopped before it was complete"),
    ("error_event", "generation failed"),
])
def test_server_failures_are_clear_errors_naming_the_url(fake, chat, words):
    connection = connect(fake.url, api_key=SECRET)
    fake.behaviour["chat"] = chat
    try:
        with pytest.raises(mh.MedGemmaError) as failed:
            _ask(connection, None, "Hello?", on_text=lambda text: None)
    finally:
        connection.close()
    assert words in str(failed.value) and fake.url in str(failed.value) and SECRET not in str(failed.value)


def test_a_server_that_stops_answering_times_out(fake):
    fake.behaviour["chat"] = "slow"
    connection = connect(fake.url, timeout=0.5)
    started = time.perf_counter()
    try:
        with pytest.raises(mh.MedGemmaError, match="stopped answering") as late:
            _ask(connection, None, "Hello?", stream=False)
    finally:
        connection.close()
    assert time.perf_counter() - started < 1.9 and fake.url in str(late.value)


def test_several_served_models_must_be_chosen(fake):
    fake.behaviour["models"] = ["google/medgemma-1.5-4b-it", "google/medgemma-27b-it"]
    with pytest.raises(mh.MedGemmaError) as ambiguous:
        connect(fake.url)
    assert "google/medgemma-1.5-4b-it, google/medgemma-27b-it" in str(ambiguous.value)
    with connect(fake.url, model="google/medgemma-27b-it") as chosen:
        assert chosen.name == "google/medgemma-27b-it"
        _ask(chosen, None, "Hello?", stream=False)
    assert fake.bodies[-1]["model"] == "google/medgemma-27b-it"


def test_bad_addresses_are_refused_before_any_request():
    for bad in ("", "   ", "ftp://server/v1", None, 42):
        with pytest.raises(mh.MedGemmaError):
            RemoteMedGemma(bad)  # type: ignore[arg-type]


def test_environment_names_the_server_key_and_model(fake, monkeypatch):
    fake.behaviour.update(key=SECRET, models=["google/medgemma-1.5-4b-it", "google/medgemma-27b-it"])
    monkeypatch.setenv("MEDGEMMA_ENDPOINT", fake.url)
    monkeypatch.setenv("MEDGEMMA_API_KEY", SECRET)
    monkeypatch.setenv("MEDGEMMA_MODEL_ID", "google/medgemma-27b-it")  # not a folder here: the served name
    served = mh.load_model()
    try:
        assert served.model_id == "google/medgemma-27b-it" and mh.load_model() is served
        assert SECRET not in repr(served)
        mh.analyze(None, "Hello?", stream=False)  # the default model is the server
        assert fake.bodies[-1]["model"] == "google/medgemma-27b-it"
        assert fake.seen[-1]["authorization"] == f"Bearer {SECRET}"
    finally:
        served.close()


# ---------------------------------------------------------------- what a served model receives


def _sent_images(body: dict) -> list[Image.Image]:
    """The images of a chat request, decoded from their PNG data URLs."""
    user = body["messages"][-1]
    return [Image.open(io.BytesIO(base64.b64decode(part["image_url"]["url"].partition(",")[2]))).convert("RGB")
            for part in user["content"] if part["type"] == "image_url"]


def _sent_prompt(body: dict) -> str:
    return body["messages"][-1]["content"][-1]["text"]


def _assert_padded_film(tiny_model, sent: Image.Image, film: Image.Image) -> None:
    """The served model gets the film padded to a centred square: the same pixels, so the same pixel_values."""
    assert film.width != film.height
    padded = pad_square(film)
    assert np.array_equal(np.asarray(sent), np.asarray(padded)), "the server did not get the padded film"
    processor = tiny_model.processor.image_processor
    assert np.array_equal(processor([sent], return_tensors="np")["pixel_values"],
                          processor([padded], return_tensors="np")["pixel_values"])


def test_a_served_case_run_sends_the_film_padded_to_a_centred_square(fake, tiny_model, with_nonsquare_cases):
    walkthrough.forget_answers()
    with connect(fake.url) as connection:
        for case_id in ("01", "02"):  # a landscape and a portrait film
            mh.run_case(case_id, connection, max_new_tokens=8, on_text=lambda text: None, show_prompt=False)
    walkthrough.forget_answers()
    assert len(fake.bodies) == 2
    for body, case_id in zip(fake.bodies, ("01", "02")):
        (sent,) = _sent_images(body)
        _assert_padded_film(tiny_model, sent, mh.case_image(case_id))


def test_a_served_all_cases_run_sends_every_chest_film_padded(fake, tiny_model, with_nonsquare_cases, capsys):
    with connect(fake.url) as connection:
        results = mh.run_all_cases(connection, max_new_tokens=8)
    capsys.readouterr()
    assert len(results) == 6 and len(fake.bodies) == 6
    by_prompt = {_sent_prompt(body): body for body in fake.bodies}  # concurrent requests: any order
    for case_id in ("01", "02", "03", "04", "05"):
        (sent,) = _sent_images(by_prompt[mh.case_prompt(case_id)])
        _assert_padded_film(tiny_model, sent, mh.case_image(case_id))
    assert _sent_images(by_prompt[mh.case_prompt("06")]) == []
