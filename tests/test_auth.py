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
    """No token anywhere: no variables, no Colab or Kaggle, and huggingface_hub's login file in an empty folder."""
    import huggingface_hub.constants

    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for name in ("google.colab", "google.colab.userdata", "kaggle_secrets"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    # The real cached-login lookup runs; it reads the token file from here (huggingface_hub reads the path per call).
    monkeypatch.setattr(huggingface_hub.constants, "HF_TOKEN_PATH", str(tmp_path / "hf-home" / "token"))
    monkeypatch.setattr(auth, "_current", None)
    return tmp_path / "hf-home"


def test_token_order_argument_then_environment(no_token_sources, monkeypatch):
    env_token, arg_token = _fake_token(), _fake_token()
    monkeypatch.setenv("HUGGING_FACE_HUB_TOKEN", env_token)
    assert auth.find_token().reveal() == env_token
    monkeypatch.setenv("HF_TOKEN", arg_token)  # HF_TOKEN wins over the older name
    assert auth.find_token().reveal() == arg_token
    assert auth.find_token("  " + env_token + " ").reveal() == env_token




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
    code = ("import medgemma_helpers as mh\ntry:\n    mh.load_model()\n"
            "except mh.AccessError as e:\n    print('OFFLINE', e)\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING", "MEDGEMMA"))}
    env.update(HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path), PYTHONPATH=str(PROJECT_ROOT))
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert "OFFLINE" in result.stdout and "MEDGEMMA_MODEL_ID" in result.stdout, result.stdout + result.stderr


# ---------------------------------------------------------------- Colab and Kaggle secrets, through the real lookup
# Stand-ins for the modules those hosts preinstall, placed in sys.modules; auth.py's own lookup code runs unchanged.


class SecretNotFoundError(Exception):
    """What google.colab.userdata raises for a secret that does not exist."""


class NotebookAccessError(Exception):
    """What google.colab.userdata raises when the user has not let this notebook read the secret."""


def _install_colab(monkeypatch, secrets: dict[str, str], *, access: bool = True) -> list[str]:
    """A google.colab.userdata stand-in holding secrets; returns the list of names asked for."""
    import types

    asked: list[str] = []

    def get(name: str) -> str:
        asked.append(name)
        if name not in secrets:
            raise SecretNotFoundError(f"Secret {name} does not exist.")
        if not access:
            raise NotebookAccessError(f"Notebook does not have access to secret {name}")
        return secrets[name]

    userdata = types.ModuleType("google.colab.userdata")
    userdata.get = get
    userdata.SecretNotFoundError, userdata.NotebookAccessError = SecretNotFoundError, NotebookAccessError
    colab = types.ModuleType("google.colab")
    colab.userdata = userdata
    try:
        import google  # a real namespace package (protobuf) may already be installed: add colab to it
    except ImportError:
        google = types.ModuleType("google")
        google.__path__ = []
        monkeypatch.setitem(sys.modules, "google", google)
    monkeypatch.setattr(google, "colab", colab, raising=False)
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    monkeypatch.setitem(sys.modules, "google.colab.userdata", userdata)
    return asked


def _install_kaggle(monkeypatch, secrets: dict[str, str]) -> list[str]:
    """A kaggle_secrets stand-in: UserSecretsClient().get_secret raises a bare Exception for a missing label."""
    import types

    asked: list[str] = []

    class UserSecretsClient:
        def get_secret(self, label: str) -> str:
            asked.append(label)
            if label not in secrets:
                raise Exception(f"Unexpected response from the service. Response: {{'errors': ['No user secrets "
                                f"exist for kernel id 1 and label {label}.']}}")
            return secrets[label]

    module = types.ModuleType("kaggle_secrets")
    module.UserSecretsClient = UserSecretsClient
    monkeypatch.setitem(sys.modules, "kaggle_secrets", module)
    return asked


def _authenticate_quietly(capsys) -> tuple[bool, str]:
    found = mh.authenticate()
    seen = capsys.readouterr()
    return found, seen.out + seen.err


def test_colab_secret_is_found_and_never_printed(no_token_sources, monkeypatch, capsys):
    token = _fake_token()
    asked = _install_colab(monkeypatch, {"HF_TOKEN": " " + token + "\n"})
    found, printed = _authenticate_quietly(capsys)
    assert found is True and asked == ["HF_TOKEN"]
    assert "the Colab secret HF_TOKEN" in printed and token not in printed
    assert auth.current_token() == token  # stripped, kept for downloads
    assert token not in repr(auth._current) + str(auth._current)


@pytest.mark.parametrize("access", [True, False])
def test_colab_without_the_secret_falls_through_to_kaggle_then_to_advice(no_token_sources, monkeypatch, capsys,
                                                                        access):
    _install_colab(monkeypatch, {"HF_TOKEN": _fake_token()} if not access else {}, access=access)
    found, printed = _authenticate_quietly(capsys)
    assert found is False and "accept" in printed and "HF_TOKEN" in printed
    token = _fake_token()
    _install_kaggle(monkeypatch, {"HF_TOKEN": token})
    found, printed = _authenticate_quietly(capsys)
    assert found is True and "the Kaggle secret HF_TOKEN" in printed and token not in printed


def test_colab_secret_comes_before_kaggle_and_the_cached_login(no_token_sources, monkeypatch, capsys):
    colab_token = _fake_token()
    _install_colab(monkeypatch, {"HF_TOKEN": colab_token})
    kaggle_asked = _install_kaggle(monkeypatch, {"HF_TOKEN": _fake_token()})
    no_token_sources.mkdir(parents=True)
    (no_token_sources / "token").write_text(_fake_token())
    found, printed = _authenticate_quietly(capsys)
    assert found and auth.current_token() == colab_token and kaggle_asked == []
    assert "Colab" in printed and colab_token not in printed


@pytest.mark.parametrize("secrets, used", [
    ({"HF_TOKEN": "first", "HUGGINGFACE_TOKEN": "second"}, "HF_TOKEN"),
    ({"HUGGINGFACE_TOKEN": "second"}, "HUGGINGFACE_TOKEN"),
    ({"HF_TOKEN": "", "HUGGINGFACE_TOKEN": "second"}, "HUGGINGFACE_TOKEN"),  # an empty secret is no secret
])
def test_kaggle_secret_names_are_tried_in_order(no_token_sources, monkeypatch, capsys, secrets, used):
    tokens = {name: _fake_token() if value else "" for name, value in secrets.items()}
    asked = _install_kaggle(monkeypatch, tokens)
    found, printed = _authenticate_quietly(capsys)
    assert found is True and f"the Kaggle secret {used}" in printed
    assert auth.current_token() == tokens[used]
    assert asked == ["HF_TOKEN"] + (["HUGGINGFACE_TOKEN"] if used == "HUGGINGFACE_TOKEN" else [])
    assert all(token not in printed for token in tokens.values() if token)


def test_kaggle_without_either_secret_gives_the_steps(no_token_sources, monkeypatch, capsys):
    asked = _install_kaggle(monkeypatch, {"OTHER": _fake_token()})
    found, printed = _authenticate_quietly(capsys)
    assert found is False and asked == ["HF_TOKEN", "HUGGINGFACE_TOKEN"]
    assert "Add-ons > Secrets" in printed and "Unexpected response" not in printed


def test_cached_login_is_read_through_huggingface_hub(no_token_sources, capsys):
    token = _fake_token()
    no_token_sources.mkdir(parents=True)
    (no_token_sources / "token").write_text(token + "\n")
    found, printed = _authenticate_quietly(capsys)
    assert found is True and "the cached Hugging Face login" in printed and token not in printed
    assert auth.current_token() == token
