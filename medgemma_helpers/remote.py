"""A MedGemma served over HTTP (vLLM, `transformers serve`, any OpenAI-compatible server), used like a loaded one.

One GPU serves a whole class: each notebook sends the same typed messages it would give the local model, as
OpenAI chat completions (images as PNG data URLs, greedy, streamed over server-sent events), and gets the
same raw text back (a separately sent reasoning trace is put back between MedGemma's own markers), so the
same Findings come out of asking.py.

Why httpx by hand rather than huggingface_hub's InferenceClient. InferenceClient (huggingface_hub 2.4.0) speaks
the protocol: base_url, stream_options, temperature 0 and image data URLs go through (inference/_client.py:898-918),
and unknown delta fields such as reasoning_content are kept (_generated/types/base.py:138-144). Tried against
tests/test_remote.py it loses on things users need. (1) Every request goes through the Hub's shared session,
whose request hook refuses all traffic while HF_HUB_OFFLINE is set (utils/_http.py:293-296): an offline
classroom cannot reach its own server, and the offline suite failed 22 of 23. (2) With no api_key it sends the
user's saved Hugging Face token to the class server (_providers/hf_inference.py:32 `api_key or get_token()`,
made a header by _providers/_common.py:206). (3) The key sits in a plain attribute (_client.py:199 `self.token`),
which vars() shows. (4) One timeout, typed as a float (_client.py:174), covers connecting and reading, and both
become the same InferenceTimeoutError (_client.py:276-278), while a stall mid-stream escapes as a raw
httpx2.ReadTimeout. Without hand-written workarounds a dead server cannot be told from a busy one.
(5) A stream cut before its finish event ends silently (inference/_common.py:311-317), so a truncated answer
looks complete. A malformed event raises a bare json.JSONDecodeError (_common.py:343) and a refused connection a
bare httpx2.ConnectError; neither names the server. (6) Redirects are followed (utils/_http.py:347) and a 3xx is
never raised (:868-869), so a 307 sends the prompt and images to another address. (7) close() only closes its own
exit stack (_client.py:237-238). The connections belong to a process-wide client that "you should not close"
(utils/_http.py:409). (8) It has no /v1/models call. Its transport errors changed from requests (huggingface_hub
0.x) to httpx (1.x) to httpx2 (2.x), all within the range requirements.txt allows. Wrapped to keep (2)-(5), it
saved 17 of 132 lines. It still failed (6) and (7), and (1) needs a process-wide patch. httpx is a declared
requirement (huggingface_hub 2.x no longer brings it). It is thread-safe (one client serves complete_many's
concurrent requests), streams line by line and has separate connect and read timeouts. The key lives only in a
slot-only holder, is sent only as a request header and is scrubbed from every error message.

Layer: model access. May import: errors, secret, access.
"""

from __future__ import annotations

import base64
import io
import json
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from PIL import Image, ImageChops

from . import access
from .access import THOUGHT_END, THOUGHT_START, Completion, Messages
from .errors import AccessError, InputError, MedGemmaError
from .secret import Secret

ENDPOINT_ENV = "MEDGEMMA_ENDPOINT"
API_KEY_ENV = "MEDGEMMA_API_KEY"
CONNECT_TIMEOUT = 10.0  # seconds to reach the server: a classroom server is near, so longer means it is down
READ_TIMEOUT = 600.0  # seconds of silence allowed while the server generates (a busy server queues requests)
DEFAULT_CONCURRENCY = 8
SERVE_ADVICE = ("Check that the server is running and the address is right (for example "
                "`vllm serve google/medgemma-1.5-4b-it` listens on http://<server>:8000), or unset "
                f"{ENDPOINT_ENV} to run the model in this notebook instead.")


def _normalise_url(base_url: Any) -> tuple[str, str]:
    """(the /v1 API root to call, the same address without any user:password@ to show in messages)."""
    if not isinstance(base_url, str) or not base_url.strip():
        raise InputError("The server address is empty or not text; give it like mh.connect('http://<server>:8000').")
    url = base_url.strip().rstrip("/")
    if "://" not in url:
        url = "http://" + url
    parts = urlsplit(url)
    # Messages show the address without any user:password@ part.
    safe = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}"
    try:
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        port_ok = False
    if parts.scheme not in ("http", "https") or not parts.hostname or not port_ok:
        raise InputError(f"The server address {safe!r} is not an http(s) address with a valid port; give it like "
                         "mh.connect('http://<server>:8000').")
    path = parts.path.rstrip("/")
    if not path.endswith("/v1"):
        path += "/v1"
    api = urlunsplit((parts.scheme, parts.netloc, path, "", ""))
    host = parts.hostname + (f":{parts.port}" if parts.port else "")
    shown = urlunsplit((parts.scheme, host, path, "", ""))
    return api, shown


def _png_data_url(image: Image.Image) -> str:
    """The image as a lossless PNG data URL; a grey picture goes as one channel (a third of the bytes).

    Servers convert to RGB by copying the channel, so the model sees exactly the pixels the local path sees.
    """
    if image.mode == "RGB":
        red, green, blue = image.split()
        if ImageChops.difference(red, green).getbbox() is None and ImageChops.difference(red, blue).getbbox() is None:
            image = red
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)  # lossless at every level; 1 is the fastest
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def openai_messages(messages: Messages) -> list[dict[str, Any]]:
    """build_messages' typed parts as OpenAI chat messages: image parts become image_url data URLs, in order."""
    converted: list[dict[str, Any]] = []
    for message in messages:
        parts: list[dict[str, Any]] = []
        for part in message["content"]:
            if part["type"] == "image":
                parts.append({"type": "image_url", "image_url": {"url": _png_data_url(part["image"])}})
            else:
                parts.append({"type": "text", "text": part["text"]})
        if message["role"] == "system":  # plain text is what every server's system turn accepts
            converted.append({"role": "system", "content": " ".join(p["text"] for p in parts)})
        else:
            converted.append({"role": message["role"], "content": parts})
    return converted


def _detail(response: Any) -> str:
    """The server's own words about an error, from the JSON shapes vLLM, FastAPI and OpenAI use."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:300]
    if isinstance(body, dict):
        error = body.get("error", body.get("detail", body.get("message", body)))
        if isinstance(error, dict):
            error = error.get("message", error)
        return str(error)[:300]
    return str(body)[:300]


def _mentions_unknown_model(detail: str) -> bool:
    """vLLM and OpenAI: 404 'The model `x` does not exist'; transformers serve: 400 'Server is pinned to ...'."""
    text = detail.lower()
    return "pinned" in text or ("model" in text and any(
        word in text for word in ("not found", "does not exist", "unknown", "no such", "not served")))


class RemoteMedGemma:
    """A MedGemma on an OpenAI-compatible server, accepted wherever a loaded model is (model=...)."""

    device = "remote"

    def __init__(self, base_url: str, model_id: str | None = None, *, api_key: str | None = None,
                 timeout: float = READ_TIMEOUT):
        import httpx

        self.base_url, self.url = _normalise_url(base_url)
        self._key = Secret(api_key, "the API key") if api_key else None
        self.timeout = float(timeout)
        self._httpx = httpx
        # No default headers: the key is added per request, so the client object never holds it.
        self._client = httpx.Client(timeout=httpx.Timeout(self.timeout, connect=min(CONNECT_TIMEOUT, self.timeout)),
                                    follow_redirects=False)
        self.model_id = model_id or ""

    # ------------------------------------------------------------ identity

    @property
    def name(self) -> str:
        """The served model's name (a folder path served by `transformers serve` shows as its last part)."""
        model_id = self.model_id.rstrip("/")
        return model_id.rsplit("/", 1)[-1] if model_id.startswith(("/", "./", "~")) else model_id

    @property
    def fingerprint(self) -> str:
        """A short digest of the API key (for telling connections apart without keeping the key in a cache key)."""
        return self._key.fingerprint() if self._key else ""

    def __repr__(self) -> str:
        key = "set" if self._key else "none"
        return f"RemoteMedGemma(url={self.url!r}, model={self.model_id!r}, api_key={key})"

    __str__ = __repr__

    def close(self) -> None:
        """Close the HTTP connections; the connection stops being the default model."""
        self._client.close()
        access.forget(self)

    def __enter__(self) -> RemoteMedGemma:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ------------------------------------------------------------ HTTP and its errors

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json, text/event-stream"}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key.reveal()}"
        return headers

    def _scrub(self, text: str) -> str:
        return self._key.scrub(text) if self._key else text

    def _error(self, error_type: type[MedGemmaError], message: str) -> MedGemmaError:
        return error_type(self._scrub(message))

    def _transport_error(self, error: Exception, path: str) -> MedGemmaError:
        """An httpx failure (no connection, timeout, broken stream) as a message naming the address."""
        httpx = self._httpx
        where = f"{self.url}{path}"
        if isinstance(error, httpx.ConnectTimeout):
            return self._error(AccessError, f"The MedGemma server at {self.url} did not answer within "
                                            f"{min(CONNECT_TIMEOUT, self.timeout):.0f} s. " + SERVE_ADVICE)
        if isinstance(error, httpx.ConnectError):
            return self._error(AccessError, f"Could not connect to the MedGemma server at {self.url} (connection "
                                            "refused or host not found). " + SERVE_ADVICE)
        if isinstance(error, (httpx.ReadTimeout, httpx.WriteTimeout, httpx.PoolTimeout)):
            return self._error(MedGemmaError, f"The MedGemma server at {self.url} stopped answering for "
                                              f"{self.timeout:.0f} s while generating ({where}). It may be busy "
                                              "with other requests: try again, lower max_new_tokens, or connect "
                                              "with a longer timeout, e.g. mh.connect(url, timeout=1200).")
        if isinstance(error, (httpx.RemoteProtocolError, httpx.ReadError)):
            return self._error(MedGemmaError, f"The connection to the MedGemma server at {self.url} was lost "
                                              f"mid-answer ({where}): the server may have restarted or run out of "
                                              "memory. Try again; if it repeats, check the server's log.")
        return self._error(MedGemmaError, f"Talking to the MedGemma server at {self.url} failed ({where}): "
                                          f"{type(error).__name__}: {error}")

    def _status_error(self, response: Any, path: str) -> MedGemmaError:
        """An HTTP error answer as a message naming the address and what to do."""
        status = response.status_code
        detail = _detail(response)
        where = f"{self.url}{path}"
        if status < 400:  # not followed: a POST redirected would lose its body, and the key could go elsewhere
            location = response.headers.get("location", "another address")
            return self._error(MedGemmaError, f"The server at {self.url} redirects to {location} (HTTP {status}); "
                                              "connect to that address instead (https:// rather than http://?).")
        if status in (401, 403):
            if self._key:
                advice = "The API key was refused: check it (mh.connect(url, api_key=...) or " + API_KEY_ENV + ")."
            else:
                advice = f"The server needs an API key: pass mh.connect(url, api_key=...) or set {API_KEY_ENV}."
            return self._error(AccessError, f"The MedGemma server at {self.url} refused the request (HTTP {status}). "
                                            + advice)
        if status in (400, 404) and _mentions_unknown_model(detail):
            return self._error(MedGemmaError, f"The MedGemma server at {self.url} does not serve the model "
                                              f"{self.model_id!r}: {detail.rstrip('.')}. {self._served_hint()}")
        if status == 404:
            return self._error(MedGemmaError, f"Nothing answers at {where} (HTTP 404): is {self.url} the address of "
                                              "an OpenAI-compatible server (vLLM, transformers serve)? Give its root, "
                                              "e.g. http://<server>:8000.")
        if status >= 500:
            return self._error(MedGemmaError, f"The MedGemma server at {self.url} failed (HTTP {status}): {detail}. "
                                              "It may be out of memory or overloaded: try again, lower "
                                              "max_new_tokens or send fewer images; the server's log says more.")
        return self._error(MedGemmaError, f"The MedGemma server at {self.url} rejected the request (HTTP {status}) "
                                          f"at {where}: {detail}")

    def _served_hint(self) -> str:
        try:
            served = self.list_models()
        except MedGemmaError:
            return ""
        return (f"It serves: {', '.join(served)}. Pass mh.connect(url, model=...) with one of these."
                if served else "")

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._client.request(method, self.base_url + path, headers=self._headers(), **kwargs)
        except self._httpx.HTTPError as error:
            raise self._transport_error(error, path) from None
        if response.status_code >= 300:
            raise self._status_error(response, path) from None
        return response

    def list_models(self) -> list[str]:
        """The model names the server answers to (GET /v1/models)."""
        response = self._request("GET", "/models")
        try:
            data = response.json()["data"]
            return [str(item["id"]) for item in data]
        except (ValueError, KeyError, TypeError):
            raise self._error(MedGemmaError, f"The server at {self.url} answered /models with something that is not "
                                             "an OpenAI model list; is it an OpenAI-compatible server?") from None

    # ------------------------------------------------------------ asking

    def _payload(self, messages: Messages, max_new_tokens: int, stream: bool) -> dict[str, Any]:
        payload: dict[str, Any] = {"model": self.model_id, "messages": openai_messages(messages),
                                   "max_tokens": max_new_tokens, "temperature": 0.0, "stream": stream}
        if stream:  # vLLM and OpenAI send token counts at the end of a stream only when asked
            payload["stream_options"] = {"include_usage": True}
        return payload

    def _malformed(self, what: str) -> MedGemmaError:
        return self._error(MedGemmaError, f"The MedGemma server at {self.url} sent a malformed answer ({what}); "
                                          "is it an OpenAI-compatible server? Try again; the server's log says more.")

    def _read_stream(self, response: Any, on_text: Callable[[str], None]) -> tuple[str, dict[str, Any] | None, int]:
        """Follow the server-sent events, passing on the growing raw text; returns (raw text, usage, text chunks)."""
        content, reasoning = "", ""
        usage, pieces, finished = None, 0, False
        for line in response.iter_lines():
            line = line.strip()
            if not line.startswith("data:"):  # blank separators, ': keep-alive' comments, event:/id: fields
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                finished = True
                break
            try:
                chunk = json.loads(data)
            except ValueError:
                raise self._malformed(f"an event that is not JSON: {data[:80]!r}") from None
            if not isinstance(chunk, dict):
                raise self._malformed("an event that is not a JSON object")
            if chunk.get("error"):
                error = chunk["error"]
                message = error.get("message", error) if isinstance(error, dict) else error
                raise self._error(MedGemmaError, f"The MedGemma server at {self.url} failed while generating: "
                                                 f"{str(message)[:300]}")
            if chunk.get("usage"):
                usage = chunk["usage"]
            choices = chunk.get("choices") or []
            if not isinstance(choices, list):
                raise self._malformed("'choices' is not a list")
            for choice in choices:
                delta = choice.get("delta") or {} if isinstance(choice, dict) else None
                if not isinstance(delta, dict):
                    raise self._malformed("a choice without a 'delta' object")
                # A server started with a reasoning parser sends the thinking trace on its own.
                thought = delta.get("reasoning_content") or delta.get("reasoning") or ""
                text = delta.get("content") or ""
                if not isinstance(text, str) or not isinstance(thought, str):
                    raise self._malformed("text that is not a string")
                reasoning += thought
                content += text
                pieces += bool(text or thought)
                finished = finished or bool(choice.get("finish_reason"))
            on_text(_raw_text(content, reasoning, closed=bool(content)))
        if not finished:
            raise self._error(MedGemmaError, f"The answer from the MedGemma server at {self.url} stopped before it "
                                             "was complete (no finish event): the server may have restarted. "
                                             "Try again.")
        return _raw_text(content, reasoning, closed=True), usage, pieces

    def _complete(self, payload: dict[str, Any], on_text: Callable[[str], None] | None
                  ) -> tuple[str, dict[str, Any] | None, int]:
        path = "/chat/completions"
        if on_text is None:
            response = self._request("POST", path, json=payload)
            try:
                body = response.json()
                message = body["choices"][0]["message"]
                text = message.get("content") or ""
                thought = message.get("reasoning_content") or message.get("reasoning") or ""
            except (ValueError, KeyError, IndexError, TypeError, AttributeError):
                raise self._malformed("no choices[0].message in the reply") from None
            if not isinstance(text, str) or not isinstance(thought, str):
                raise self._malformed("text that is not a string")
            return _raw_text(text, thought, closed=True), body.get("usage"), 0
        try:
            with self._client.stream("POST", self.base_url + path, json=payload, headers=self._headers()) as response:
                if response.status_code >= 300:
                    response.read()
                    raise self._status_error(response, path)
                return self._read_stream(response, on_text)
        except self._httpx.HTTPError as error:
            raise self._transport_error(error, path) from None

    def complete(self, messages: Messages, *, max_new_tokens: int,
                 on_text: Callable[[str], None] | None = None) -> Completion:
        """Ask the served MedGemma, greedily; streamed (on_text gets the growing raw text) when on_text is given."""
        payload = self._payload(messages, max_new_tokens, on_text is not None)
        raw, usage, pieces = self._complete(payload, on_text)
        usage = usage if isinstance(usage, dict) else {}
        return Completion(raw, int(usage.get("prompt_tokens") or 0),
                          # Without usage, a streamed answer's events approximate its tokens (one token each).
                          int(usage.get("completion_tokens") or pieces))

    def complete_many(self, conversations: list[Messages], *, max_new_tokens: int,
                      batch_size: int) -> list[Completion]:
        """Send batch_size requests at once (the server batches them); answers come back in the order given.

        Each Completion's seconds is that request's own time on the wire, so they overlap and add up to more than
        the wall time of the whole call.
        """
        if not conversations:
            return []

        def ask(messages: Messages) -> Completion:
            started = time.perf_counter()
            done = self.complete(messages, max_new_tokens=max_new_tokens)
            return Completion(done.raw, done.prompt_tokens, done.new_tokens, time.perf_counter() - started)

        with ThreadPoolExecutor(max_workers=max(1, min(batch_size, len(conversations))),
                                thread_name_prefix="medgemma-remote") as pool:
            return list(pool.map(ask, conversations))


def _raw_text(content: str, reasoning: str, closed: bool) -> str:
    """Content with a separately sent thinking trace put back in MedGemma's own markers, for split_thinking."""
    if not reasoning:
        return content
    return THOUGHT_START + reasoning + (THOUGHT_END if closed else "") + content


def connect(base_url: str | None = None, *, model: str | None = None, api_key: str | None = None,
            timeout: float = READ_TIMEOUT) -> RemoteMedGemma:
    """Use a MedGemma served by vLLM or `transformers serve` (OpenAI-compatible) wherever a loaded model is.

    base_url defaults to MEDGEMMA_ENDPOINT and api_key to MEDGEMMA_API_KEY; with model=None the server's only model
    is used. The connection becomes the default model for calls that pass no model=.
    """
    if base_url is None:
        base_url = os.environ.get(ENDPOINT_ENV, "").strip() or None
        if base_url is None:
            raise MedGemmaError(f"No server address: pass mh.connect('http://<server>:8000') or set {ENDPOINT_ENV}.")
    if api_key is None:
        api_key = os.environ.get(API_KEY_ENV, "").strip() or None
    if api_key is not None and (not isinstance(api_key, str) or not api_key.strip()):
        raise MedGemmaError("api_key is empty or not text; pass the key string, or leave it out for a server "
                            "without one.")
    if model is not None and (not isinstance(model, str) or not model.strip()):
        raise MedGemmaError("model= is empty or not text; give the served model's name, or leave it out to use the "
                            "server's only model.")
    if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or timeout <= 0:
        raise MedGemmaError(f"timeout={timeout!r} must be a positive number of seconds.")
    remote = RemoteMedGemma(base_url, model.strip() if model else None,
                            api_key=api_key.strip() if api_key else None, timeout=timeout)
    try:
        served: list[str] | None = remote.list_models()
    except MedGemmaError as error:
        # A server without a model list can still answer for a model named here.
        if not (model and "HTTP 404" in str(error)):
            remote.close()
            raise
        served = None
    if served is not None:
        if model is None:
            if len(served) != 1:
                remote.close()
                listing = ", ".join(served) if served else "none"
                raise MedGemmaError(f"The server at {remote.url} serves {len(served)} models ({listing}); choose one: "
                                    "mh.connect(url, model='<name>') or set MEDGEMMA_MODEL_ID to the name.")
            remote.model_id = served[0]
        elif remote.model_id not in served:
            remote.close()
            raise MedGemmaError(f"The server at {remote.url} does not serve the model {remote.model_id!r}; it serves: "
                                f"{', '.join(served) or 'none'}. Pass mh.connect(url, model=...) with one of these.")
    access.remember(remote_key(remote.url, remote.model_id if model else None, remote.fingerprint), remote)
    print(f"Connected to {remote.name} at {remote.url}.")
    return remote


def remote_key(url: str, model: str | None, fingerprint: str) -> tuple[str, ...]:
    """The model-cache key of a connection (the key itself stays out of it)."""
    return ("remote", url, model or "", fingerprint)


def connection_key(base_url: str, model: str | None, api_key: str | None) -> tuple[str, ...]:
    """remote_key for connect(base_url, model=model, api_key=api_key), without connecting."""
    fingerprint = Secret(api_key, "the API key").fingerprint() if api_key else ""
    return remote_key(_normalise_url(base_url)[1], model, fingerprint)
