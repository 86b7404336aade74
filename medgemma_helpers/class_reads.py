"""A class review for the teacher: who found what, across the residents' reads of a case.

Saving. When a resident fills in the quiz's "name or alias" box, Reveal also saves the read as one small
JSON record (`save_read` does the same from code): the case, the alias, the read's text, each answer-key
finding's status, verdict, side read and flags (a size or site unlike the key's, a side left out), the score, a
digest of the model's read the resident saw, the time and the project version; then the decision taken after
seeing the read shown and before the key (kept or revised), the revised read, what the read shown said per
finding, and whether it was a teacher's planted read (whose text is kept as theirs). Nothing else: never a
token, an image, or anything the resident did not type. Records go to MEDGEMMA_READS_DIR or `reads/`, one file
per alias and case; a later save replaces the earlier.

Reviewing. `class_review(source)` reads a folder, a list of record files or a zip of them (how reads come in
through a shared drive or a Kaggle dataset) and shows, per case: how many residents called each finding
right, missed it, over-called it, put it on the wrong side or hedged (with MedGemma's read as one more column
when a model is given), a residents x findings grid, the spread of scores, and the sentences behind the
most-missed, most over-called and most often wrong-sided findings, quoted from the reads: where the discussion
starts. A pertinent negative left unsaid is its own outcome, "negative not stated", never counted as missed.
Residents appear as "Resident 1..n" unless the teacher asks for aliases; the key to them goes to a file only its
owner can read, and the notes on skipped files (which name them) go there too. MedGemma reads only when asked.
Scores are recomputed from each record's text with the current checker and answer key, so a better checker
improves old records too. It
returns one plain row per resident, case and finding, ready for csv.DictWriter.

A record that is not valid JSON, comes from another case set or lacks a field is skipped with one line
naming the file and why; of duplicate submissions the latest is kept. Aliases and reads are data: escaped
wherever they are shown, in HTML and in the chart (matplotlib reads "$" as mathematics).

Layer: teaching flow. May import: errors, render, files, cases, concordance, revisions, walkthrough.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import os
import random
import re
import zipfile
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ._version import __version__
from .cases import Case, list_cases, load_case
from .concordance import STATUSES, FindingCheck, check_findings, concordance_score, error_kind
from .errors import InputError
from .files import write_atomically
from .render import DISCLAIMER, esc, show_html
from .revisions import revisions
from .walkthrough import _answer, case_request

READS_DIR_ENV = "MEDGEMMA_READS_DIR"
RECORD_FORMAT = "medgemma-case-notebooks/read"
RECORD_VERSION = 1
MAX_ALIAS_CHARACTERS = 60
MAX_RECORD_BYTES = 200_000  # a read is a few kilobytes; anything far larger is not a record
# "negative not stated": a pertinent negative the read leaves unsaid. It costs the score like a miss, but it is
# not a finding overlooked on the film, so it is counted apart and never leads "most missed".
OUTCOMES = ("right", "missed", "over-called", "wrong side", "hedged", "not scored", "negative not stated")
MODEL_ROW = "MedGemma (the model)"
DECISIONS = (None, "kept", "revised")  # taken after seeing the read shown, before the key
_OUTCOME_COLOURS = {"right": "#4caf50", "missed": "#e53935", "over-called": "#8e24aa", "wrong side": "#29b6f6",
                    "hedged": "#ffb300", "not scored": "#bdbdbd", "negative not stated": "#ffe0b2"}
# The grid's cell labels: four letters, except where that hides the meaning.
_SHORT = {"wrong side": "side", "negative not stated": "neg?"}
# By default residents appear as "Resident 1..n" (a review is often projected); the key to their aliases is
# written apart, for the teacher only.
PSEUDONYM = "Resident {}"
KEY_FILE = "class_review_key.csv"
DRILL_KEY_FILE = "drill_review_key.csv"
_REQUIRED = {"case_id": str, "case_slug": str, "alias": str, "read": str, "saved_at": str}
DRILL_RECORD_FORMAT = "medgemma-case-notebooks/drill"  # a saved drill (mh.drill's d.save), read by drill_review
# 2: the strict scoring (another finding misses the film; label calls counted apart); 3: a box is missed whenever
# no boxed finding is named (version 2 counted only "none of these findings").
DRILL_RECORD_VERSION = 3


def reads_folder(folder: str | Path | None = None) -> Path:
    """Where reads are saved: the folder given, else MEDGEMMA_READS_DIR, else reads/ in the working folder."""
    if folder is not None:
        return Path(folder).expanduser()
    return Path(os.environ.get(READS_DIR_ENV, "").strip() or "reads").expanduser()


def _clean_alias(alias: Any) -> str:
    if not isinstance(alias, str) or not alias.strip():
        raise InputError("The alias is empty or not text; give a name or alias such as 'Resident A'.")
    alias = " ".join(alias.split())
    if len(alias) > MAX_ALIAS_CHARACTERS:
        raise InputError(f"The alias has {len(alias)} characters; keep it to {MAX_ALIAS_CHARACTERS} or fewer.")
    return alias


def alias_file_stem(alias: str, blank: str = "") -> str:
    """An alias's part of a file name, whatever characters it holds: a slug to read (blank if none), a digest."""
    slug = re.sub(r"[^a-z0-9]+", "-", alias.casefold()).strip("-")[:40] or blank
    digest = hashlib.sha256(alias.casefold().encode("utf-8")).hexdigest()[:8]  # keeps apart aliases of one slug
    return f"{slug}-{digest}" if slug else digest


def _file_name(case: Case, alias: str) -> str:
    """One file per alias and case, whatever characters the alias holds."""
    return f"{case.id}_{alias_file_stem(alias)}.json"


def outcome(check: FindingCheck) -> str:
    """How a read did on one finding: right, missed, over-called, wrong side, hedged, negative not stated, not scored.

    The concordance's kinds of error (error_kind) in the class review's words: an invented finding is over-called,
    and a pertinent negative the read never states is its own outcome, not a finding missed.
    """
    if not check.scored:
        return "not scored"
    kind = error_kind(check)
    if kind == "missed" and check.expected == "absent" and check.status == "not_mentioned":
        return "negative not stated"
    return {"": "right", "invented": "over-called"}.get(kind, kind)


def save_read(case: Case | str | int, read_text: str, alias: str, folder: str | Path | None = None, *,
              model_read: str | None = None, revised_read: str | None = None, planted: bool = False,
              decision: str | None = None) -> Path:
    """Save a resident's read as a small JSON record (one file per alias and case; a later save replaces it).

    revised_read: the read revised after seeing the read shown (the first stays as written). decision: "kept" or
    "revised", taken before the key (the quiz's Keep my read / Revise my read); only such decisions count as
    misled or corrected in the class review. model_read: the read shown, kept as its digest and what it said per
    finding; planted=True: it was a teacher's edited read, kept as text under planted_read and never as MedGemma's.
    """
    case = load_case(case)
    alias = _clean_alias(alias)
    for name, text in (("read", read_text), ("revised read", revised_read), ("model read", model_read)):
        if not isinstance(text, str) and not (text is None and name != "read"):
            raise InputError(f"The {name} must be text, not {type(text).__name__}.")
    if decision not in DECISIONS:
        raise InputError(f"The decision must be one of {', '.join(map(repr, DECISIONS))}, not {decision!r}.")
    if (decision == "revised") != (revised_read is not None) and decision is not None:
        raise InputError("A read kept has no revised read, and a read revised needs one: give revised_read only with "
                         "decision='revised'.")
    checks = check_findings(read_text, case)
    record = {
        "format": RECORD_FORMAT, "format_version": RECORD_VERSION,
        "case_id": case.id, "case_slug": case.slug, "alias": alias, "read": read_text,
        "findings": [{"finding": c.finding, "expected": c.expected, "status": c.status, "verdict": outcome(c),
                      "side": c.side, "key_side": c.key_side, "flags": list(c.flags)} for c in checks],
        "score": list(concordance_score(checks)),
        "model_read_sha256": _digest(model_read) if model_read and not planted else None,
        "decision": decision, "decided_before_key": decision is not None,
        **_revision_fields(case, checks, model_read, revised_read, planted),
        "saved_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "project_version": __version__,
    }
    path = reads_folder(folder) / _file_name(case, alias)
    write_atomically(path, (json.dumps(record, indent=1, ensure_ascii=False) + "\n").encode("utf-8"))
    return path


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _revision_fields(case: Case, checks: list[FindingCheck], shown_read: str | None, revised_read: str | None,
                     planted: bool) -> dict[str, Any]:
    """The record's fields for the round: the revised read, what the read shown said, planted, the changes."""
    shown = check_findings(shown_read, case) if shown_read else []
    revised = check_findings(revised_read, case) if revised_read is not None else None
    rows = revisions(checks, revised, shown) if revised is not None else []
    return {"revised_read": revised_read, "planted": planted,
            "planted_read": shown_read if planted else None,  # the teacher's own text, named as theirs
            "shown_findings": [{"finding": c.finding, "status": c.status, "side": c.side} for c in shown],
            "changes": [{"finding": r.first.finding, "revised_status": r.revised.status,
                         "revised_verdict": outcome(r.revised), "change": r.change} for r in rows]}


# ---------------------------------------------------------------- reading records


@dataclass(frozen=True)
class _Record:
    case: Case
    alias: str
    read: str
    saved_at: datetime
    model_read_sha256: str | None
    origin: str  # the file it came from, for messages
    # the round: the read shown and the decision before the key (absent from records saved before they existed)
    revised_read: str | None = None
    planted: bool = False
    planted_read: str | None = None
    shown: tuple[FindingCheck, ...] = ()  # what the read shown said per finding
    decision: str | None = None  # kept or revised before the key; None: no such decision (nothing measured)


def _sources(source: Any) -> Iterable[tuple[str, bytes | None, str]]:
    """(name, bytes or None, why not) of every record file in a folder, a list of files, or a zip."""
    if isinstance(source, (str, Path)):
        path = Path(source).expanduser()
        if path.is_dir():
            files = sorted(p for p in path.rglob("*.json") if p.is_file())
            yield from _sources(files)
            return
        if path.suffix.lower() == ".zip" and path.is_file():
            yield from _zip_members(path)
            return
        if not path.exists():
            raise InputError(f"{path} does not exist: give the folder of saved reads, a zip of them, or a list of "
                             "record files.")
        source = [path]
    if not isinstance(source, (list, tuple)):
        raise InputError(f"class_review needs a folder, a zip or a list of record files, not {type(source).__name__}.")
    for item in source:
        path = Path(item).expanduser()
        if path.suffix.lower() == ".zip" and path.is_file():
            yield from _zip_members(path)
        elif not path.is_file():
            yield str(path), None, "no such file"
        elif path.stat().st_size > MAX_RECORD_BYTES:
            yield str(path), None, f"{path.stat().st_size:,} bytes, too large for a saved read"
        else:
            yield str(path), path.read_bytes(), ""


def _zip_members(path: Path) -> Iterable[tuple[str, bytes | None, str]]:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as error:
        raise InputError(f"{path} is not a readable zip ({error}); zip the reads folder again.") from None
    with archive:
        for info in archive.infolist():
            name = f"{path.name}:{info.filename}"
            if info.is_dir() or not info.filename.lower().endswith(".json") or "__MACOSX" in info.filename:
                continue
            if info.file_size > MAX_RECORD_BYTES:  # read no further than the size the zip declares
                yield name, None, f"{info.file_size:,} bytes, too large for a saved read"
                continue
            with archive.open(info) as member:
                data = member.read(MAX_RECORD_BYTES + 1)
            yield (name, None, "larger than its zip entry says") if len(data) > MAX_RECORD_BYTES else (name, data, "")


def _parse(name: str, data: bytes, cases: dict[str, Case]) -> _Record | str:
    """The record in a file, or why it is skipped."""
    try:
        record = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return "not valid JSON"
    if isinstance(record, dict) and record.get("format") == DRILL_RECORD_FORMAT:
        return "a saved drill, not a read (mh.drill_review reads it)"
    if not isinstance(record, dict) or record.get("format") != RECORD_FORMAT:
        return "not a saved read of these notebooks"
    missing = [field for field, kind in _REQUIRED.items() if not isinstance(record.get(field), kind)]
    if missing:
        return f"missing or malformed field{'s' if len(missing) > 1 else ''}: {', '.join(missing)}"
    case = cases.get(record["case_id"])
    if case is None or case.slug != record["case_slug"]:
        here = f"case {record['case_id']} here is {case.slug}" if case else f"there is no case {record['case_id']} here"
        return f"from another case set ({record['case_slug']!r}; {here})"
    try:
        alias = _clean_alias(record["alias"])
        saved_at = datetime.fromisoformat(record["saved_at"])
    except (InputError, ValueError) as error:
        return f"bad alias or time ({error})"
    if saved_at.tzinfo is None:
        saved_at = saved_at.replace(tzinfo=timezone.utc)
    digest = record.get("model_read_sha256")
    return _Record(case, alias, record["read"], saved_at, digest if isinstance(digest, str) else None, name,
                   *_parse_revision(record))


def _parse_revision(record: dict[str, Any]) -> tuple[str | None, bool, str | None, tuple[FindingCheck, ...],
                                                     str | None]:
    """The round from a record: revised read, planted, planted text, the shown read's statuses, the decision.

    A decision counts only when the record says it came before the key (records from before the decision existed
    hold a revision made after the key: kept, but never counted as misled or corrected).
    """
    revised, planted_text = record.get("revised_read"), record.get("planted_read")
    shown = record.get("shown_findings")
    items = [item for item in (shown if isinstance(shown, list) else []) if isinstance(item, dict)]
    checks = tuple(FindingCheck(item["finding"], item["status"], side=str(item.get("side") or ""))
                   for item in items if isinstance(item.get("finding"), str) and item.get("status") in STATUSES)
    decision = record.get("decision") if record.get("decided_before_key") is True else None
    if decision == "revised" and not isinstance(revised, str):
        decision = None
    return (revised if isinstance(revised, str) else None, record.get("planted") is True,
            planted_text if isinstance(planted_text, str) else None, checks,
            decision if decision in ("kept", "revised") else None)


def load_reads(source: Any, case: Case | str | int | None = None) -> tuple[list[_Record], list[str]]:
    """The valid records in source (latest per alias and case), and one line per file skipped or replaced."""
    cases = {c.id: c for c in list_cases()}
    wanted = None if case is None else load_case(case).id
    latest: dict[tuple[str, str], _Record] = {}
    notes: list[str] = []
    for name, data, problem in _sources(source):
        parsed = _parse(name, data, cases) if data is not None else problem
        if isinstance(parsed, str):
            notes.append(f"Skipped {name}: {parsed}.")
            continue
        if wanted is not None and parsed.case.id != wanted:
            continue
        key = (parsed.case.id, parsed.alias.casefold())
        kept = latest.get(key)
        if kept is not None:
            newer, older = (parsed, kept) if parsed.saved_at >= kept.saved_at else (kept, parsed)
            notes.append(f"Kept the latest of two submissions by {parsed.alias} for case {parsed.case.id} "
                         f"({newer.origin}); {older.origin} is older.")
            parsed = newer
        latest[key] = parsed
    return sorted(latest.values(), key=lambda r: (r.case.id, r.alias.casefold())), notes


# ---------------------------------------------------------------- the review


def _rows(reader: str, case: Case, checks: list[FindingCheck], *, is_model: bool = False) -> list[dict[str, Any]]:
    agreeing, total = concordance_score(checks)
    return [{"resident": reader, "case": case.id, "finding": c.finding, "expected": c.expected, "status": c.status,
             "outcome": outcome(c), "side": c.side, "flags": "; ".join(c.flags), "evidence": c.evidence,
             "score": f"{agreeing}/{total}",
             "score_fraction": round(agreeing / total, 3) if total else 0.0, "is_model": is_model} for c in checks]


def _model_read(case: Case, model: Any) -> str:
    """MedGemma's read of the case, asked exactly as the case notebook asks it (remembered per model)."""
    return _answer(model, case, case_request(case), stream=False, on_text=None).text


def _mathtext_safe(text: str) -> str:
    return text.replace("$", r"\$")


def _grid_png(case: Case, rows: list[dict[str, Any]]) -> bytes:
    """Residents x findings, coloured by outcome (the model's row last), and the spread of scores, as PNG."""
    from matplotlib.colors import ListedColormap
    from matplotlib.figure import Figure

    readers = list(dict.fromkeys(r["resident"] for r in rows))
    findings = [f.name for f in case.answer_key.findings if not f.shown_on]
    codes = {name: index for index, name in enumerate(OUTCOMES)}
    grid = [[codes[next(r["outcome"] for r in rows if r["resident"] == reader and r["finding"] == finding)]
             for finding in findings] for reader in readers]
    height = 1.6 + 0.32 * len(readers)
    figure = Figure(figsize=(10, max(3.0, height)), dpi=100)
    heat, spread = figure.subplots(1, 2, gridspec_kw={"width_ratios": [3, 1.2]})
    heat.imshow(grid, cmap=ListedColormap([_OUTCOME_COLOURS[o] for o in OUTCOMES]), vmin=0, vmax=len(OUTCOMES) - 1,
                aspect="auto")
    heat.set_xticks(range(len(findings)), [_mathtext_safe(f) for f in findings], rotation=30, ha="right", fontsize=8)
    heat.set_yticks(range(len(readers)), [_mathtext_safe(r) for r in readers], fontsize=8)
    heat.set_title(_mathtext_safe(f"Case {case.id}: who found what"), fontsize=10)
    for y, line in enumerate(grid):
        for x, code in enumerate(line):
            label = _SHORT.get(OUTCOMES[code], OUTCOMES[code][:4])
            heat.text(x, y, label, ha="center", va="center", fontsize=6, color="black")
    residents = {r["resident"]: r["score_fraction"] for r in rows if not r["is_model"]}
    spread.hist(list(residents.values()), bins=[i / 10 for i in range(11)], color="#4a7ab5", edgecolor="white")
    spread.set_xlabel("score (fraction of findings agreeing)", fontsize=8)
    spread.set_ylabel("residents", fontsize=8)
    spread.set_title("Scores", fontsize=10)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _case_html(case: Case, rows: list[dict[str, Any]], records: list[_Record], model_digest: str | None) -> str:
    residents = [r for r in rows if not r["is_model"]]
    model = {r["finding"]: r["outcome"] for r in rows if r["is_model"]}
    counts = Counter((r["finding"], r["outcome"]) for r in residents)
    cell = "padding:3px 8px;border:1px solid #bbb;text-align:left"
    header = "".join(f"<th style='{cell}'>{esc(h)}</th>" for h in
                     ("Finding", "Key", *OUTCOMES, *([MODEL_ROW] if model else [])))
    body = ""
    for finding in case.answer_key.findings:
        if finding.shown_on:
            continue
        numbers = "".join(f"<td style='{cell}'>{counts[(finding.name, o)] or ''}</td>" for o in OUTCOMES)
        extra = f"<td style='{cell}'>{esc(model.get(finding.name, ''))}</td>" if model else ""
        body += f"<tr><td style='{cell}'>{esc(finding.name)}</td><td style='{cell}'>{esc(finding.expected)}</td>" \
                f"{numbers}{extra}</tr>"
    people = len({r["resident"] for r in residents})
    png = base64.b64encode(_grid_png(case, rows)).decode("ascii")
    quotes = _discussion_html(case, residents)
    saw = ""
    if model_digest:
        same = sum(r.model_read_sha256 == model_digest for r in records)
        saw = f"<p>{same} of {len(records)} residents saw this MedGemma read; the others saw another or none.</p>"
    return (f"<div class='mh-class-case'><h3>Case {esc(case.id)}: {esc(case.title)}: {people} "
            f"resident{'s' if people != 1 else ''}</h3>{saw}"
            f"<table style='border-collapse:collapse'><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>"
            f"<img alt='Residents by findings, and the spread of scores, case {esc(case.id)}' "
            f"style='max-width:100%' src='data:image/png;base64,{png}'/>{quotes}</div>")


_DISCUSSED = {"missed": "Most missed", "over-called": "Most over-called", "wrong side": "Most often on the wrong side"}


def _discussion_html(case: Case, residents: list[dict[str, Any]]) -> str:
    """The sentences behind the most-missed, most over-called and most wrong-sided finding: where discussion starts."""
    parts = []
    for kind, heading in _DISCUSSED.items():
        counts = Counter(r["finding"] for r in residents if r["outcome"] == kind)
        if not counts:
            continue
        finding, number = counts.most_common(1)[0]
        quoted = [(r["resident"], r["evidence"]) for r in residents
                  if r["finding"] == finding and r["outcome"] == kind and r["evidence"]]
        items = "".join(f"<li><b>{esc(who)}</b>: <i>“{esc(sentence)}”</i></li>" for who, sentence in quoted[:8])
        silent = number - len(quoted)
        if silent:
            items += f"<li>{silent} resident{'s' if silent != 1 else ''} did not mention it.</li>"
        parts.append(f"<p><b>{heading}: {esc(finding)}</b> ({number} of the class)</p><ul>{items}</ul>")
    return "<div class='mh-discussion'><h4>Start the discussion here</h4>" + "".join(parts) + "</div>" if parts else ""


def class_review(source: Any, case: Case | str | int | None = None, *, model: Any = None, aliases: bool = False,
                 key_file: str | Path = KEY_FILE) -> list[dict[str, Any]]:
    """Review a class's saved reads: per case and finding, who called it right, missed, over-called, wrong side, hedged.

    source: a folder of records, a list of record files, or a zip. case: only this case. model (opt-in: it asks
    MedGemma once per case): a loaded model, a class server connection or a pack, to add MedGemma's read of each
    case as one more reader. Residents appear as "Resident 1..n" unless aliases=True; the key from each pseudonym
    to its alias is written to key_file (readable by its owner only), for the teacher's eyes, not the projector.
    Returns one row per resident, case and finding (plain dicts: resident, case, finding, expected, status,
    outcome, side (as read), flags (a size or site unlike the key's, a side left out), evidence, score,
    score_fraction, is_model; decision (kept or revised, before the key; "" when none was taken), and for such a
    decision revised_status, revised_outcome, change (corrected, misled, other or ""), revised_evidence; and
    planted: the read shown was a teacher's).
    """
    records, notes = load_reads(source, case)
    names = _names([r.alias for r in records], notes, aliases, key_file, "mh.class_review")
    if not records:
        where = f" for case {case}" if case is not None else ""
        message = (f"No saved reads to review in {source}{where}. Residents save a read by filling in the quiz's "
                   "'name or alias' box before Reveal (or with mh.save_read); collect the files in one folder or zip.")
        show_html(f"<p class='mh-class-empty'>{esc(message)}</p>", message)
        return []
    rows: list[dict[str, Any]] = []
    sections, plain = [], []
    for case_id in dict.fromkeys(r.case.id for r in records):
        case_records = [r for r in records if r.case.id == case_id]
        this_case = case_records[0].case
        model_read = _model_read(this_case, model) if model is not None else None
        digest = _digest(model_read) if model_read is not None else None
        case_rows = []
        for r in case_records:
            checks = check_findings(r.read, this_case)
            case_rows += _with_revision(_rows(names[r.alias], this_case, checks), checks, r, model_read, digest)
        if model_read is not None:
            case_rows += _with_revision(_rows(MODEL_ROW, this_case, check_findings(model_read, this_case),
                                              is_model=True), [], None, None, None)
        rows += case_rows
        sections.append(_case_html(this_case, case_rows, case_records, digest) + _revisions_html(case_rows))
        plain.append(_case_text(this_case, case_rows)
                     + (f"\n  {_revision_counts(case_rows)}" if any(r["decision"] for r in case_rows) else ""))
    disclaimer = f"<p style='color:#a33'>{esc(DISCLAIMER)}</p>"
    show_html("<div class='mh-class-review'>" + _class_revisions_html(rows) + "".join(sections) + disclaimer
              + "</div>", "\n\n".join(plain))
    return rows


def _pseudonyms(aliases: list[str]) -> dict[str, str]:
    """Each alias's "Resident n", numbered in an order that gives away neither the aliases nor when they saved."""
    people = sorted({alias.casefold() for alias in aliases},
                    key=lambda person: hashlib.sha256(person.encode("utf-8")).hexdigest())
    numbers = {person: number for number, person in enumerate(people, 1)}
    return {alias: PSEUDONYM.format(numbers[alias.casefold()]) for alias in aliases}


def _names(aliases: list[str], notes: list[str], shown: bool, key_file: str | Path, review: str) -> dict[str, str]:
    """The name each alias appears under; pseudonyms unless shown, their key and the notes (which name residents'
    files) written to key_file for the teacher alone, and only a count of the notes printed."""
    if shown:
        for note in notes:
            print(note)
        return {alias: alias for alias in aliases}
    names = _pseudonyms(aliases)
    if names or notes:
        key = _write_key(names, notes, key_file)
        if names:
            print(f"Residents appear as Resident 1 to {len(set(names.values()))}. The key to their aliases is in "
                  f"{key}: open it yourself, away from the projector ({review}(..., aliases=True) shows the "
                  "aliases).")
        if notes:
            print(f"{len(notes)} file{'s were' if len(notes) != 1 else ' was'} skipped or replaced; the key file "
                  f"{key} says which (its lines name residents' files).")
    return names


def _write_key(names: dict[str, str], notes: list[str], key_file: str | Path) -> Path:
    """Write the pseudonym -> alias key (and the notes on skipped files, which name them) readable by its owner only."""
    path = Path(key_file).expanduser()
    table = io.StringIO()
    writer = csv.writer(table)
    writer.writerow(["pseudonym", "alias"])
    by_number = sorted(names.items(), key=lambda item: int(item[1].rsplit(" ", 1)[-1]))
    writer.writerows([pseudonym, alias] for alias, pseudonym in by_number)
    writer.writerows(["note", note] for note in notes)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Created private (0600) from the first byte, and made private again if it was there before.
    handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(handle, 0o600)
    with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
        out.write(table.getvalue())
    return path


def _with_revision(rows: list[dict[str, Any]], checks: list[FindingCheck], record: _Record | None,
                   model_read: str | None, digest: str | None) -> list[dict[str, Any]]:
    """Add the decision before the key to one reader's rows: decision, revised_status, revised_outcome, change.

    Only a decision taken before the key is measured: a revision made after it follows the key, not the read shown.
    """
    if record is None or record.decision is None:
        return [{**row, "decision": "", "revised_status": "", "revised_outcome": "", "change": "",
                 "revised_evidence": "", "planted": bool(record and record.planted)} for row in rows]
    shown: list[FindingCheck] = list(record.shown)
    if not shown and model_read is not None and record.model_read_sha256 == digest:
        shown = check_findings(model_read, record.case)  # the model's read it saw, asked again
    revised_read = record.revised_read if record.decision == "revised" and record.revised_read is not None \
        else record.read
    paired = revisions(checks, check_findings(revised_read, record.case), shown)
    return [{**row, "decision": record.decision, "revised_status": pair.revised.status,
             "revised_outcome": outcome(pair.revised), "change": pair.change,
             "revised_evidence": pair.revised.evidence, "planted": record.planted}
            for row, pair in zip(rows, paired)]


def _revision_counts(rows: list[dict[str, Any]]) -> str:
    """How many decided before the key, kept or revised, and how many were misled or corrected on a finding."""
    residents = [r for r in rows if not r["is_model"]]
    everyone = {r["resident"] for r in residents}
    decided = {r["resident"] for r in residents if r["decision"]}
    kept = {r["resident"] for r in residents if r["decision"] == "kept"}
    revised = {r["resident"] for r in residents if r["decision"] == "revised"}
    misled = {r["resident"] for r in residents if r["change"] == "misled"}
    corrected = {r["resident"] for r in residents if r["change"] == "corrected"}
    planted = {r["resident"] for r in residents if r["planted"]}
    return (f"{len(decided)} of {len(everyone)} residents decided before the key: {len(kept)} kept their read and "
            f"{len(revised)} revised it; {len(misled)} were misled on at least one finding and {len(corrected)} "
            "corrected at least one"
            + (f"; {len(planted)} were shown a read edited by their teacher (a planted error)" if planted else "")
            + ".")


def _class_revisions_html(rows: list[dict[str, Any]]) -> str:
    """For the whole class: how often the decision before the key misled or corrected residents."""
    if not any(r["decision"] for r in rows):
        return ""
    return (f"<p class='mh-class-revisions'><b>Seeing the read shown, before the key, across the class:</b> "
            f"{esc(_revision_counts(rows))}</p>")


def _revisions_html(rows: list[dict[str, Any]]) -> str:
    """Per case: who was misled or corrected, and the findings that misled most, with the sentences quoted."""
    if not any(r["decision"] for r in rows):
        return ""
    misled = Counter(r["finding"] for r in rows if r["change"] == "misled")
    parts = []
    for finding, number in misled.most_common(3):
        quoted = "".join(
            f"<li><b>{esc(r['resident'])}</b>{' (shown a planted read)' if r['planted'] else ''}: first "
            f"<i>“{esc(r['evidence'] or '(not mentioned)')}”</i>, then <i>“{esc(r['revised_evidence'] or '(dropped)')}”"
            "</i></li>" for r in rows if r["finding"] == finding and r["change"] == "misled")
        parts.append(f"<p><b>Misled on {esc(finding)}</b> ({number} resident{'s' if number != 1 else ''})</p>"
                     f"<ul>{quoted}</ul>")
    return (f"<div class='mh-revisions'><h4>Keep or revise, before the key: misled or corrected</h4>"
            f"<p>{esc(_revision_counts(rows))}</p>{''.join(parts)}</div>")


def _case_text(case: Case, rows: list[dict[str, Any]]) -> str:
    residents = [r for r in rows if not r["is_model"]]
    counts = Counter((r["finding"], r["outcome"]) for r in residents)
    lines = [f"Case {case.id}: {case.title} ({len({r['resident'] for r in residents})} residents)"]
    for finding in case.answer_key.findings:
        if not finding.shown_on:
            lines.append(f"  {finding.name} ({finding.expected}): " + ", ".join(
                f"{counts[(finding.name, o)]} {o}" for o in OUTCOMES if counts[(finding.name, o)]))
    return "\n".join(lines)


def write_review_csv(rows: Sequence[dict[str, Any]], path: str | Path = "class_review.csv") -> Path | None:
    """Save class_review's rows as a CSV for a spreadsheet; with no rows, say so and write nothing."""
    if not rows:
        print("No rows to save: the review found no saved reads. Collect the residents' files first, then run the "
              "review again.")
        return None
    path = Path(path).expanduser()
    table = io.StringIO()
    writer = csv.DictWriter(table, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    write_atomically(path, table.getvalue().encode("utf-8"))
    print(f"{len(rows)} rows written to {path}")
    return path


# ---------------------------------------------------------------- the demo class (invented, clearly so)

# For each case, what a resident may write about each finding: right, wrong, hedged (or nothing at all).
_DEMO_STATEMENTS: dict[str, dict[str, tuple[str, str, str]]] = {
    "01": {"consolidation": ("The lungs are clear.", "Patchy consolidation at the right base.",
                             "Possible subtle left basal consolidation."),
           "pleural effusion": ("No pleural effusion.", "Small left pleural effusion.",
                                "A small effusion cannot be excluded."),
           "pneumothorax": ("No pneumothorax.", "Small right apical pneumothorax.",
                            "Questionable apical pneumothorax."),
           "cardiomegaly": ("Heart size is normal.", "The heart is enlarged.", "Borderline cardiomegaly."),
           "pulmonary nodule or mass": ("No nodule or mass.", "A 1 cm nodule in the right upper zone.",
                                        "Possible nodule over the left mid zone."),
           "widened mediastinum": ("The mediastinum is not widened.", "The mediastinum is widened.",
                                   "The mediastinum is possibly widened.")},
    "02": {"lung mass": ("Lobulated right perihilar mass.", "No mass is seen.", "Possible right hilar mass."),
           "consolidation": ("No consolidation.", "Right perihilar consolidation, in keeping with pneumonia.",
                             "Possible right perihilar consolidation."),
           "cavitation": ("No cavitation.", "There is a cavity within the lesion.", "Cavitation cannot be excluded."),
           "pleural effusion": ("No pleural effusion.", "Small right pleural effusion.", "Possible small effusion."),
           "pneumothorax": ("No pneumothorax.", "Small left pneumothorax.", "Questionable pneumothorax."),
           "cardiomegaly": ("Heart size normal.", "Mild cardiomegaly.", "Borderline cardiomegaly.")},
    "03": {"pleural effusion": ("Moderate right pleural effusion.", "No pleural effusion.",
                                "Possible right pleural effusion."),
           "pneumothorax": ("No pneumothorax.", "Small right apical pneumothorax.",
                            "A small pneumothorax cannot be excluded."),
           "catheter": ("A catheter turns at the right thoracic inlet and runs down over the right hemithorax.",
                        "No lines or devices.", "Possible catheter over the right chest."),
           "surgical clips": ("Surgical clips in the right axilla.", "Surgical clips in the left axilla.",
                              "Possible clips over the right axilla."),
           "pulmonary oedema": ("No pulmonary oedema.", "Mild interstitial oedema.", "Possible early oedema.")},
    "04": {"cardiomegaly": ("Mild cardiomegaly.", "Heart size normal.", "Borderline cardiomegaly."),
           "pulmonary vascular congestion": ("Upper lobe diversion.", "Normal pulmonary vasculature.",
                                             "Possible vascular congestion."),
           "pulmonary oedema": ("Interstitial oedema with Kerley B lines.", "No pulmonary oedema.",
                                "Possible early interstitial oedema."),
           "line or tube": ("A catheter turns at the left thoracic inlet and runs over the left upper zone.",
                            "No lines or tubes.",
                            "Possible tube over the left apex."),
           "pneumothorax": ("No pneumothorax.", "Left apical pneumothorax.", "Questionable left pneumothorax.")},
    "05": {"reticular opacities": ("Bilateral reticular opacities.", "The lungs are clear.",
                                   "Possible reticular pattern."),
           "pulmonary fibrosis": ("In keeping with pulmonary fibrosis.", "No fibrosis.", "Possible fibrosis."),
           "lower-zone predominance": ("Lower zone predominant.", "Upper zone predominant.",
                                       "Possibly basal predominance."),
           "lung mass": ("No mass.", "A mass at the left base.", "A mass cannot be excluded."),
           "pleural effusion": ("No pleural effusion.", "Small bilateral effusions.", "Possible small effusions.")},
}
DEMO_RESIDENTS = 12


def write_demo_reads(folder: str | Path) -> Path:
    """Write a made-up class's reads of cases 01-05 (a dozen invented residents) for trying the review."""
    folder = Path(folder)
    generator = random.Random(2026)  # the same invented class every time
    for number in range(1, DEMO_RESIDENTS + 1):
        alias = f"Invented resident {number:02d}"
        for case_id, statements in _DEMO_STATEMENTS.items():
            sentences = []
            for right, wrong, hedged in statements.values():
                choice = generator.choices(("right", "none", "wrong", "hedged"), weights=(62, 16, 12, 10))[0]
                sentences += {"right": [right], "wrong": [wrong], "hedged": [hedged], "none": []}[choice]
            save_read(case_id, " ".join(sentences), alias, folder)
    return folder


# ---------------------------------------------------------------- saved drills (mh.drill)

# (measure, row key): each "k of n" counts the rows where the key is true, of those where it is scored at all. A
# missed box and a call that disagrees with a text-mined label are counted apart from the films right: a label
# that may be wrong never makes a call wrong.
_DRILL_MEASURES = (("boxed films right", "film_right"), ("findings right", "finding_right"),
                   ("places right", "place_right"), ("boxes missed", "box_missed"),
                   ("disagrees with the report's label", "disagrees_with_label"))


def drill_counts(rows: Sequence[dict[str, Any]], reader: Any) -> dict[str, tuple[int, int]]:
    """(true, scored) per measure for one reader: boxed films, findings, places right; boxes missed; label calls."""
    mine = [row for row in rows if isinstance(row, dict) and row.get("reader") == reader]
    counts = {}
    for measure, key in _DRILL_MEASURES:
        scored = [row.get(key) for row in mine if row.get(key) is not None]
        counts[measure] = (sum(bool(value) for value in scored), len(scored))
    return counts


def drill_review(source: Any, *, aliases: bool = False, key_file: str | Path = DRILL_KEY_FILE) -> list[dict[str, Any]]:
    """Review a class's saved drills: per resident (and MedGemma), the drill's counts, "k of n"; the rows.

    source: a folder, a list of files or a zip, as for class_review. Returns one plain row per resident and
    reader (resident, reader, and "k of n" per measure); a file that is not a saved drill is skipped, and a drill
    saved under earlier scoring rules is skipped with a note (its marks mean something else). As in class_review,
    residents appear as "Resident 1..n" unless aliases=True, the key (and the notes, which name residents' files)
    written to key_file, readable by its owner only.
    """
    drills: list[dict[str, Any]] = []
    notes: list[str] = []
    for name, data, _problem in _sources(source):
        try:
            record = json.loads(data.decode("utf-8")) if data is not None else None
        except (UnicodeDecodeError, ValueError):
            record = None
        if not isinstance(record, dict) or record.get("format") != DRILL_RECORD_FORMAT:
            continue  # saved reads and other files: class_review's, not this review's
        if not isinstance(record.get("rows"), list) or not isinstance(record.get("alias"), str):
            notes.append(f"Skipped {name}: a saved drill without its rows or alias.")
            continue
        if record.get("format_version") != DRILL_RECORD_VERSION:
            notes.append(f"Skipped {name}: a drill saved under earlier scoring rules; run the drill again to "
                         "review it.")
            continue
        drills.append(record)
    names = _names([record["alias"] for record in drills], notes, aliases, key_file, "mh.drill_review")
    rows: list[dict[str, Any]] = []
    for record in drills:
        for reader in dict.fromkeys(r.get("reader") for r in record["rows"] if isinstance(r, dict)):
            row: dict[str, Any] = {"resident": names[record["alias"]], "reader": reader}
            row.update({measure: f"{right} of {scored}"
                        for measure, (right, scored) in drill_counts(record["rows"], reader).items()})
            rows.append(row)
    cell = "padding:3px 8px;border:1px solid #bbb;text-align:left"
    columns = ["resident", "reader", *(measure for measure, _ in _DRILL_MEASURES)]
    head = "".join(f"<th style='{cell}'>{esc(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td style='{cell}'>{esc(r[c])}</td>" for c in columns) + "</tr>" for r in rows)
    show_html(f"<table class='mh-drill-review' style='border-collapse:collapse'><thead><tr>{head}</tr></thead>"
              f"<tbody>{body}</tbody></table>" if rows else "<p>No saved drills found.</p>",
              "\n".join(", ".join(f"{c}: {r[c]}" for c in columns) for r in rows) or "No saved drills found.")
    return rows
