"""Hugging Face authentication for the gated MedGemma weights. The token is never printed or stored on disk.

Layer: model access, bottom. May import: errors, secret.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import AccessError
from .secret import Secret

DEFAULT_MODEL_ID = "google/medgemma-1.5-4b-it"
MODEL_ID_ENV = "MEDGEMMA_MODEL_ID"
MODEL_PAGE = f"https://huggingface.co/{DEFAULT_MODEL_ID}"

ACCESS_STEPS = (
    f"1) open {MODEL_PAGE} while logged in and accept the Health AI Developer Foundations terms; "
    "2) create a token with 'read' access at https://huggingface.co/settings/tokens; "
    "3) add it as a secret named HF_TOKEN (Colab: the key icon in the left bar, then allow notebook access; "
    "Kaggle: Add-ons > Secrets) or set the environment variable HF_TOKEN."
)
# In a notebook the next step is the authenticate cell; at a shell it is the command again (cli.py says so).
RETRY_IN_NOTEBOOK = " Then run mh.authenticate() again."

ENV_TOKEN_NAMES = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")
KAGGLE_SECRET_NAMES = ("HF_TOKEN", "HUGGINGFACE_TOKEN")



_current: Secret | None = None


def _from_colab() -> str | None:
    try:
        from google.colab import userdata  # only on Colab
    except ImportError:
        return None
    try:
        return userdata.get("HF_TOKEN") or None
    except Exception:  # SecretNotFoundError, NotebookAccessError, TimeoutException: treat all as "not set"
        return None


def _from_kaggle() -> tuple[str, str] | None:
    try:
        from kaggle_secrets import UserSecretsClient  # only on Kaggle
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


def find_token(token: str | None = None) -> Secret | None:
    """The first token found: argument, environment, Colab secret, Kaggle secret, cached login."""
    if token is not None:
        if not isinstance(token, str) or not token.strip():
            raise AccessError("The token given to mh.authenticate is empty or not text; pass the token string, "
                              "or call mh.authenticate() with no argument to use HF_TOKEN.")
        return Secret(token.strip(), "the argument")
    for name in ENV_TOKEN_NAMES:
        value = os.environ.get(name, "").strip()
        if value:
            return Secret(value, f"the environment variable {name}")
    colab = _from_colab()
    if colab:
        return Secret(colab.strip(), "the Colab secret HF_TOKEN")
    kaggle = _from_kaggle()
    if kaggle:
        return Secret(kaggle[0].strip(), kaggle[1])
    cached = _from_cached_login()
    if cached:
        return Secret(cached.strip(), "the cached Hugging Face login")
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
        print(_without_token_note())
        return False
    if not hub_offline():
        _verify(secret)
    _current = secret
    print(f"Hugging Face token found ({secret.source}).")
    return True


def _verify(secret: Secret) -> None:
    """Ask the Hub who the token belongs to; a refused token is an AccessError, no network is only a note."""
    from huggingface_hub import whoami

    try:
        whoami(token=secret.reveal())
    except Exception as error:  # noqa: BLE001 - classified below, never re-raised with the token inside
        status = getattr(getattr(error, "response", None), "status_code", None)
        if status in (401, 403):
            raise AccessError(f"Hugging Face refused the token from {secret.source} (HTTP {status}): it is "
                              "invalid or revoked. " + ACCESS_STEPS + RETRY_IN_NOTEBOOK) from None
        print(f"Could not check the token with Hugging Face ({type(error).__name__}); continuing.")


def _without_token_note() -> str:
    """What having no token means here: nothing (a server, a pack, a local folder), or the steps to get one."""
    local = os.environ.get(MODEL_ID_ENV, "").strip()
    if os.environ.get("MEDGEMMA_ENDPOINT", "").strip():
        return "No Hugging Face token found; none is needed to use the class server named by MEDGEMMA_ENDPOINT."
    if os.environ.get("MEDGEMMA_PACK", "").strip():
        return "No Hugging Face token found; none is needed to replay the class pack named by MEDGEMMA_PACK."
    if local and is_local_model(local):
        return f"No Hugging Face token found; none is needed for the local model folder {local}."
    if local and looks_like_folder(local):
        return (f"{MODEL_ID_ENV} names the model folder {local}, which does not exist: check the path (a local "
                "copy needs no token), or unset it to download MedGemma from the Hub.")
    return "No Hugging Face token found. MedGemma is gated: " + ACCESS_STEPS + RETRY_IN_NOTEBOOK


def current_token() -> str | None:
    """The token for Hub downloads: the one authenticate() kept, else whatever find_token() sees."""
    secret = _current or find_token()
    return secret.reveal() if secret else None


def is_local_model(model_id: str) -> bool:
    """A folder on disk (including a Kaggle Models path under /kaggle/input) needs no token."""
    return Path(model_id).expanduser().is_dir()


def looks_like_folder(model_id: str) -> bool:
    """A path rather than a hub id ("org/name"): absolute, relative with ./ or ../, or under ~."""
    return model_id.startswith(("/", "./", "../", "~", ".\\")) or (len(model_id) > 2 and model_id[1] == ":")


def default_model_id() -> str:
    """MEDGEMMA_MODEL_ID when set (hub id or local folder), else the hub id of MedGemma 1.5 4B."""
    return os.environ.get(MODEL_ID_ENV, "").strip() or DEFAULT_MODEL_ID
