"""Inline rendering. Model text is data: it is always escaped, never trusted as HTML."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

from markdown_it import MarkdownIt

if TYPE_CHECKING:
    from .generate import Findings

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


def findings_html(findings: Findings, title: str = "MedGemma's findings") -> str:
    """The answer as safe HTML, with the thinking trace folded away and the run's figures."""
    # overflow-wrap: a long unbroken run (a URL, a garbled answer) wraps instead of widening the page.
    from .generate import still_thinking_advice

    parts = [f"<div class='medgemma-findings' style='overflow-wrap:anywhere'><h4>{esc(title)}</h4>"]
    if findings.still_thinking:
        parts.append(f"<p class='mh-still-thinking' style='background:#fff3cd;color:#7a5b00;padding:6px 10px'>"
                     f"<b>No answer yet.</b> {esc(still_thinking_advice(findings))}</p>")
    else:
        parts.append(markdown_to_safe_html(findings.text) or "<p><i>(empty answer)</i></p>")
    if findings.thinking:
        parts.append(f"<details><summary>Model's thinking trace</summary><pre>{esc(findings.thinking)}</pre></details>")
    parts.append(f"<p style='color:#666;font-size:90%'>{esc(findings.model_name)} · {findings.prompt_tokens} prompt "
                 f"tokens · {findings.new_tokens} new tokens · {findings.seconds:.1f} s "
                 f"({findings.tokens_per_second:.1f} tokens/s)</p>")
    parts.append(f"<p style='color:#a33;font-size:90%'>{esc(DISCLAIMER)}</p></div>")
    return "".join(parts)


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


def show_findings(findings: Findings) -> None:
    """Show the model's answer inline, escaped, with its thinking trace folded away."""
    plain = findings.text + (f"\n\n[thinking trace: {len(findings.thinking)} characters]" if findings.thinking else "")
    if findings.still_thinking:
        from .generate import still_thinking_advice

        plain = still_thinking_advice(findings) + "\n" + plain
    show_html(findings_html(findings), plain + "\n\n" + DISCLAIMER)
