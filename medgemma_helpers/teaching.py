"""Teaching mode: read first, then reveal; structured reads; concordance with the answer key; handouts; summaries."""

from __future__ import annotations

import base64
import csv
import io
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .cases import Case, list_cases, load_case
from .concordance import FindingCheck, check_findings, concordance_score, concordance_table_html
from .errors import InputError, MedGemmaError
from .generate import DEFAULT_MAX_NEW_TOKENS, Findings
from .images import write_atomically
from .render import DISCLAIMER, esc, findings_html, in_notebook, markdown_to_safe_html, show_html
from .walkthrough import CaseView, answer_key_html, case_image, case_prompt, run_case

# ---------------------------------------------------------------- structured (systematic) read

REPORT_SECTIONS = ("Airway", "Lungs and pleura", "Heart and mediastinum", "Diaphragm", "Bones and soft tissues",
                   "Lines and devices", "Impression")
# Other words a model (or a resident) uses for the same heading.
_SECTION_ALIASES = {
    "Airway": ("airway", "airways", "trachea"),
    "Lungs and pleura": ("lungs and pleura", "breathing", "lungs", "lung fields", "pleura", "lungs/pleura"),
    "Heart and mediastinum": ("heart and mediastinum", "cardiac size and mediastinum", "cardiac", "heart",
                              "circulation", "mediastinum", "cardiomediastinal silhouette"),
    "Diaphragm": ("diaphragm", "diaphragms", "hemidiaphragms"),
    "Bones and soft tissues": ("bones and soft tissues", "bones", "soft tissues", "everything else", "skeleton"),
    "Lines and devices": ("lines and devices", "lines, tubes and devices", "lines and tubes", "devices", "tubes"),
    "Impression": ("impression", "conclusion", "summary", "overall impression"),
}

STRUCTURED_READ_INSTRUCTIONS = (
    "Report systematically, using exactly these headings in this order, each on its own line followed by a "
    "colon: " + "; ".join(f"{section}:" for section in REPORT_SECTIONS) + ". Under each heading state the "
    "normal and abnormal findings in one or two sentences; write 'None seen' for lines and devices if there are none."
)


def structured_prompt(case: Case | str | int) -> str:
    """The case question followed by the systematic-read instructions residents are taught."""
    return f"{case_prompt(case)}\n\n{STRUCTURED_READ_INSTRUCTIONS}"


_HEADING = re.compile(
    r"^[ \t>*_#\-\d.)]*(?P<name>[A-Za-z][A-Za-z ,/]{1,40}?)[ \t*_]*:[ \t*_]*(?P<rest>.*)$", re.MULTILINE)


def _section_of(name: str) -> str | None:
    name = re.sub(r"\s+", " ", name.strip().lower())
    for section, aliases in _SECTION_ALIASES.items():
        if name in aliases:
            return section
    return None


def parse_report(text: str) -> dict[str, str]:
    """Split a structured read into its sections (every section present, '' when the text has none)."""
    from .generate import split_thinking

    answer = split_thinking(text or "")[0]
    report = {section: "" for section in REPORT_SECTIONS}
    found = [(match, _section_of(match.group("name"))) for match in _HEADING.finditer(answer)]
    found = [(match, section) for match, section in found if section]
    for index, (match, section) in enumerate(found):
        end = found[index + 1][0].start() if index + 1 < len(found) else len(answer)
        body = (match.group("rest") + answer[match.end():end]).strip()
        # A model that repeats a heading adds to the section rather than replacing it.
        report[section] = (report[section] + " " + body).strip() if report[section] else body
    return report


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


# ---------------------------------------------------------------- comparison (resident, model, key)


def comparison_html(case: Case, findings: Findings | None, resident_read: str | None) -> str:
    """Side by side: the resident's read and the model's read, each with its concordance table; then the key."""
    columns = []
    if resident_read is not None:
        resident_checks = check_findings(resident_read, case)
        read_markup = esc(resident_read).replace("\n", "<br>") if resident_read.strip() else "<i>(nothing written)</i>"
        # overflow-wrap: a long unbroken run (a URL, a garbled answer) must wrap, not push the column off screen.
        columns.append(f"<div style='flex:1;min-width:300px'><h4>Your read</h4>"
                       f"<blockquote style='overflow-wrap:anywhere'>{read_markup}</blockquote>"
                       f"{concordance_table_html(resident_checks, 'Your read vs the answer key')}</div>")
    if findings is not None:
        model_checks = check_findings(findings.text, case)
        columns.append(f"<div style='flex:1;min-width:300px'>{findings_html(findings, 'MedGemma')}"
                       f"{concordance_table_html(model_checks, 'MedGemma vs the answer key')}</div>")
    side_by_side = f"<div style='display:flex;gap:1.5em;flex-wrap:wrap'>{''.join(columns)}</div>" if columns else ""
    return f"<div class='mh-comparison'>{side_by_side}{answer_key_html(case)}</div>"


def comparison_text(case: Case, findings: Findings | None, resident_read: str | None) -> str:
    """The comparison as plain text for a terminal or headless run."""
    from .walkthrough import answer_key_text

    lines = []
    for title, text in (("Your read", resident_read), ("MedGemma", findings.text if findings else None)):
        if text is None:
            continue
        checks = check_findings(text, case)
        agreeing, total = concordance_score(checks)
        lines.append(f"{title}: {agreeing}/{total} findings agree with the answer key")
        lines += [f"  - {c.finding}: said {c.status.replace('_', ' ')}, key {c.expected}" for c in checks]
    return "\n".join(lines + ["", answer_key_text(case)])


def show_answer_key(case: Case | str | int, findings: Findings | None = None,
                    resident_read: str | None = None) -> list[FindingCheck]:
    """Reveal the answer key, with concordance tables for the model's read and the resident's, if given."""
    case = case if isinstance(case, Case) else load_case(case)
    if isinstance(resident_read, str) and not resident_read.strip():
        resident_read = None
    show_html(comparison_html(case, findings, resident_read), comparison_text(case, findings, resident_read))
    return check_findings(findings.text, case) if findings is not None else []


class Quiz:
    """Read first, then reveal: a box for the resident's read and a Reveal button (or quiz.reveal('...'))."""

    def __init__(self, case: Case, model: Any = None, *, prompt: str | None = None,
                 max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS, use_widgets: bool = True):
        self.case = case
        self.model = model
        self.prompt = prompt
        self.max_new_tokens = max_new_tokens
        self.findings: Findings | None = None
        self.widget = None
        self._typed = ""
        if use_widgets:
            self._build_widgets()

    def _build_widgets(self) -> None:
        try:
            import ipywidgets as widgets
        except ImportError:  # no widget library: quiz.reveal("...") still works
            return
        self.textarea = widgets.Textarea(placeholder="Your findings and impression, before you look at MedGemma's…",
                                         layout=widgets.Layout(width="100%", height="120px"))
        self.button = widgets.Button(description="Reveal", button_style="primary", icon="eye",
                                     tooltip="Show MedGemma's read and the answer key")
        self.result = widgets.HTML(value="")
        self.button.on_click(lambda _: self.reveal())
        self.widget = widgets.VBox([widgets.HTML("<b>Your read</b>"), self.textarea, self.button, self.result])

    @property
    def read(self) -> str:
        """What the resident has written so far."""
        return self.textarea.value if self.widget is not None else self._typed

    def _show_progress(self, text: str) -> None:
        if self.widget is not None:
            self.result.value = ("<p><i>MedGemma is reading…</i></p><div style='overflow-wrap:anywhere'>"
                                 f"{markdown_to_safe_html(text)}</div>")

    def reveal(self, read: str | None = None) -> str:
        """Ask MedGemma (once), then show the resident's read, the model's and the answer key side by side."""
        if read is not None:
            self._typed = read
            if self.widget is not None:
                self.textarea.value = read
        if self.widget is not None:
            self.button.disabled = True
        try:
            if self.findings is None:
                self.findings = run_case(self.case, self.model, prompt=self.prompt, max_new_tokens=self.max_new_tokens,
                                         on_text=self._show_progress if self.widget is not None else None,
                                         show_prompt=self.widget is None)
            markup = comparison_html(self.case, self.findings, self.read)
            if self.widget is not None:
                self.result.value = markup
            else:
                print(comparison_text(self.case, self.findings, self.read))
            return markup
        except MedGemmaError as error:  # shown where the resident looks, not as a traceback
            if self.widget is None:
                raise
            self.result.value = f"<p style='color:#a33'><b>Could not reveal:</b> {esc(error)}</p>"
            return self.result.value
        finally:
            if self.widget is not None:
                self.button.disabled = False

    def close(self) -> None:
        """Remove the widgets (and their callbacks)."""
        if self.widget is not None:
            for child in (self.textarea, self.button, self.result, self.widget):
                child.close()
            self.widget = None

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any] | None:
        if self.widget is None:
            return {"text/plain": f"Quiz for case {self.case.id}: call quiz.reveal('your read')"}
        return self.widget._repr_mimebundle_(**kwargs)


_open_quizzes: dict[str, Quiz] = {}


def quiz(case: Case | str | int, model: Any = None, *, prompt: str | None = None,
         max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS) -> Quiz:
    """Show a box for the resident's read and a Reveal button; re-running the cell starts afresh."""
    case = case if isinstance(case, Case) else load_case(case)
    previous = _open_quizzes.pop(case.id, None)
    if previous is not None:
        previous.close()
    use_widgets = in_notebook()
    made = Quiz(case, model, prompt=prompt, max_new_tokens=max_new_tokens, use_widgets=use_widgets)
    _open_quizzes[case.id] = made
    if made.widget is None:
        print("Write your own read first, then call quiz.reveal('your findings and impression') to compare it "
              "with MedGemma's read and the answer key.")
    return made


# ---------------------------------------------------------------- handouts


def handout_html(case: Case, findings: Findings | None, resident_read: str | None = None, image: Any = None) -> str:
    """One self-contained HTML page for a case: image embedded, history, reads, key, concordance, disclaimer."""
    picture = case_image(case, image)
    view = CaseView(case, picture)
    prompt = f"<p><b>Prompt.</b> {esc(findings.prompt)}</p>" if findings else ""
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>Case {esc(case.id)}: {esc(case.title)}</title>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        "<style>body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;"
        "line-height:1.45}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px}"
        "blockquote{border-left:3px solid #999;margin:0;padding-left:1em}.warn{color:#a33}</style></head><body>"
        f"<p class='warn'><b>{esc(DISCLAIMER)}</b></p>"
        f"{view._repr_html_()}{prompt}{comparison_html(case, findings, resident_read)}"
        f"<p style='color:#777;font-size:85%'>Handout generated {esc(time.strftime('%Y-%m-%d'))} by the MedGemma "
        "case notebooks.</p></body></html>")


def export_handout(case: Case | str | int, findings: Findings | None, path: str | Path, *,
                   resident_read: str | None = None, image: Any = None) -> Path:
    """Write the case handout as one self-contained HTML file (a folder gets <id>_<slug>_handout.html)."""
    case = case if isinstance(case, Case) else load_case(case)
    if Path(path).suffix == "":  # "handouts/" or "handouts": a folder, made if needed
        path = Path(path) / f"{case.id}_{case.slug}_handout.html"
    path = Path(path)
    if path.suffix.lower() not in (".html", ".htm"):
        raise InputError(f"Handout path {path} should end in .html (or be a folder).")
    write_atomically(path, handout_html(case, findings, resident_read, image).encode("utf-8"))
    return path


# ---------------------------------------------------------------- all cases in one run


@dataclass
class CaseResult:
    """One row of the all-cases summary."""

    case_id: str
    title: str
    seconds: float
    prompt_tokens: int
    new_tokens: int
    agreeing: int
    total: int
    findings: Findings

    @property
    def score(self) -> float:
        """Fraction of answer-key findings the model agreed with."""
        return self.agreeing / self.total if self.total else 0.0


def run_all_cases(model: Any = None, cases: list[Case] | None = None, *,
                  max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS, handouts: str | Path | None = None,
                  batch_size: int | None = None) -> list[CaseResult]:
    """Run every case with one model, batched (mh.analyze_many); optionally write each case's handout into a folder.

    Each case is asked exactly what run_case asks. A loaded model answers batch_size cases per generate call, and
    a case's seconds are its share of its batch's time (in proportion to the tokens it generated), so the column
    adds up to the whole run; a server (mh.connect) gets the cases as concurrent requests, each timed on its own.
    """
    from .batch import DEFAULT_BATCH_SIZE, Request, analyze_many
    from .images import pad_square
    from .walkthrough import _is_chest_radiograph

    cases = cases or list_cases()
    requests = []
    for index, case in enumerate(cases, 1):
        print(f"[{index}/{len(cases)}] case {case.id}: {case.title}", flush=True)
        picture = case_image(case)
        if picture is not None and _is_chest_radiograph(case):
            picture = pad_square(picture)  # as run_case does: Google's chest X-ray notebooks pad to a square
        requests.append(Request(picture, case_prompt(case), case.system_prompt))
    size = batch_size or DEFAULT_BATCH_SIZE
    print(f"Asking MedGemma about {len(cases)} cases, {min(size, len(cases))} at a time…", flush=True)
    answers = analyze_many(requests, model=model, max_new_tokens=max_new_tokens, batch_size=size)
    results = []
    for case, findings in zip(cases, answers):
        agreeing, total = concordance_score(check_findings(findings.text, case))
        results.append(CaseResult(case.id, case.title, findings.seconds, findings.prompt_tokens, findings.new_tokens,
                                  agreeing, total, findings))
        if handouts is not None:
            Path(handouts).mkdir(parents=True, exist_ok=True)
            export_handout(case, findings, Path(handouts))
    return results


def summary_chart_png(results: list[CaseResult]) -> bytes:
    """A bar chart of the concordance score per case, as PNG bytes."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 3.2), dpi=100)
    axes = figure.add_subplot()
    labels = [result.case_id for result in results]
    axes.bar(labels, [100 * result.score for result in results], color="#4a7ab5")
    for position, result in enumerate(results):
        axes.text(position, 100 * result.score + 2, f"{result.agreeing}/{result.total}", ha="center", fontsize=8)
    axes.set_ylim(0, 110)
    axes.set_ylabel("agrees with key (%)")
    axes.set_xlabel("case")
    axes.set_title("MedGemma vs the answer key, per case")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def summary_html(results: list[CaseResult]) -> str:
    """The summary table (case, seconds, tokens, score) and the chart, as HTML."""
    rows = "".join(
        f"<tr><td>{esc(r.case_id)}</td><td>{esc(r.title)}</td><td>{r.seconds:.1f}</td><td>{r.prompt_tokens}</td>"
        f"<td>{r.new_tokens}</td><td>{r.agreeing}/{r.total}</td></tr>" for r in results)
    chart = base64.b64encode(summary_chart_png(results)).decode("ascii") if results else ""
    return ("<table class='mh-summary'><tr><th>Case</th><th>Title</th><th>Seconds</th><th>Prompt tokens</th>"
            f"<th>New tokens</th><th>Agrees with key</th></tr>{rows}</table>"
            + (f"<img alt='Concordance per case' src='data:image/png;base64,{chart}'/>" if chart else "")
            + f"<p style='color:#a33'>{esc(DISCLAIMER)}</p>")


def write_summary(results: list[CaseResult], folder: str | Path) -> list[Path]:
    """Write summary.csv, summary.png and summary.html into a folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    table = io.StringIO()
    writer = csv.writer(table)
    writer.writerow(["case", "title", "seconds", "prompt_tokens", "new_tokens", "agreeing", "total"])
    for r in results:
        writer.writerow([r.case_id, r.title, f"{r.seconds:.2f}", r.prompt_tokens, r.new_tokens, r.agreeing, r.total])
    paths = [folder / "summary.csv", folder / "summary.png", folder / "summary.html"]
    write_atomically(paths[0], table.getvalue().encode("utf-8"))
    write_atomically(paths[1], summary_chart_png(results))
    page = f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>All cases</title></head><body>{summary_html(results)}</body></html>"
    write_atomically(paths[2], page.encode("utf-8"))
    return paths


def show_summary(results: list[CaseResult]) -> None:
    """Show the all-cases table and chart inline (or the table in a terminal)."""
    plain = "\n".join(f"{r.case_id}  {r.seconds:6.1f} s  {r.new_tokens:5d} tokens  {r.agreeing}/{r.total}  {r.title}"
                      for r in results)
    show_html(summary_html(results), plain)
