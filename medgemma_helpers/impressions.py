"""An impression that contradicts its own findings: a structured read checked against itself.

A structured read (`reports.parse_report`) describes the film under the systematic headings and sums it up in an
impression. An impression that asserts a finding the findings section denies, denies one it asserts, or puts it
on the other side, is an error a radiologist is marked on whatever the key says: the reader of the report
cannot tell which half to believe. Each half is checked on its own with `check_findings`, and each such finding
is flagged with both sentences quoted.

The findings half is every systematic section but the impression, and a heading of its own named "Findings";
other headings (a recommendation, the technique, the history) are not descriptions of the film and are left out.
A finding one half names and the other does not, or hedges, is no contradiction.

Layer: between case content and the teaching flow. May import: cases, concordance, reports.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

from .cases import Case
from .concordance import FindingCheck, check_findings
from .reports import REPORT_SECTIONS, parse_report

__all__ = ["Contradiction", "impression_contradictions", "contradictions_html", "contradiction_lines"]


@dataclass(frozen=True)
class Contradiction:
    """One finding the impression and the findings section state differently, with the sentence from each."""

    finding: str
    findings_say: str  # "present", "absent", or "present on the left" when they differ only in side
    findings_sentence: str
    impression_says: str
    impression_sentence: str

    def sentence(self) -> str:
        """The contradiction in one plain sentence, quoting both halves."""
        return (f"The impression contradicts the findings on {self.finding}: the findings say {self.findings_say} "
                f"(“{self.findings_sentence}”), the impression says {self.impression_says} "
                f"(“{self.impression_sentence}”).")


def _where(check: FindingCheck) -> str:
    return "present on both sides" if check.side == "bilateral" else f"present on the {check.side}"


def _findings_half(report: dict[str, str]) -> str:
    """The sections that describe the film: the systematic ones but the impression, and a "Findings" heading."""
    described = [s for s in REPORT_SECTIONS if s != "Impression"]
    return "\n".join(body for section, body in report.items()
                     if body and (section in described or section.lower().startswith("finding")))


def impression_contradictions(text: str, case: Case, *,
                              image_modality: str | None = None) -> list[Contradiction]:
    """The findings a structured read's impression states otherwise than its findings (none without both halves)."""
    report = parse_report(text or "")
    impression, described = report.get("Impression", ""), _findings_half(report)
    if not impression or not described:
        return []
    found = []
    for body, summary in zip(check_findings(described, case, image_modality=image_modality),
                             check_findings(impression, case, image_modality=image_modality)):
        if {body.status, summary.status} == {"present", "absent"}:
            found.append(Contradiction(body.finding, body.status, body.evidence, summary.status, summary.evidence))
        elif body.status == summary.status == "present" and body.side and summary.side and body.side != summary.side:
            found.append(Contradiction(body.finding, _where(body), body.evidence, _where(summary), summary.evidence))
    return found


def contradiction_lines(text: str, case: Case, *, image_modality: str | None = None) -> list[str]:
    """Each contradiction of a structured read as one plain sentence (none for an unstructured read)."""
    return [c.sentence() for c in impression_contradictions(text, case, image_modality=image_modality)]


def contradictions_html(text: str, case: Case, *, image_modality: str | None = None) -> str:
    """The contradictions of a structured read as a short warning block under its table ("" when there are none)."""
    lines = contradiction_lines(text, case, image_modality=image_modality)
    if not lines:
        return ""
    items = "".join(f"<li>{html.escape(line, quote=True)}</li>" for line in lines)  # the read's words are data
    return ("<div class='mh-contradictions' style='color:#721c24;margin:0.4em 0'>"
            f"<b>⚠ Impression against findings</b><ul style='margin:0.2em 0'>{items}</ul></div>")
