"""A structured (systematic) read: the headings residents are taught, asked for and read back as a report.

Layer: cases and concordance. May import: errors, render, cases, asking.
"""

from __future__ import annotations

import re

from .asking import Findings, split_thinking
from .cases import Case, case_prompt
from .render import esc, markdown_to_safe_html, show_html

REPORT_SECTIONS = ("Airway", "Lungs and pleura", "Heart and mediastinum", "Diaphragm", "Bones and soft tissues",
                   "Lines and devices", "Impression")


# Words that put a heading in a section, tried in this order ("Heart/Mediastinum" and "Heart size" are the heart,
# "Right lung" the lungs, "Overall impression" the impression, "Lines, tubes and devices" the devices).
_SECTION_KEYWORDS = (
    ("Lines and devices", ("line", "lines", "tube", "tubes", "device", "devices", "hardware", "catheter", "catheters")),
    ("Impression", ("impression", "conclusion", "conclusions", "summary", "assessment", "diagnosis", "opinion")),
    ("Heart and mediastinum", ("heart", "cardiac", "mediastinum", "mediastinal", "cardiomediastinal", "circulation",
                               "hila", "hilum", "hilar")),
    ("Lungs and pleura", ("lung", "lungs", "pleura", "pleural", "breathing", "parenchyma")),
    ("Airway", ("airway", "airways", "trachea")),
    ("Diaphragm", ("diaphragm", "diaphragms", "hemidiaphragm", "hemidiaphragms")),
    ("Bones and soft tissues", ("bone", "bones", "bony", "osseous", "skeleton", "skeletal", "soft", "everything")),
)


STRUCTURED_READ_INSTRUCTIONS = (
    "Report systematically, using exactly these headings in this order, each on its own line followed by a "
    "colon: " + "; ".join(f"{section}:" for section in REPORT_SECTIONS) + ". Under each heading state the "
    "normal and abnormal findings in one or two sentences; write 'None seen' for lines and devices if there are none."
)


def structured_prompt(case: Case | str | int) -> str:
    """The case question followed by the systematic-read instructions residents are taught."""
    return f"{case_prompt(case)}\n\n{STRUCTURED_READ_INSTRUCTIONS}"


_HEADING = re.compile(
    r"^(?P<lead>[ \t>*_#\-\d.)]*)(?P<name>[A-Za-z][A-Za-z ,/&]{1,40}?)(?P<close>[ \t*_]*):[ \t*_]*(?P<rest>.*)$",
    re.MULTILINE)


def _section_of(name: str) -> str | None:
    """The report section a heading belongs to, by the first word of it that names one."""
    words = re.findall(r"[a-z]+", name.lower())
    for section, keywords in _SECTION_KEYWORDS:
        if any(word in keywords for word in words):
            return section
    return None


_SENTENCE_WORDS = frozenset("is are was were appears appear shows show seems seem has have no not there".split())


def _heading(match: re.Match[str]) -> str | None:
    """The section a heading line opens: a known one, another heading's own name, or None for ordinary text.

    An unknown heading ("Disclaimer:", "Recommendation:") ends the section before it instead of being
    swallowed by it; it counts as a heading when it is short and set off (bold, a # heading, or alone on its line).
    """
    name = " ".join(match.group("name").split())
    if len(name.split()) > 5 or set(name.lower().split()) & _SENTENCE_WORDS:
        return None  # "The heart is normal: ..." is a sentence, not a heading
    section = _section_of(name)
    if section:
        return section
    set_off = "**" in match.group("lead") + match.group("close") or "__" in match.group("close") \
        or "#" in match.group("lead") or not match.group("rest").strip()
    return name[:1].upper() + name[1:] if set_off else None


def parse_report(text: str) -> dict[str, str]:
    """Split a structured read into its sections: every standard section ('' when missing), then other headings."""
    answer = split_thinking(text or "")[0]
    report = {section: "" for section in REPORT_SECTIONS}
    headings = [(match, _heading(match)) for match in _HEADING.finditer(answer)]
    found = [(match, section) for match, section in headings if section is not None]
    for index, (match, section) in enumerate(found):
        end = found[index + 1][0].start() if index + 1 < len(found) else len(answer)
        body = (match.group("rest") + answer[match.end():end]).strip()
        # A model that repeats a heading (or uses two for one section) adds to the section.
        previous = report.get(section, "")
        report[section] = (previous + " " + body).strip() if previous else body
    return {name: body for name, body in report.items() if body or name in REPORT_SECTIONS}


def report_html(report: dict[str, str]) -> str:
    """A structured read as a two-column report table; missing sections are marked."""
    missing = "<i style='color:#a33'>not reported</i>"
    rows = "".join(
        f"<tr><th style='text-align:left;vertical-align:top;padding:4px 8px'>{esc(section)}</th>"
        f"<td style='padding:4px 8px'>{markdown_to_safe_html(body) if body else missing}</td></tr>"
        for section, body in report.items())
    return f"<table class='mh-report' style='border-collapse:collapse'>{rows}</table>"


def show_report(findings: Findings | str) -> dict[str, str]:
    """Show a structured read as a report table; returns the parsed sections."""
    report = parse_report(findings.text if isinstance(findings, Findings) else findings)
    plain = "\n".join(f"{section}: {body or '(not reported)'}" for section, body in report.items())
    show_html(report_html(report), plain)
    return report
