"""A secret (a Hugging Face token, a server's API key) that is never shown: not in repr, str, errors or logs.

Layer: foundation. May import nothing from the package.
"""

from __future__ import annotations

import hashlib


class Secret:
    """Holds a secret; its repr and str name where it came from, never its value."""

    __slots__ = ("_value", "source")

    def __init__(self, value: str, source: str):
        self._value = value
        self.source = source

    def reveal(self) -> str:
        """The secret itself, for the one place that must send it (a request header, the Hub client)."""
        return self._value

    def fingerprint(self) -> str:
        """A short digest, to tell two secrets apart without keeping either in a cache key."""
        return hashlib.sha256(self._value.encode()).hexdigest()[:16]

    def scrub(self, text: str) -> str:
        """text with every occurrence of the secret replaced by ***."""
        return text.replace(self._value, "***") if self._value else text

    def __repr__(self) -> str:
        return f"<secret from {self.source}>"

    __str__ = __repr__
