"""Error types: each message names the input that failed and what to do about it."""

from __future__ import annotations


class MedGemmaError(Exception):
    """Base class for every error the helper raises on purpose."""


class AccessError(MedGemmaError, RuntimeError):
    """The model could not be reached: no token, gated access refused, offline, or a server error."""


class InputError(MedGemmaError, ValueError):
    """An argument (prompt, max_new_tokens, dtype, device, path, address) is not usable as given."""


class CaseError(MedGemmaError, ValueError):
    """A case file or case id is missing, unknown or invalid."""


class ImageError(MedGemmaError, ValueError):
    """An image could not be read, verified or converted."""
