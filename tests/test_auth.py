"""Authentication: where the token comes from, that it never leaks, and what a refusal tells the user."""

from __future__ import annotations

import http.server
import os
import secrets
import string
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import medgemma_helpers as mh
from medgemma_helpers import auth

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _fake_token() -> str:
    alphabet = string.ascii_letters + string.digits
    return "hf_" + "".join(secrets.choice(alphabet) for _ in range(34))


@pytest.fixture
def no_token_sources(monkeypatch, tmp_path):
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(auth, "_from_cached_login", lambda: None)
    monkeypatch.setattr(auth, "_current", None)


def test_token_order_argument_then_environment(no_token_sources, monkeypatch):
    env_token, arg_token = _fake_token(), _fake_token()
    monkeypatch.setenv("HUGGING_FACE_HUB_TOKEN", env_token)
    assert auth.find_token().reveal() == env_token
    monkeypatch.setenv("HF_TOKEN", arg_token)  # HF_TOKEN wins over the older name
    assert auth.find_token().reveal() == arg_token
    assert auth.find_token("  " + env_token + " ").reveal() == env_token


def test_kaggle_secret_names_are_tried_in_order(no_token_sources, monkeypatch):
    token = _fake_token()
    monkeypatch.setattr(auth, "_from_kaggle", lambda: (token, "the Kaggle secret HUGGINGFACE_TOKEN"))
    found = auth.find_token()
    assert found.reveal() == token and "Kaggle" in found.source


def test_token_never_printed_or_in_repr(no_token_sources, monkeypatch, capsys):
    token = _fake_token()
    monkeypatch.setenv("HF_TOKEN", token)
    assert mh.authenticate() is True
    secret = auth.find_token()
    seen = capsys.readouterr()
    assert token not in seen.out + seen.err + repr(secret) + str(secret) + repr(auth._current)
    assert auth.current_token() == token  # kept for downloads, only shown on purpose


def test_no_token_explains_the_steps(no_token_sources, capsys):
    assert mh.authenticate() is False
    out = capsys.readouterr().out
    assert "accept" in out and "HF_TOKEN" in out and "huggingface.co/settings/tokens" in out


def test_empty_token_argument_is_refused(no_token_sources):
    with pytest.raises(mh.AccessError):
        mh.authenticate("   ")


class _GatedHub(http.server.BaseHTTPRequestHandler):
    """Answers like the Hub does for a gated repository the token may not open."""

    def _refuse(self) -> None:
        body = b'{"error": "Access to model google/medgemma-1.5-4b-it is restricted."}'
        self.send_response(401 if "whoami" in self.path else 403)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Error-Code", "GatedRepo")
        self.send_header("X-Error-Message", "Access to model google/medgemma-1.5-4b-it is restricted.")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_HEAD = do_POST = _refuse

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def gated_hub():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _GatedHub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _run_with_hub(endpoint: str, token: str, code: str, home: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING"))}
    env.update(HF_ENDPOINT=endpoint, HF_TOKEN=token, HF_HOME=str(home), HF_HUB_OFFLINE="0",
               HF_HUB_DOWNLOAD_TIMEOUT="5", HF_HUB_ETAG_TIMEOUT="5", PYTHONPATH=str(PROJECT_ROOT))
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)


def test_gated_refusal_becomes_access_error_with_steps_and_no_token(gated_hub, tmp_path):
    token = _fake_token()
    code = (
        "import medgemma_helpers as mh\n"
        "try:\n    mh.authenticate()\nexcept mh.AccessError as e:\n    print('AUTH-REFUSED', e)\n"
        "try:\n    mh.load_model()\nexcept mh.AccessError as e:\n    print('LOAD-REFUSED', e)\n"
    )
    result = _run_with_hub(gated_hub, token, code, tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "AUTH-REFUSED" in output and "invalid or revoked" in output
    assert "LOAD-REFUSED" in output and "gated" in output
    assert "accept" in output and "HF_TOKEN" in output and "settings/tokens" in output
    assert token not in output


def test_offline_without_cache_fails_fast_with_advice(tmp_path):
    code = "import medgemma_helpers as mh\ntry:\n    mh.load_model()\nexcept mh.AccessError as e:\n    print('OFFLINE', e)\n"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING", "MEDGEMMA"))}
    env.update(HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path), PYTHONPATH=str(PROJECT_ROOT))
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert "OFFLINE" in result.stdout and "MEDGEMMA_MODEL_ID" in result.stdout, result.stdout + result.stderr
