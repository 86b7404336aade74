"""Loading MedGemma 1.5 4B (or a local copy) once per kernel, in the right precision for the hardware; and the
default model: the one loaded, connected (MEDGEMMA_ENDPOINT) or replayed from a pack (MEDGEMMA_PACK) last.

Layer: model access, top. May import: errors, access, auth, local, remote, pack.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import torch

from . import access
from .auth import (
    ACCESS_STEPS,
    DEFAULT_MODEL_ID,
    MODEL_ID_ENV,
    RETRY_IN_NOTEBOOK,
    current_token,
    default_model_id,
    hub_offline,
    is_local_model,
    looks_like_folder,
)
from .errors import AccessError, InputError, MedGemmaError
from .local import OUT_OF_MEMORY_ADVICE, MedGemma
from .pack import PACK_ENV, use_pack
from .remote import API_KEY_ENV, ENDPOINT_ENV, connect, connection_key


def _resolve_device(device: str | None) -> str:
    if device is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    if not isinstance(device, str):
        device = str(device)
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(f"device={device!r} was asked for, but no CUDA GPU is visible. In Colab choose "
                            "Runtime > Change runtime type > T4 GPU; on Kaggle turn on a GPU accelerator; "
                            "or pass device='cpu' (very slow).")
    if device not in ("cpu", "cuda", "mps") and not device.startswith("cuda:"):
        raise InputError(f"device={device!r} is not understood; use 'cuda', 'cuda:N', 'mps' or 'cpu'.")
    return device


def _resolve_dtype(dtype: Any) -> torch.dtype:
    if dtype is None:
        return torch.bfloat16
    if isinstance(dtype, str):
        dtype = getattr(torch, dtype.replace("torch.", ""), None)
    if dtype in (torch.float16, torch.half):
        # Gemma 3 activations overflow fp16: answers come back empty or NaN. Refuse rather than mislead.
        raise InputError("dtype=float16 is refused: Gemma 3 activations overflow float16 and MedGemma answers "
                            "come back empty or NaN. Use the default bfloat16 (emulated, and still correct, on a T4).")
    if dtype not in (torch.bfloat16, torch.float32):
        raise InputError(f"dtype={dtype!r} is not supported; use torch.bfloat16 (default) or torch.float32.")
    return dtype


def _precision_note(device: str, dtype: torch.dtype) -> str | None:
    if device.startswith("cuda") and dtype == torch.bfloat16:
        major, minor = torch.cuda.get_device_capability(device)
        if major < 8:
            # is_bf16_supported() says True on a T4 too; the capability tells the truth.
            return (f"Note: {torch.cuda.get_device_name(device)} (compute capability {major}.{minor}) emulates "
                    "bfloat16: answers are correct but slower than on an L4 or A100.")
    return None


def _cpu_note(parameters: int, size: str) -> str:
    """What running this model on the CPU means for the wait, by the size actually loaded."""
    if parameters >= 1e9:  # MedGemma 1.5 itself (4.3 B)
        return (f"Note: running on the CPU; a {size}-parameter model takes minutes per answer there. A GPU (a T4 is "
                "enough) answers in seconds; without one, use a class server or a class pack (see the README).")
    return f"Note: running on the CPU; this {size}-parameter model is small enough to answer quickly there."


def _dtype_keyword() -> str:
    """transformers renamed torch_dtype= to dtype= (4.56); use whichever this version knows."""
    import transformers
    from packaging.version import Version

    return "dtype" if Version(transformers.__version__) >= Version("4.56.0") else "torch_dtype"


def _download_note(model_id: str, local: bool) -> str:
    """Say so when the weights are not on this machine yet, so a long first load is expected."""
    if local:
        return ""
    try:
        from huggingface_hub import try_to_load_from_cache

        cached = isinstance(try_to_load_from_cache(model_id, "config.json"), str)
    except Exception:  # noqa: BLE001 - only a note: an old huggingface_hub or an odd cache must not stop loading
        return ""
    return "" if cached else " (the first time downloads the weights, about 8.6 GB, into the Hugging Face cache)"


def _hardware_summary(device: str) -> str:
    if device.startswith("cuda"):
        props = torch.cuda.get_device_properties(device)
        used = torch.cuda.memory_allocated(device) / 2**30
        return f"{props.name}, {used:.1f} of {props.total_memory / 2**30:.1f} GiB in use"
    return "CPU"


def _offload_warning(model: Any, device: str) -> str | None:
    """A plain warning when accelerate placed part of the model on the CPU or disk: the GPU was short of memory.

    device_map="auto" does this silently, and every answer then crawls (layers cross to the GPU at each token).
    """
    placement = getattr(model, "hf_device_map", None)
    if not isinstance(placement, dict) or not placement:
        return None
    offloaded = [where for where in map(str, placement.values()) if where in ("cpu", "disk")]
    on_gpu = len(placement) - len(offloaded)
    if not offloaded or not (device.startswith("cuda") or on_gpu):
        return None  # asked for the CPU, and got it
    places = " and ".join(words for place, words in (("cpu", "the CPU"), ("disk", "the disk")) if place in offloaded)
    return (f"Warning: the GPU had too little free memory, so {len(offloaded)} of {len(placement)} parts of the model "
            f"were placed on {places}. Answers will crawl (minutes instead of seconds). Restart the runtime to free "
            "the GPU and load again, load in 4-bit with mh.load_model(quantize='4bit') (needs bitsandbytes), or "
            "use a GPU with more memory (L4, A100).")


def _quantization_config(quantize: str | None, device: str) -> Any:
    if quantize is None:
        return None
    if quantize != "4bit":
        raise InputError(f"quantize={quantize!r} is not supported; use quantize='4bit' or leave it out.")
    if not device.startswith("cuda"):
        raise InputError("quantize='4bit' needs a CUDA GPU (bitsandbytes); leave it out on the CPU.")
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        raise MedGemmaError("quantize='4bit' needs bitsandbytes: run `pip install bitsandbytes`, "
                            "restart the runtime, and load again.") from None
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                              bnb_4bit_compute_dtype=torch.bfloat16)


def _error_chain(error: BaseException) -> list[BaseException]:
    """The error and its causes: transformers wraps the Hub's errors in an OSError."""
    chain: list[BaseException] = []
    link: BaseException | None = error
    while link is not None and link not in chain:
        chain.append(link)
        link = link.__cause__ or link.__context__
    return chain


def _saved_by(folder: Path) -> str | None:
    """The transformers version a local model folder was saved with (its config.json records it), if any."""
    try:
        saved = json.loads((folder / "config.json").read_text()).get("transformers_version")
    except (OSError, ValueError, AttributeError):
        return None
    return saved if isinstance(saved, str) else None


def _folder_error(model_id: str, error: Exception) -> MedGemmaError:
    """Why a local model folder could not be read: the real cause, and a version hint when that explains it."""
    import transformers
    from packaging.version import InvalidVersion, Version

    cause = " ".join(str(error).split())[:600]
    message = f"Model folder {model_id} could not be loaded by transformers {transformers.__version__}: " \
              f"{type(error).__name__}: {cause}"
    saved = _saved_by(Path(model_id).expanduser())
    try:
        newer = saved is not None and Version(saved).release > Version(transformers.__version__).release
    except InvalidVersion:
        newer = False
    if newer:
        return MedGemmaError(f"{message} It was saved by transformers {saved}, newer than the installed "
                             f"{transformers.__version__}: upgrade with pip install -U \"transformers>={saved}\" "
                             "(then restart the runtime), or save the model again with this version.")
    return MedGemmaError(f"{message} Check that the folder holds the whole model: config.json, the *.safetensors "
                         "weights and the processor files (tokenizer, chat template).")


def _loading_error(model_id: str, error: Exception) -> MedGemmaError:
    """Turn the many ways loading fails into one message that says what to do."""
    from huggingface_hub.errors import GatedRepoError, LocalEntryNotFoundError, RepositoryNotFoundError

    chain = _error_chain(error)
    if any(isinstance(e, torch.cuda.OutOfMemoryError) for e in chain):
        return MedGemmaError(f"The GPU ran out of memory loading {model_id}. " + OUT_OF_MEMORY_ADVICE)
    if is_local_model(model_id):
        # Nothing was asked of the Hub: the folder itself is the cause (a missing file, a newer format), offline or not.
        return _folder_error(model_id, error)
    statuses = {getattr(getattr(e, "response", None), "status_code", None) for e in chain}
    text = " ".join(str(e) for e in chain)
    if any(isinstance(e, GatedRepoError) for e in chain) or statuses & {401, 403} or "gated repo" in text:
        return AccessError(f"Hugging Face refused access to {model_id} (gated model). " + ACCESS_STEPS
                           + RETRY_IN_NOTEBOOK)
    if any(isinstance(e, RepositoryNotFoundError) for e in chain) or 404 in statuses:
        return AccessError(f"Model {model_id} was not found on Hugging Face, or your token cannot see it. Check "
                           f"the id (default {DEFAULT_MODEL_ID}) or give a local folder. " + ACCESS_STEPS
                           + RETRY_IN_NOTEBOOK)
    if any(isinstance(e, LocalEntryNotFoundError) for e in chain) or (hub_offline() and isinstance(error, OSError)):
        return AccessError(f"Model {model_id} is not in the local cache and the Hub cannot be reached "
                           "(HF_HUB_OFFLINE is set, or there is no network). Connect once to download it, unset "
                           f"HF_HUB_OFFLINE, or set {MODEL_ID_ENV} to a folder holding the model.")
    return MedGemmaError(f"Loading {model_id} failed: {type(error).__name__}: {error}")


def load_model(model_id: str | None = None, *, device: str | None = None, dtype: Any = None,
               quantize: str | None = None) -> Any:
    """Load MedGemma (hub id or local folder) once per kernel in bfloat16; later calls return the same object.

    With MEDGEMMA_PACK set and no model_id, returns mh.use_pack() of that class pack; with MEDGEMMA_ENDPOINT set,
    mh.connect() to that server (MEDGEMMA_API_KEY, and MEDGEMMA_MODEL_ID as the served name unless it is a local
    folder): every notebook uses the pack or the server unedited.
    """
    if model_id is None and os.environ.get(PACK_ENV, "").strip():
        return use_pack()  # a class pack: the recorded reads, no GPU, token or network needed
    if model_id is None and os.environ.get(ENDPOINT_ENV, "").strip():
        return _served_model()
    model_id = (model_id or default_model_id()).strip()
    device = _resolve_device(device)
    dtype = _resolve_dtype(dtype)
    quantization = _quantization_config(quantize, device)  # a bad option fails before anything is read
    # One entry per model on disk: "./tiny/", "tiny" and its absolute path are the same folder, and "cuda" is
    # "cuda:0" on a one-GPU runtime; a second 8.6 GB copy would not fit on a T4.
    same_model = str(Path(model_id).expanduser().resolve()) if is_local_model(model_id) else model_id
    same_device = f"cuda:{torch.cuda.current_device()}" if device == "cuda" else device
    key = (same_model, same_device, str(dtype), quantize)
    already = access.held(key)  # loading it again makes it the default model again
    if already is not None:
        return already

    local = is_local_model(model_id)
    if local:
        folder = Path(model_id).expanduser()
        if not (folder / "config.json").is_file():
            raise MedGemmaError(f"Folder {model_id} holds no config.json; point at the folder that holds the "
                                "model's config.json, *.safetensors and processor files.")
    elif looks_like_folder(model_id):
        source = f" (from {MODEL_ID_ENV})" if model_id == os.environ.get(MODEL_ID_ENV, "").strip() else ""
        raise MedGemmaError(f"Model folder {model_id}{source} does not exist; check the path, or leave it out "
                            f"to use {DEFAULT_MODEL_ID}.")
    token = None if local else current_token()

    from transformers import AutoModelForImageTextToText, AutoProcessor

    note = _precision_note(device, dtype)
    if note:
        print(note)
    print(f"Loading {model_id} onto {device}{_download_note(model_id, local)}; progress bars follow.", flush=True)
    started = time.perf_counter()
    options: dict[str, Any] = {
        _dtype_keyword(): dtype,
        # device_map streams weights straight to their device (needs accelerate): no second copy in RAM. On the
        # CPU the weights stay memory-mapped from the safetensors files: bench/bench_medgemma.py --full-size
        # measured a peak RSS of 1.04 x the weight bytes for a full-size checkpoint, imports included.
        "device_map": "auto" if device == "cuda" else {"": device},
        "use_safetensors": True,
        "trust_remote_code": False,
        "low_cpu_mem_usage": True,
    }
    if quantization is not None:
        options["quantization_config"] = quantization
    if token:
        options["token"] = token
    try:
        processor = AutoProcessor.from_pretrained(model_id, token=token, trust_remote_code=False)
        model = AutoModelForImageTextToText.from_pretrained(model_id, **options)
    except MedGemmaError:
        raise
    except Exception as error:  # noqa: BLE001 - every failure becomes a message with advice
        raise _loading_error(model_id, error) from None
    model.eval()
    seconds = time.perf_counter() - started
    loaded = MedGemma(model=model, processor=processor, model_id=model_id, device=device,
                      dtype=dtype, load_seconds=seconds)
    access.remember(key, loaded)
    params = sum(p.numel() for p in model.parameters())
    size = f"{params / 1e9:.2f} B" if params >= 1e8 else f"{params / 1e6:.2f} M"
    print(f"Loaded {loaded.name} ({size} parameters) on {device} in "
          f"{str(dtype).replace('torch.', '')} [{_hardware_summary(device)}] in {seconds:.1f} s.")
    if device == "cpu":
        print(_cpu_note(params, size))
    warning = _offload_warning(model, device)
    if warning:
        print(warning, flush=True)
    return loaded


def _served_model() -> Any:
    """The connection to MEDGEMMA_ENDPOINT, made once per kernel like a loaded model."""
    endpoint = os.environ[ENDPOINT_ENV].strip()
    api_key = os.environ.get(API_KEY_ENV, "").strip() or None
    name = os.environ.get(MODEL_ID_ENV, "").strip() or None
    if name and (is_local_model(name) or looks_like_folder(name)):
        name = None  # a local folder is this machine's copy, not a name the server knows
    connected = access.held(connection_key(endpoint, name, api_key))
    return connected if connected is not None else connect(endpoint, model=name, api_key=api_key)


def default_model() -> Any:
    """The model loaded, connected or replayed last in this kernel, or load_model() with the defaults if none is."""
    model = access.latest()
    return model if model is not None else load_model()


def clear_model_cache() -> None:
    """Forget every loaded model (frees its memory once no notebook variable holds it; its answers go with it)."""
    access.forget()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
