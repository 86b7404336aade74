"""Model access: what every way of reaching MedGemma provides, and the models this kernel holds.

Three backends answer the same call: a model loaded here (local.MedGemma), a served one (remote.RemoteMedGemma)
and a recorded pack (pack.PackedMedGemma). Each turns typed chat messages into the raw text MedGemma wrote;
asking.py does the rest (images, messages, streaming views, the thinking split, Findings), the same for all.

Layer: model access, bottom. May import: errors.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

# MedGemma 1.5's thinking trace markers: "<unused94>thought\n ... <unused95>answer" (split off in asking.py).
THOUGHT_START = "<unused94>"
THOUGHT_END = "<unused95>"

# Typed chat messages: {"role": "system" | "user", "content": [{"type": "image", "image": PIL.Image} |
# {"type": "text", "text": str}, ...]}, one image part per image, as the processor's chat template takes them.
Messages = list[dict[str, Any]]


@dataclass(frozen=True)
class Completion:
    """What a model wrote for one request: the raw text (thinking markers included) and what it cost."""

    raw: str
    prompt_tokens: int
    new_tokens: int
    seconds: float | None = None  # the backend's own timing (a batch's share); None: the caller times the call


@runtime_checkable
class Backend(Protocol):
    """A MedGemma that answers typed messages: loaded here, served, or replayed from a pack."""

    name: str

    def complete(self, messages: Messages, *, max_new_tokens: int,
                 on_text: Callable[[str], None] | None = None) -> Completion:
        """Answer one conversation greedily; on_text receives the growing raw text while it is written."""
        ...

    def complete_many(self, conversations: list[Messages], *, max_new_tokens: int,
                      batch_size: int) -> list[Completion]:
        """Answer several conversations, batch_size at a time, in the order given."""
        ...


# Models loaded, connected or replayed in this kernel, oldest first: the last one is the default model.
_held: dict[tuple, Any] = {}


def remember(key: tuple, model: Any) -> None:
    """Hold a model under key, as the most recent one (the default for calls that pass no model=)."""
    _held.pop(key, None)
    _held[key] = model


def held(key: tuple) -> Any | None:
    """The model held under key, made the most recent again; None when none is."""
    model = _held.get(key)
    if model is not None:
        remember(key, model)
    return model


def latest() -> Any | None:
    """The most recently loaded, connected or replayed model; None when there is none."""
    return next(reversed(_held.values())) if _held else None


def holds(model: Any) -> bool:
    """True while the kernel holds this model object."""
    return any(value is model for value in _held.values())


def forget(model: Any = None) -> None:
    """Stop holding one model (a closed connection), or every model when none is given."""
    if model is None:
        _held.clear()
        return
    for key, value in list(_held.items()):
        if value is model:
            del _held[key]
