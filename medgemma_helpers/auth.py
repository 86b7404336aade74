"""Hugging Face authentication for the gated MedGemma weights. The token is never printed or stored on disk."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import AccessError

DEFAULT_MODEL_ID = "google/medgemma-1.5-4b-it"
MODEL_PAGE = f"https://huggingface.co/{DEFAULT_MODEL_ID}"

ACCESS_STEPS = (
    f"1) open {MODEL_PAGE} while logged in and accept the Health AI Developer Foundations terms; "
    "2) create a token with 'read' access at https://huggingface.co/settings/tokens; "
    "3) add it as a secret named HF_TOKEN (Colab: the key icon in the left bar, then allow notebook access; "
    "Kaggle: Add-ons > Secrets) or set the environment variable HF_TOKEN; then run mh.authenticate() again."
)

ENV_TOKEN_NAMES = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")
KAGGLE_SECRET_NAMES = ("HF_TOKEN", "HUGGINGFACE_TOKEN")


class _Secret:
    """Holds the token; its repr and str never show it."""

    __slots__ = ("_value", "source")

    def __init__(self, value: str, source: str):
        self._value = value
        self.source = source

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"<Hugging Face token from {self.source}>"

    __str__ = __repr__


_current: _Secret | None = None


def _from_colab() -> str | None:
    try:
        from google.colab import userdata  # type: ignore[import-not-found]
    except ImportError:
        return None
    try:
        return userdata.get("HF_TOKEN") or None
    except Exception:  # SecretNotFoundError, NotebookAccessError, TimeoutException: treat all as "not set"
        return None


def _from_kaggle() -> tuple[str, str] | None:
    try:
        from kaggle_secrets import UserSecretsClient  # type: ignore[import-not-found]
    except ImportError:
        return None
    client = UserSecretsClient()
    for name in KAGGLE_SECRET_NAMES:
        try:
            value = client.get_secret(name)
        except Exception:  # the client raises a bare exception for a missing secret
            continue
        if value:
            return value, f"the Kaggle secret {name}"
    return None


def _from_cached_login() -> str | None:
    try:
        from huggingface_hub import get_token
    except ImportError:  # very old huggingface_hub
        from huggingface_hub import HfFolder

        return HfFolder.get_token()
    return get_token()


def find_token(token: str | None = None) -> _Secret | None:
    """The first token found: argument, environment, Colab secret, Kaggle secret, cached login."""
    if token is not None:
        if not isinstance(token, str) or not token.strip():
            raise AccessError("The token given to mh.authenticate is empty or not text; pass the token string, "
                              "or call mh.authenticate() with no argument to use HF_TOKEN.")
        return _Secret(token.strip(), "the argument")
    for name in ENV_TOKEN_NAMES:
        value = os.environ.get(name, "").strip()
        if value:
            return _Secret(value, f"the environment variable {name}")
    colab = _from_colab()
    if colab:
        return _Secret(colab.strip(), "the Colab secret HF_TOKEN")
    kaggle = _from_kaggle()
    if kaggle:
        return _Secret(kaggle[0].strip(), kaggle[1])
    cached = _from_cached_login()
    if cached:
        return _Secret(cached.strip(), "the cached Hugging Face login")
    return None


def hub_offline() -> bool:
    """True when HF_HUB_OFFLINE asks for no network calls to the Hub."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def authenticate(token: str | None = None) -> bool:
    """Find a Hugging Face token and keep it for load_model; True when one was found."""
    global _current
    secret = find_token(token)
    if secret is None:
        _current = None
        local = os.environ.get("MEDGEMMA_MODEL_ID", "").strip()
        endpoint = os.environ.get("MEDGEMMA_ENDPOINT", "").strip()
        if endpoint:
            print("No Hugging Face token found; none is needed to use the class server named by MEDGEMMA_ENDPOINT.")
        elif local and is_local_model(local):
            print(f"No Hugging Face token found; none is needed for the local model folder {local}.")
        else:
            print("No Hugging Face token found. MedGemma is gated: " + ACCESS_STEPS)
        return False
    if not hub_offline():
        _verify(secret)
    _current = secret
    print(f"Hugging Face token found ({secret.source}).")
    return True


def _verify(secret: _Secret) -> None:
    """Ask the Hub who the token belongs to; a refused token is an AccessError, no network is only a note."""
    from huggingface_hub import whoami

    try:
        whoami(token=secret.reveal())
    except Exception as error:  # noqa: BLE001 - classified below, never re-raised with the token inside
        status = getattr(getattr(error, "response", None), "status_code", None)
        if status in (401, 403):
            raise AccessError(f"Hugging Face refused the token from {secret.source} (HTTP {status}): it is "
                              "invalid or revoked. " + ACCESS_STEPS) from None
        print(f"Could not check the token with Hugging Face ({type(error).__name__}); continuing.")


def current_token() -> str | None:
    """The token for Hub downloads: the one authenticate() kept, else whatever find_token() sees."""
    secret = _current or find_token()
    return secret.reveal() if secret else None


def is_local_model(model_id: str) -> bool:
    """A folder on disk (including a Kaggle Models path under /kaggle/input) needs no token."""
    return Path(model_id).expanduser().is_dir()
