"""A read revised after seeing the read shown, before the key: per finding, what changed, and whether the read
shown pulled it there.

A fluent model read pulls a reader towards it even when it is wrong. After seeing the read shown, and before the
key (a decision after the key follows the key, not the read), a resident keeps or revises their read;
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
shown under the same neutral title as MedGemma's until the resident decides, then disclosed with the key, naming
the findings it gets wrong, and never presented as MedGemma's anywhere (PLANTED_NOTE, planted_read). The teacher
sets it out of the residents' sight, in a round file (ROUND_ENV or use_round): YAML mapping a case id to the
read to show.

Layer: teaching flow, bottom. May import: errors, render, asking, cases, concordance.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from .asking import Findings
from .cases import Case, load_case
from .concordance import FindingCheck, check_findings, read_says, verdict
from .errors import CaseError, InputError
from .render import esc

CHANGES = ("corrected", "misled", "other", "")
PLANTED_NOTE = ("This read was edited by your teacher: it is not MedGemma's own read. It was shown to test "
                "whether a confident model read pulls a correct read off course.")
PLANTED_NAME = "Edited by your teacher (not MedGemma's own read)"
SHOWN_TITLE = "The read shown to you"  # before the decision, MedGemma's read and a teacher's look the same
ROUND_ENV = "MEDGEMMA_ROUND"


def planted_read(text: str, case: Case) -> Findings:
    """A teacher's read shown in place of MedGemma's: a Findings marked planted, never named as MedGemma's."""
    return Findings(text=text, thinking="", prompt=case.question, model_name=PLANTED_NAME, prompt_tokens=0,
                    new_tokens=0, seconds=0.0, planted=True)


def shown_title(findings: Findings) -> str:
    """What to call a read shown beside the resident's once the key is out: MedGemma, or the teacher's edited read."""
    return f"{SHOWN_TITLE} (edited by your teacher)" if findings.planted else "MedGemma"


def planted_changes(text: str, case: Case, *, image_modality: str | None = None) -> list[FindingCheck]:
    """The findings a teacher's read gets wrong against the key: what the teacher changed for the round."""
    return [check for check in check_findings(text, case, image_modality=image_modality) if not _right(check)]


def planted_note(changed: Sequence[FindingCheck] | None = None) -> str:
    """The disclosure as text, naming the findings the teacher changed when they are given."""
    if changed is None:
        return PLANTED_NOTE
    if not changed:
        return (f"{PLANTED_NOTE} It agrees with the answer key on every finding scored: the round tested whether "
                "a correct read is trusted.")
    named = "; ".join(f"{check.finding} (this read: {read_says(check)}; the key: {check.expected}"
                      f"{', ' + check.key_side if check.key_side else ''})" for check in changed)
    return f"{PLANTED_NOTE} What your teacher changed: {named}."


def planted_note_html(changed: Sequence[FindingCheck] | None = None) -> str:
    """The disclosure that ends every view of a planted read, naming the findings changed when they are given."""
    return (f"<p class='mh-planted-note' style='background:#fff3cd;color:#7a5b00;padding:6px 10px'>"
            f"<b>Disclosure.</b> {esc(planted_note(changed))}</p>")


# ---------------------------------------------------------------- a teacher's round file

_round: dict[str, str] | None = None  # set by use_round; None: MEDGEMMA_ROUND decides


def _round_error(path: Path, line: int | None, problem: str) -> InputError:
    where = f", line {line}" if line else ""
    return InputError(f"The round file {path}{where} {problem}. A round file maps case ids to the read to show, "
                      f"for example:\n'03': |\n  PA chest radiograph. ...\nNothing was saved; fix the "
                      f"file (or unset {ROUND_ENV}) and run the quiz cell again.")


def load_round(path: str | Path) -> dict[str, str]:
    """The reads of a round file by case id; an InputError naming the file (and line) on any bad input."""
    path = Path(path).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else "is not UTF-8 text"
        raise _round_error(path, None, f"cannot be read ({reason})") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as error:  # the problem and its line, never the snippet (it may quote the read)
        mark = getattr(error, "problem_mark", None)
        problem = getattr(error, "problem", None) or "unreadable"
        raise _round_error(path, mark.line + 1 if mark else None, f"is not valid YAML ({problem})") from None
    if not isinstance(node, yaml.MappingNode):
        raise _round_error(path, node.start_mark.line + 1 if node else None, "holds no mapping of case ids to reads")
    reads: dict[str, str] = {}
    for key, value in node.value:
        line = key.start_mark.line + 1
        try:
            case = load_case(key.value) if isinstance(key, yaml.ScalarNode) else None
        except CaseError:
            case = None
        if case is None:
            raise _round_error(path, line, f"names an unknown case {str(key.value)[:40]!r}")
        if case.id in reads:
            raise _round_error(path, line, f"names case {case.id} twice")
        if not isinstance(value, yaml.ScalarNode) or value.tag != "tag:yaml.org,2002:str" or not value.value.strip():
            raise _round_error(path, line, f"holds an empty read (or not text) for case {case.id}")
        reads[case.id] = value.value.strip()
    if not reads:
        raise _round_error(path, None, "holds no reads")
    return reads


def use_round(path: str | Path | None) -> tuple[str, ...]:
    """Show a teacher's round (a YAML file: case id -> read) in every quiz of those cases; None stops it.

    The file is checked now, and the case ids it covers are returned (never the reads: a resident may see them).
    """
    global _round
    if path is None:
        _round = None
        return ()
    _round = load_round(path)
    return tuple(_round)


def round_read(case: Case) -> str | None:
    """The read a teacher's round shows for this case (use_round, else MEDGEMMA_ROUND), or None."""
    if _round is not None:
        return _round.get(case.id)
    path = os.environ.get(ROUND_ENV, "").strip()
    return load_round(path).get(case.id) if path else None


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
