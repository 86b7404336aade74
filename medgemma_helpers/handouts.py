"""One self-contained HTML page per case: the image, the history, the reads, the key and the concordance.

Layer: teaching flow. May import: errors, render, files, cases, case_view, asking, quiz, patient.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .asking import Findings
from .case_view import CaseView, case_image
from .cases import Case, load_case
from .errors import InputError
from .files import write_atomically
from .patient import PatientExplanation, explanations_html
from .quizzes import comparison_html
from .render import DISCLAIMER, esc


def handout_html(case: Case, findings: Findings | None, resident_read: str | None = None, image: Any = None,
                 explanations: Sequence[PatientExplanation] = ()) -> str:
    """One self-contained HTML page for a case: image embedded, history, reads, key, concordance, disclaimer.

    explanations: plain-language explanations for the patient (the resident's, MedGemma's), with their measures.
    """
    patient = (f"<h3>Explained to the patient</h3>{explanations_html(*explanations)}" if explanations else "")
    picture = case_image(case, image)
    view = CaseView(case, picture)
    prompt = f"<p><b>Prompt.</b> {esc(findings.prompt)}</p>" if findings and not findings.planted else ""
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>Case {esc(case.id)}: {esc(case.title)}</title>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        "<style>body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;"
        "line-height:1.45}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px}"
        "blockquote{border-left:3px solid #999;margin:0;padding-left:1em}.warn{color:#a33}</style></head><body>"
        f"<p class='warn'><b>{esc(DISCLAIMER)}</b></p>"
        f"{view._repr_html_()}{prompt}{comparison_html(case, findings, resident_read)}{patient}"
        f"<p style='color:#777;font-size:85%'>Handout generated {esc(time.strftime('%Y-%m-%d'))} by the MedGemma "
        "case notebooks.</p></body></html>")


def export_handout(case: Case | str | int, findings: Findings | None, path: str | Path, *,
                   resident_read: str | None = None, image: Any = None,
                   explanations: Sequence[PatientExplanation] = ()) -> Path:
    """Write the case handout as one self-contained HTML file (a folder gets <id>_<slug>_handout.html)."""
    case = load_case(case)
    if Path(path).suffix == "":  # "handouts/" or "handouts": a folder, made if needed
        path = Path(path) / f"{case.id}_{case.slug}_handout.html"
    path = Path(path)
    if path.suffix.lower() not in (".html", ".htm"):
        raise InputError(f"Handout path {path} should end in .html (or be a folder).")
    write_atomically(path, handout_html(case, findings, resident_read, image, explanations).encode("utf-8"))
    return path
