"""When to trust MedGemma: one film asked with its history, without it and with a misleading one, each read scored
against the key; the review of a vigilance round; and what the literature measured, for discussion.

The questions are data (CONTEXTS), shown in notebook 11 as they are sent: one request sentence in every context,
only the history differs, so a change in the read is the history's doing. A teacher's round (the read shown in
place of MedGemma's) lives in a round file out of the residents' sight (revisions.use_round), never here. Every
read goes through the one model interface (walkthrough's _answer, then analyze), so a class server serves them
and a class pack records them.

Layer: skills. May import anything below it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import reveal
from .asking import Findings, findings_html
from .cases import Case, load_case
from .class_reads import class_review, save_read
from .concordance import FindingCheck, check_findings, concordance_score, concordance_table_html, verdict
from .model import default_model
from .render import esc, show_html
from .walkthrough import _answer, case_request

TRUST_CASE = "03"
_ASK = "Describe the findings, including any lines or devices, then give an impression."
# (label, history); None is the case's own history. Case 03's film is a moderate right effusion: a history of
# fever and productive cough invites a reading of pneumonia (consolidation, absent and pertinent in its key).
CONTEXTS: tuple[tuple[str, str | None], ...] = (
    ("with its history", None),
    ("without a history", ""),
    ("with a misleading history", "A 62-year-old man with three days of fever, rigors and a cough productive of "
                                  "green sputum. Pneumonia?"),
)

# What has been measured about readers and model reads: (figure, source), for discussion.
LITERATURE: tuple[tuple[str, str], ...] = (
    ("Six radiologists read 90 chest radiographs for lung cancer; on the 12 where the sham AI result was made "
     "wrong, their false negatives rose from 2.7 % without AI to 33.0 % and their false positives from 51.4 % to "
     "86.0 %, in the worst of the three AI conditions (results kept in the record, no box). Two mitigations "
     "helped: being told the AI result would be deleted (26.7 % and 80.5 %), and a box around the region the AI "
     "flagged (20.7 % and 80.5 %).",
     "Bernstein MH et al. Can incorrect artificial intelligence (AI) results impact radiologists, and if so, what "
     "can we do about it? A multi-reader pilot study of lung cancer detection with chest radiography. "
     "Eur Radiol 2023;33(11):8263-8269. doi:10.1007/s00330-023-09747-1"),
    ("27 radiologists read 50 mammograms with purported AI BI-RADS suggestions: where the suggestion was wrong, "
     "accuracy fell at every level of experience. The least experienced followed it most, but very experienced "
     "readers fell too, from 82.3 % to 45.5 %.",
     "Dratsch T et al. Automation bias in mammography: the impact of artificial intelligence BI-RADS suggestions "
     "on reader performance. Radiology 2023;307(4):e222176. doi:10.1148/radiol.222176"),
    ("In an emergency-department study, vision-language models, MedGemma among them, hallucinated findings in "
     "5.4-17.4 % of chest radiograph reports, against 0.1 % for radiologists; the best model, AIRead, in 0.3 %. "
     "Not an independent comparison: some co-authors work for Soombit.ai, the vendor of AIRead.",
     "Lim WH et al. Comparative evaluation of generative AI models for chest radiograph report generation in the "
     "emergency department. Eur Radiol 2026. doi:10.1007/s00330-026-12648-8"),
)


def context_question(case: Case, history: str | None) -> str:
    """The question sent for one context: the view, the history given (None: the case's own; "": none), the request."""
    history = case.history if history is None else history
    view = f"This is a {case.view} chest X-ray." if case.view else "This is a chest X-ray."
    return " ".join(part for part in (view, " ".join(history.split()), _ASK) if part)


def context_questions(case: Case | str | int = TRUST_CASE) -> list[tuple[str, str]]:
    """The (label, question) pairs sent for the film: one request, only the history differs."""
    case = load_case(case)
    return [(label, context_question(case, history)) for label, history in CONTEXTS]


@dataclass(frozen=True)
class ContextRead:
    """One read of the film: which context, the question sent, MedGemma's answer and its checks against the key."""

    label: str
    question: str
    findings: Findings
    checks: list[FindingCheck]


def _read(medgemma: Any, case: Case, question: str) -> Findings:
    request = case_request(case, prompt=question)
    state = reveal.session(case.id)
    if state.key == request.key(case) and state.future is not None:  # the quiz already asked this one
        return state.future.result()
    return _answer(medgemma, case, request, stream=False, on_text=None)


def compare_contexts(case: Case | str | int = TRUST_CASE, model: Any = None,
                     contexts: tuple[tuple[str, str | None], ...] = CONTEXTS) -> list[ContextRead]:
    """Ask the same film with each context and show the reads side by side, each scored against the key.

    contexts: (label, history) pairs, None for the case's own history and "" for none; every context ends in the
    same request. In a live notebook they stay hidden until the resident decides in the case's quiz.
    """
    case = load_case(case)
    medgemma = model if model is not None else default_model()
    state = reveal.session(case.id)
    handle = None
    if state.hides():
        handle = reveal.placeholder("MedGemma is reading the film once per context. " + reveal.HIDDEN_READ)
    reads = []
    for label, history in contexts:
        question = context_question(case, history)
        findings = _read(medgemma, case, question)
        reads.append(ContextRead(label, question, findings, check_findings(findings.text, case)))
    markup, plain = context_reads_html(case, reads), context_reads_text(reads)
    if handle is None:
        show_html(markup, plain)
    else:
        from IPython.display import HTML

        handle.update(HTML(reveal.notice_html("MedGemma's reads are ready. " + reveal.HIDDEN_READ)))
        state.when_revealed(lambda: handle.update(HTML(markup)))
    return reads


def context_reads_html(case: Case, reads: list[ContextRead]) -> str:
    """The reads side by side (question, answer, concordance table), then one verdict per finding and context."""
    columns = "".join(
        f"<div style='flex:1;min-width:280px'><h4>{esc(read.label.capitalize())}</h4>"
        f"<p><b>Question sent.</b> <i>{esc(read.question)}</i></p>"
        f"{findings_html(read.findings, f'MedGemma, {read.label}')}"
        f"{concordance_table_html(read.checks, f'MedGemma {read.label} vs the answer key')}</div>"
        for read in reads)
    cell = "padding:4px 8px;border:1px solid #bbb;text-align:left"
    header = "".join(f"<th style='{cell}'>{esc(h)}</th>" for h in ("Finding", "Answer key",
                                                                     *(read.label for read in reads)))
    body = "".join(
        f"<tr><td style='{cell}'>{esc(check.finding)}</td><td style='{cell}'>{esc(check.expected)}</td>"
        + "".join(f"<td style='{cell}'>{esc(verdict(read.checks[index])[1])}</td>" for read in reads) + "</tr>"
        for index, check in enumerate(reads[0].checks)) if reads else ""
    scores = "; ".join(f"{read.label}: {'/'.join(map(str, concordance_score(read.checks)))}" for read in reads)
    return (f"<div class='mh-contexts'><h3>Case {esc(case.id)}: one film, {len(reads)} contexts</h3>"
            f"<table style='border-collapse:collapse'><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>"
            f"<p><b>Agrees with the key</b>: {esc(scores)}.</p>"
            f"<div style='display:flex;gap:1.5em;flex-wrap:wrap'>{columns}</div></div>")


def context_reads_text(reads: list[ContextRead]) -> str:
    """The reads, one block per context, for a terminal."""
    blocks = []
    for read in reads:
        agreeing, total = concordance_score(read.checks)
        blocks.append(f"MedGemma {read.label} ({agreeing}/{total} agree with the key)\nQuestion: {read.question}\n"
                      f"{read.findings.text}")
    return "\n\n".join(blocks)


def review_round(source: Any, case: Case | str | int = TRUST_CASE, *, model: Any = None) -> list[dict[str, Any]]:
    """The class review of a round (mh.class_review), held back in a live notebook until the resident decides.

    The review names the findings that misled the class: shown before a resident's own decision, it gives the
    round away. Returns the rows when shown at once, else [] (they show at the decision).
    """
    case = load_case(case)
    state = reveal.session(case.id)
    if not state.hides():
        return class_review(source, case, model=model)
    import ipywidgets
    from IPython.display import display

    held = ipywidgets.Output()
    display(held)
    notice = reveal.placeholder("The class review of the round shows once you have committed your own read above "
                                "and kept or revised it.")

    def show() -> None:
        from IPython.display import HTML

        notice.update(HTML(""))
        with held:  # an output widget: the review lands here even when the reveal comes from a button click
            class_review(source, case, model=model)

    state.when_revealed(show)
    return []


# ---------------------------------------------------------------- an invented class's vigilance round

# The invented class was shown this read of case 03, edited to add a pneumothorax the film does not show. It is the
# demo's, for trying the review: a teacher's own round is written in a round file, out of the residents' sight.
_DEMO_SHOWN_READ = ("PA chest radiograph. Moderate right pleural effusion with a meniscus, obscuring the right "
                    "hemidiaphragm. A catheter projects over the right hemithorax. Small right apical pneumothorax. "
                    "The left lung is clear.")
# A first read, then the decision before the key: the revised read, or None for a read kept.
_DEMO_ROUNDS: tuple[tuple[str, str | None], ...] = (
    ("Moderate right pleural effusion with a meniscus. No pneumothorax. A catheter over the right chest.",
     "Moderate right pleural effusion with a meniscus. Small right apical pneumothorax. A catheter over the right "
     "chest."),  # misled on pneumothorax
    ("Moderate right pleural effusion. No pneumothorax.",
     "Moderate right pleural effusion. No pneumothorax. A catheter projects over the right hemithorax."),  # corrected
    ("Moderate right pleural effusion. No pneumothorax. A catheter over the right chest.", None),  # held the read
    ("Right pleural effusion. No pneumothorax. Catheter over the right hemithorax.",
     "Right pleural effusion. A pneumothorax cannot be excluded. Catheter over the right hemithorax."),  # hedged
)


def write_demo_vigilance_reads(folder: str | Path, residents: int = 8) -> Path:
    """Write an invented class's round on case 03 (first reads, then kept or revised before the key) for the review."""
    folder = Path(folder)
    for number in range(1, residents + 1):
        first, revised = _DEMO_ROUNDS[(number - 1) % len(_DEMO_ROUNDS)]
        save_read(TRUST_CASE, first, f"Invented resident {number:02d}", folder, model_read=_DEMO_SHOWN_READ,
                  revised_read=revised, planted=True, decision="kept" if revised is None else "revised")
    return folder
