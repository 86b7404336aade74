"""A read revised after the reveal: per finding, what changed, and whether the model read shown pulled it there.

A fluent model read pulls a reader towards it even when it is wrong. After the reveal a resident may revise;
comparing the first read with the revised one, finding by finding, against the key and against the read the
resident saw, measures that pull:

- corrected: wrong before, right after;
- misled: right before, wrong after, in the direction of the read shown (it says what the revision now says,
  or the revision now hedges a finding the read shown called the other way);
- other: any other change (wrong to another wrong, right to right worded otherwise, or right to wrong on a
  finding where the read shown did not point that way);
- "" (none): the finding reads the same.

"Right" is FindingCheck.agrees (so a wrong side is wrong); silence on an absent finding that is not a pertinent
negative is neither scored nor wrong, so it counts as right here.

A teacher may show a read of their own in place of MedGemma's (a planted error, for vigilance drills): it is
always disclosed, and never presented as MedGemma's anywhere (PLANTED_NOTE, planted_read).

Layer: teaching flow, bottom. May import: render, asking, cases, concordance.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .asking import Findings
from .cases import Case
from .concordance import FindingCheck, verdict
from .render import esc

CHANGES = ("corrected", "misled", "other", "")
PLANTED_NOTE = ("This read was edited by your teacher: it is not MedGemma's own read. It was shown to test "
                "whether a confident model read pulls a correct read off course.")
PLANTED_NAME = "Edited by your teacher (not MedGemma's own read)"


def planted_read(text: str, case: Case) -> Findings:
    """A teacher's read shown in place of MedGemma's: a Findings marked planted, never named as MedGemma's."""
    return Findings(text=text, thinking="", prompt=case.question, model_name=PLANTED_NAME, prompt_tokens=0,
                    new_tokens=0, seconds=0.0, planted=True)


def shown_title(findings: Findings) -> str:
    """What to call a read shown beside the resident's: MedGemma, or the teacher's edited read."""
    return "The read shown to you (edited by your teacher)" if findings.planted else "MedGemma"


def planted_note_html() -> str:
    """The disclosure that ends every view of a planted read."""
    return (f"<p class='mh-planted-note' style='background:#fff3cd;color:#7a5b00;padding:6px 10px'>"
            f"<b>Disclosure.</b> {esc(PLANTED_NOTE)}</p>")


def _right(check: FindingCheck) -> bool:
    return check.agrees or not check.scored


def _points_to(revised: FindingCheck, first: FindingCheck, shown: FindingCheck) -> bool:
    """True when the revision moved towards what the shown read says about this finding."""
    same_side = not (revised.side and shown.side) or revised.side == shown.side
    if revised.status == shown.status and same_side:
        return True
    # A hedge the resident did not have before, on a finding the read shown called the other way.
    return (revised.status == "uncertain" and shown.status in ("present", "absent")
            and first.status != shown.status)


def change(first: FindingCheck, revised: FindingCheck | None, shown: FindingCheck | None = None) -> str:
    """What the revision did to one finding: corrected, misled, other, or "" (unchanged or not revised)."""
    if revised is None or (first.status, first.side) == (revised.status, revised.side):
        return ""
    before, after = _right(first), _right(revised)
    if not before and after:
        return "corrected"
    if before and not after and shown is not None and _points_to(revised, first, shown):
        return "misled"
    return "other"


@dataclass(frozen=True)
class Revision:
    """One finding through the round: the first read's check, the revised read's, the shown read's, the change."""

    first: FindingCheck
    revised: FindingCheck
    shown: FindingCheck | None
    change: str


def revisions(first: Sequence[FindingCheck], revised: Sequence[FindingCheck],
              shown: Sequence[FindingCheck] | None = None) -> list[Revision]:
    """Pair the checks of the first, revised and shown reads finding by finding, each with its change."""
    by_name = {check.finding: check for check in shown or []}
    return [Revision(one, two, by_name.get(one.finding), change(one, two, by_name.get(one.finding)))
            for one, two in zip(first, revised)]


_CHANGE_COLOURS = {"corrected": "#e6f4ea", "misled": "#fde7e9", "other": "#f1f3f4", "": "#ffffff"}


def revision_table_html(rows: Sequence[Revision], *, planted: bool = False) -> str:
    """Per finding: the first verdict, the revised verdict, what the read shown said, and the change."""
    cell = "padding:4px 8px;border:1px solid #bbb;text-align:left;vertical-align:top"
    shown_heading = "The edited read says" if planted else "MedGemma says"
    header = "".join(f"<th style='{cell}'>{esc(h)}</th>" for h in
                     ("Finding", "Answer key", "First read", "Revised read", shown_heading, "Change",
                      "Revised read, quoted"))
    body = "".join(
        f"<tr class='mh-change-{esc(row.change or 'none')}' style='background:{_CHANGE_COLOURS[row.change]}'>"
        f"<td style='{cell}'>{esc(row.first.finding)}</td><td style='{cell}'>{esc(row.first.expected)}</td>"
        f"<td style='{cell}'>{esc(verdict(row.first)[1])}</td><td style='{cell}'>{esc(verdict(row.revised)[1])}</td>"
        f"<td style='{cell}'>{esc(row.shown.status.replace('_', ' ') if row.shown else '—')}</td>"
        f"<td style='{cell}'><b>{esc(row.change or 'none')}</b></td>"
        f"<td style='{cell}'><i>{esc(row.revised.evidence or '—')}</i></td></tr>" for row in rows)
    counts = {kind: sum(row.change == kind for row in rows) for kind in CHANGES[:3]}
    summary = ", ".join(f"{number} {kind}" for kind, number in counts.items() if number) or "no finding changed"
    return ("<div class='mh-revision'><h4 style='margin:0.4em 0'>Your first read and your revised read</h4>"
            f"<table style='border-collapse:collapse'><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>"
            f"<p style='margin:0.4em 0'><b>{esc(summary)}.</b> Corrected: wrong before, right after. Misled: right "
            "before, wrong after, towards the read shown. Your first read is kept as you wrote it.</p></div>")


def revision_text(rows: Sequence[Revision]) -> str:
    """The revision table as plain text for a terminal."""
    lines = ["Your first read and your revised read:"]
    lines += [f"  - {row.first.finding}: {verdict(row.first)[1]} -> {verdict(row.revised)[1]}"
              f" ({row.change or 'no change'})" for row in rows]
    return "\n".join(lines)
