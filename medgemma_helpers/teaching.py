"""Teaching mode: read first, then reveal; structured reads; concordance with the answer key; handouts; summaries."""

from __future__ import annotations

import base64
import concurrent.futures
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
from . import reveal
from .walkthrough import CaseView, answer_key_html, case_image, case_prompt, run_case

# ---------------------------------------------------------------- structured (systematic) read

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
    from .generate import split_thinking

    answer = split_thinking(text or "")[0]
    report = {section: "" for section in REPORT_SECTIONS}
    found = [(match, _heading(match)) for match in _HEADING.finditer(answer)]
    found = [(match, section) for match, section in found if section]
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


# ---------------------------------------------------------------- comparison (resident, model, key)


def comparison_html(case: Case, findings: Findings | None, resident_read: str | None, *, with_key: bool = True,
                    image_modality: str | None = None) -> str:
    """Side by side: the resident's read and the model's read, each with its concordance table; then the key."""
    columns = []
    if resident_read is not None:
        resident_checks = check_findings(resident_read, case, image_modality=image_modality)
        read_markup = esc(resident_read).replace("\n", "<br>") if resident_read.strip() else "<i>(nothing written)</i>"
        # overflow-wrap: a long unbroken run (a URL, a garbled answer) must wrap, not push the column off screen.
        columns.append(f"<div style='flex:1;min-width:300px'><h4>Your read</h4>"
                       f"<blockquote style='overflow-wrap:anywhere'>{read_markup}</blockquote>"
                       f"{concordance_table_html(resident_checks, 'Your read vs the answer key')}</div>")
    if findings is not None:
        model_checks = check_findings(findings.text, case, image_modality=image_modality)
        columns.append(f"<div style='flex:1;min-width:300px'>{findings_html(findings, 'MedGemma')}"
                       f"{concordance_table_html(model_checks, 'MedGemma vs the answer key')}</div>")
    side_by_side = f"<div style='display:flex;gap:1.5em;flex-wrap:wrap'>{''.join(columns)}</div>" if columns else ""
    key = answer_key_html(case) if with_key else ""
    return f"<div class='mh-comparison'>{side_by_side}{key}</div>"


def comparison_text(case: Case, findings: Findings | None, resident_read: str | None, *,
                    image_modality: str | None = None) -> str:
    """The comparison as plain text for a terminal or headless run."""
    from .walkthrough import answer_key_text

    lines = []
    for title, text in (("Your read", resident_read), ("MedGemma", findings.text if findings else None)):
        if text is None:
            continue
        checks = check_findings(text, case, image_modality=image_modality)
        agreeing, total = concordance_score(checks)
        lines.append(f"{title}: {agreeing}/{total} findings agree with the answer key")
        lines += [f"  - {c.finding}: said {c.status.replace('_', ' ')}, key {c.expected}"
                  + ("" if c.scored else " (not a pertinent negative: not scored)") for c in checks]
    return "\n".join(lines + ["", answer_key_text(case)])


def show_answer_key(case: Case | str | int, findings: Findings | None = None,
                    resident_read: str | None = None) -> list[FindingCheck]:
    """Reveal the answer key, with concordance tables for the model's read and the resident's, if given.

    In a live notebook before the resident has committed a read, it shows a notice instead and fills in at
    the reveal (read first, see reveal.py); then the model's read is the notebook's one read and the resident's
    the one committed in the quiz, unless given here.
    """
    case = case if isinstance(case, Case) else load_case(case)
    state = reveal.session(case.id)

    def current() -> tuple[Findings | None, str | None]:
        model_read = findings
        if state.future is not None and state.future.done() and not state.future.exception():
            model_read = state.future.result()  # the notebook's one read: the latest the Ask cell asked
        read = resident_read if isinstance(resident_read, str) and resident_read.strip() else state.read
        return model_read, read

    if state.hides():
        from IPython.display import HTML

        handle = reveal.placeholder(reveal.HIDDEN_KEY)
        state.when_revealed(lambda: handle.update(HTML(comparison_html(
            case, *current(), image_modality=state.image_modality))))
        return []
    model_read, read = current()
    show_html(comparison_html(case, model_read, read, image_modality=state.image_modality),
              comparison_text(case, model_read, read, image_modality=state.image_modality))
    return check_findings(model_read.text, case, image_modality=state.image_modality) if model_read is not None else []


class Quiz:
    """Read first, then reveal: a box for the resident's read, Reveal and Skip buttons (or quiz.reveal('...')).

    In a live notebook the quiz starts MedGemma on the case's question in the background, and nothing shows
    the model's read or the answer key until the resident reveals (reveal.py).
    """

    def __init__(self, case: Case, model: Any = None, *, prompt: str | None = None,
                 max_new_tokens: int | None = None, use_widgets: bool = True, show_everything: bool = False):
        self.case = case
        self.model = model
        self.prompt = prompt
        self.max_new_tokens = max_new_tokens
        self.findings: Findings | None = None
        self.widget = None
        self._typed = ""
        self._alias = ""
        self.session = reveal.session(case.id)
        self.session.restart()
        self.session.show_everything = show_everything
        self.session.on_new_read = self._refresh
        if use_widgets:
            self._build_widgets()
        self._start_reading()

    def _build_widgets(self) -> None:
        try:
            import ipywidgets as widgets
        except ImportError:  # no widget library: quiz.reveal("...") still works
            return
        self.textarea = widgets.Textarea(placeholder="Your findings and impression, before you look at MedGemma's…",
                                         layout=widgets.Layout(width="100%", height="120px"))
        self.button = widgets.Button(description="Reveal", button_style="primary", icon="eye",
                                     tooltip="Commit your read, then see MedGemma's read and the answer key")
        self.skip_button = widgets.Button(description="Skip, show me", icon="forward",
                                          tooltip="Show MedGemma's read and the answer key without a read of your own")
        self.alias_box = widgets.Text(placeholder="Name or alias (optional: saves your read for the class review)",
                                      layout=widgets.Layout(width="60%"))
        self.result = widgets.HTML(value="")
        self.button.on_click(lambda _: self.reveal())
        self.skip_button.on_click(lambda _: self.skip())
        self.widget = widgets.VBox([widgets.HTML("<b>Your read</b>"), self.textarea, self.alias_box,
                                    widgets.HBox([self.button, self.skip_button]), self.result])

    def _start_reading(self) -> None:
        """While the resident reads, MedGemma reads the case's own question in the background.

        Not for a case that invites the user's own image: the Ask cell decides what is read there.
        """
        if not self.session.hides() or self.session.future is not None or self.case.own_image_question:
            return
        from . import model as model_access

        if self.model is None and not model_access._loaded:
            return  # nothing loaded yet: the Ask cell or the reveal will load and ask
        from .walkthrough import _answer, case_request

        medgemma = self.model if self.model is not None else model_access.default_model()
        request = case_request(self.case, prompt=self.prompt, max_new_tokens=self.max_new_tokens)
        self.session.ask(request.key(self.case),
                         lambda progress: _answer(medgemma, self.case, request, stream=True, on_text=progress))

    @property
    def read(self) -> str:
        """What the resident has written so far."""
        return self.textarea.value if self.widget is not None else self._typed

    def _show_progress(self, text: str) -> None:
        if self.widget is not None:
            self.result.value = ("<p><i>MedGemma is reading…</i></p><div style='overflow-wrap:anywhere'>"
                                 f"{markdown_to_safe_html(text)}</div>")

    def _model_read(self) -> Findings:
        """The notebook's one model read: the one already asked for (waited for), or the case's question now."""
        future = self.session.future
        if future is None:
            return run_case(self.case, self.model, prompt=self.prompt, max_new_tokens=self.max_new_tokens,
                            on_text=self._show_progress if self.widget is not None else None,
                            show_prompt=self.widget is None)
        while True:
            try:
                return future.result(timeout=0.5)
            except concurrent.futures.TimeoutError:
                self._show_progress(f"{self.session.progress[0]} characters so far…")

    def _markup(self) -> str:
        pointer = ("<p><i>MedGemma's full read is in <b>Ask MedGemma</b> below, and the answer key with its teaching "
                   "points in <b>Reveal the answer key</b>; run those cells if they have not run.</i></p>")
        return comparison_html(self.case, self.findings, self.session.read, with_key=False,
                               image_modality=self.session.image_modality) + pointer

    def _refresh(self) -> None:
        """The Ask cell asked anew after the reveal: show the same read here as there (one read per notebook)."""
        if self.widget is not None and self.session.revealed and self.session.future is not None:
            self.findings = self.session.future.result()
            self.result.value = self._markup()

    @property
    def alias(self) -> str:
        """The name or alias typed for the class review ('' when none)."""
        return self.alias_box.value.strip() if self.widget is not None else self._alias

    def reveal(self, read: str | None = None, *, alias: str | None = None) -> str:
        """Commit the read, then show it beside MedGemma's (each scored against the key), and unhide the rest.

        With a name or alias, the read is also saved for the teacher's class review (mh.class_review).
        """
        if read is not None:
            self._typed = read
            if self.widget is not None:
                self.textarea.value = read
        if alias is not None:
            self._alias = alias
            if self.widget is not None:
                self.alias_box.value = alias
        return self._reveal(self.read)

    def skip(self) -> str:
        """Reveal without a read of one's own."""
        return self._reveal(None)

    def _reveal(self, read: str | None) -> str:
        if self.widget is not None:
            self.button.disabled = self.skip_button.disabled = True
        try:
            self.findings = self._model_read()
            self.session.reveal(read)  # fills in the Ask and answer-key cells that waited for it
            saved = self._save(read)
            if self.widget is not None:
                markup = self._markup() + saved
                self.result.value = markup
                return markup
            print(comparison_text(self.case, self.findings, self.session.read,
                                  image_modality=self.session.image_modality))
            return comparison_html(self.case, self.findings, self.session.read,
                                   image_modality=self.session.image_modality)
        except MedGemmaError as error:  # shown where the resident looks, not as a traceback
            if self.widget is None:
                raise
            self.result.value = f"<p style='color:#a33'><b>Could not reveal:</b> {esc(error)}</p>"
            return self.result.value
        finally:
            if self.widget is not None:
                self.button.disabled = self.skip_button.disabled = False

    def _save(self, read: str | None) -> str:
        """Save a committed read under its alias for the class review; a note saying where (or '' with no alias)."""
        if not self.alias or read is None:
            return ""
        from .class_reads import save_read

        path = save_read(self.case, read, self.alias, model_read=self.findings.text if self.findings else None)
        note = f"Saved your read as {self.alias} to {path} for the class review."
        if self.widget is None:
            print(note)
        return f"<p style='color:#555'><i>{esc(note)}</i></p>"

    def close(self) -> None:
        """Remove the widgets (and their callbacks)."""
        if self.session.on_new_read == self._refresh:
            self.session.on_new_read = None
        if self.widget is not None:
            for child in (self.textarea, self.alias_box, self.button, self.skip_button, self.result, self.widget):
                child.close()
            self.widget = None

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any] | None:
        if self.widget is None:
            return {"text/plain": f"Quiz for case {self.case.id}: call quiz.reveal('your read')"}
        return self.widget._repr_mimebundle_(**kwargs)


_open_quizzes: dict[str, Quiz] = {}


def quiz(case: Case | str | int, model: Any = None, *, prompt: str | None = None,
         max_new_tokens: int | None = None, show_everything: bool = False) -> Quiz:
    """Show a box for the resident's read with Reveal and Skip buttons; re-running the cell starts afresh.

    show_everything=True is the teacher's switch: MedGemma's read and the answer key show at once, as in the
    headless walkthroughs, instead of waiting for a read.
    """
    case = case if isinstance(case, Case) else load_case(case)
    previous = _open_quizzes.pop(case.id, None)
    if previous is not None:
        previous.close()
    use_widgets = in_notebook()
    made = Quiz(case, model, prompt=prompt, max_new_tokens=max_new_tokens, use_widgets=use_widgets,
                show_everything=show_everything)
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
