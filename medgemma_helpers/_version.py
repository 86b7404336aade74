"""The project's version: one place, read by pyproject.toml, the command line and saved records."""

__version__ = "1.0.0"
