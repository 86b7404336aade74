"""Inline rendering. Model text is data: it is always escaped, never trusted as HTML.

Layer: foundation. May import nothing from the package.
"""

from __future__ import annotations

import html
from typing import Any

from markdown_it import MarkdownIt

DISCLAIMER = ("Educational use only. MedGemma is not a diagnostic tool: its output can be wrong or incomplete, "
              "and every finding needs a qualified clinician's judgment.")

# CommonMark with raw HTML off (so <script> becomes text) and images off (no remote fetches from model text);
# markdown-it also refuses javascript: and data: links.
_markdown = MarkdownIt("commonmark", {"html": False}).enable("table").disable("image")


def markdown_to_safe_html(text: str) -> str:
    """Render model Markdown (bold, lists, headings, tables) to HTML with every raw tag escaped."""
    return _markdown.render(text or "")


def esc(value: Any) -> str:
    """HTML-escape any value for inline display."""
    return html.escape(str(value), quote=True)


def in_notebook() -> bool:
    """True inside a Jupyter kernel (Colab, Kaggle, JupyterLab), False in a terminal."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")


def show_html(markup: str, plain: str) -> None:
    """Display HTML in a notebook, or the plain-text version in a terminal."""
    if in_notebook():
        from IPython.display import HTML, display

        display(HTML(markup))
    else:
        print(plain)
