"""Read first, then reveal: the resident's read beside MedGemma's, each scored against the answer key.

Layer: teaching flow. May import: errors, render, asking, cases, concordance, impressions, reveal, revisions,
case_view, walkthrough, class_reads.
"""

from __future__ import annotations

import concurrent.futures
from typing import Any

from . import access, reveal
from .asking import Findings, findings_html
from .case_view import answer_key_html, answer_key_text
from .cases import Case, load_case
from .class_reads import save_read
from .concordance import FindingCheck, check_findings, concordance_lines, concordance_table_html
from .errors import InputError, MedGemmaError
from .impressions import contradiction_lines, contradictions_html
from .render import esc, in_notebook, markdown_to_safe_html, show_html
from .revisions import (
    PLANTED_NOTE,
    Revision,
    planted_note_html,
    planted_read,
    revision_table_html,
    revision_text,
    revisions,
    shown_title,
)
from .walkthrough import _answer, case_request, run_case


def comparison_html(case: Case, findings: Findings | None, resident_read: str | None, *, with_key: bool = True,
                    image_modality: str | None = None, disclose: bool = True) -> str:
    """Side by side: the resident's read and the model's read, each with its concordance table; then the key.

    A teacher's planted read is titled as theirs, and (unless disclose=False: the caller discloses) the
    comparison ends with the disclosure.
    """
    columns = []
    if resident_read is not None:
        resident_checks = check_findings(resident_read, case, image_modality=image_modality)
        read_markup = esc(resident_read).replace("\n", "<br>") if resident_read.strip() else "<i>(nothing written)</i>"
        # overflow-wrap: a long unbroken run (a URL, a garbled answer) must wrap, not push the column off screen.
        columns.append(f"<div style='flex:1;min-width:300px'><h4>Your read</h4>"
                       f"<blockquote style='overflow-wrap:anywhere'>{read_markup}</blockquote>"
                       f"{concordance_table_html(resident_checks, 'Your read vs the answer key')}"
                       f"{contradictions_html(resident_read, case, image_modality=image_modality)}</div>")
    if findings is not None:
        model_checks = check_findings(findings.text, case, image_modality=image_modality)
        title = shown_title(findings)  # a teacher's planted read is never called MedGemma's
        columns.append(f"<div style='flex:1;min-width:300px'>{findings_html(findings, title)}"
                       f"{concordance_table_html(model_checks, f'{title} vs the answer key')}"
                       f"{contradictions_html(findings.text, case, image_modality=image_modality)}</div>")
    side_by_side = f"<div style='display:flex;gap:1.5em;flex-wrap:wrap'>{''.join(columns)}</div>" if columns else ""
    key = answer_key_html(case) if with_key else ""
    note = planted_note_html() if disclose and findings is not None and findings.planted else ""
    return f"<div class='mh-comparison'>{side_by_side}{key}{note}</div>"


def comparison_text(case: Case, findings: Findings | None, resident_read: str | None, *,
                    image_modality: str | None = None) -> str:
    """The comparison as plain text for a terminal or headless run."""
    lines = []
    for title, text in (("Your read", resident_read),
                        (shown_title(findings) if findings else "MedGemma", findings.text if findings else None)):
        if text is None:
            continue
        lines += concordance_lines(check_findings(text, case, image_modality=image_modality), title)
        lines += [f"  ⚠ {line}" for line in contradiction_lines(text, case, image_modality=image_modality)]
    planted = [PLANTED_NOTE] if findings is not None and findings.planted else []
    return "\n".join(lines + ["", answer_key_text(case), *planted])


def show_answer_key(case: Case | str | int, findings: Findings | None = None,
                    resident_read: str | None = None) -> list[FindingCheck]:
    """Reveal the answer key, with concordance tables for the model's read and the resident's, if given.

    In a live notebook before the resident has committed a read, it shows a notice instead and fills in at
    the reveal (read first, see reveal.py); then the model's read is the notebook's one read and the resident's
    the one committed in the quiz, unless given here.
    """
    case = load_case(case)
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
                 max_new_tokens: int | None = None, use_widgets: bool = True, show_everything: bool = False,
                 shown_read: str | None = None):
        if shown_read is not None and (not isinstance(shown_read, str) or not shown_read.strip()):
            raise InputError("shown_read must be the text of the read to show in place of MedGemma's.")
        self.case = case
        # A teacher's planted read, shown in place of MedGemma's and always disclosed.
        self.shown_read = shown_read
        self.revised_read: str | None = None  # the read revised after the reveal; the first stays as written
        self.revision: list[Revision] = []
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
        # After the reveal: an optional revision, added below the result only then (the first read stays as written).
        self.revise_box = widgets.Textarea(placeholder="Optional: your read again, revised after seeing the read "
                                           "above (your first read is kept as you wrote it)",
                                           layout=widgets.Layout(width="100%", height="100px"))
        self.revise_button = widgets.Button(description="Revise my read", icon="pencil",
                                            tooltip="Save a revised read; the table shows what changed")
        self.revise_button.on_click(lambda _: self.revise())
        self.revise_area = widgets.VBox([widgets.HTML("<b>Revise my read</b> (optional)"), self.revise_box,
                                         self.revise_button])
        self.widget = widgets.VBox([widgets.HTML("<b>Your read</b>"), self.textarea, self.alias_box,
                                    widgets.HBox([self.button, self.skip_button]), self.result])

    def _start_reading(self) -> None:
        """While the resident reads, MedGemma reads the case's own question in the background.

        Not for a case that invites the user's own image: the Ask cell decides what is read there.
        """
        if not self.session.hides() or self.session.future is not None or self.case.own_image_question:
            return
        medgemma = self.model if self.model is not None else access.latest()
        if medgemma is None:
            return  # nothing loaded yet: the Ask cell or the reveal will load and ask
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
        """The notebook's one model read: the one already asked for (waited for), or the case's question now.

        With a planted read: the teacher's read, marked planted (MedGemma is not asked for it).
        """
        if self.shown_read is not None:
            return planted_read(self.shown_read, self.case)
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
        pointer = "" if self.planted else (  # a planted read is not the one the Ask cell shows
            "<p><i>MedGemma's full read is in <b>Ask MedGemma</b> below, and the answer key with its teaching "
            "points in <b>Reveal the answer key</b>; run those cells if they have not run.</i></p>")
        revised = revision_table_html(self.revision, planted=self.planted) if self.revision else ""
        note = planted_note_html() if self.planted else ""  # the disclosure ends the reveal
        return comparison_html(self.case, self.findings, self.session.read, with_key=False, disclose=False,
                               image_modality=self.session.image_modality) + pointer + revised + note

    @property
    def planted(self) -> bool:
        """True when the read shown at the reveal is a teacher's, not MedGemma's."""
        return self.shown_read is not None

    def _refresh(self) -> None:
        """The Ask cell asked anew after the reveal: show the same read here as there (one read per notebook)."""
        if (self.widget is not None and self.session.revealed and self.session.future is not None
                and not self.planted):
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
            self.revised_read, self.revision = None, []  # a new first read starts a new round
            saved = self._save(read)
            if self.widget is not None:
                markup = self._markup() + saved
                self.result.value = markup
                if self.session.read is not None:  # a revision needs a first read to compare with
                    self.revise_box.value = self.session.read
                    if self.revise_area not in self.widget.children:
                        self.widget.children = (*self.widget.children, self.revise_area)
                return markup
            print(comparison_text(self.case, self.findings, self.session.read,
                                  image_modality=self.session.image_modality))
            if self.session.read is not None:
                print("To revise your read now that you have seen this one, call quiz.revise('your revised read'): "
                      "your first read is kept as you wrote it.")
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

    def revise(self, read: str | None = None) -> str:
        """After the reveal, revise the read: the first stays as written; a table shows per finding what changed.

        Per finding: corrected (wrong before, right after), misled (right before, wrong after, towards the read
        shown), other, or none. With an alias, the saved record gains the revised read.
        """
        if read is None and self.widget is not None:
            read = self.revise_box.value
        if not isinstance(read, str):
            raise InputError("Give the revised read as text: quiz.revise('your revised read').")
        first = self.session.read
        if not self.session.revealed or first is None or self.findings is None:
            message = "Commit your own read with Reveal first: a revision is compared with your first read."
            if self.widget is None:
                raise InputError(message)
            self.result.value += f"<p style='color:#a33'>{esc(message)}</p>"
            return self.result.value
        self.revised_read = read
        modality = self.session.image_modality
        self.revision = revisions(check_findings(first, self.case, image_modality=modality),
                                  check_findings(read, self.case, image_modality=modality),
                                  check_findings(self.findings.text, self.case, image_modality=modality))
        saved = self._save(first)
        if self.widget is not None:
            self.result.value = self._markup() + saved
            return self.result.value
        print(revision_text(self.revision) + (f"\n{PLANTED_NOTE}" if self.planted else ""))
        return revision_table_html(self.revision, planted=self.planted) + (planted_note_html() if self.planted else "")

    def _save(self, read: str | None) -> str:
        """Save a committed read under its alias for the class review; a note saying where (or '' with no alias)."""
        if not self.alias or read is None:
            return ""
        path = save_read(self.case, read, self.alias, model_read=self.findings.text if self.findings else None,
                         revised_read=self.revised_read, planted=self.planted)
        note = f"Saved your {'revised ' if self.revised_read is not None else ''}read as {self.alias} to {path} " \
               "for the class review."
        if self.widget is None:
            print(note)
        return f"<p style='color:#555'><i>{esc(note)}</i></p>"

    def close(self) -> None:
        """Remove the widgets (and their callbacks)."""
        if self.session.on_new_read == self._refresh:
            self.session.on_new_read = None
        if self.widget is not None:
            for child in (self.textarea, self.alias_box, self.button, self.skip_button, self.result,
                          self.revise_box, self.revise_button, self.revise_area, self.widget):
                child.close()
            self.widget = None

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any] | None:
        if self.widget is None:
            return {"text/plain": f"Quiz for case {self.case.id}: call quiz.reveal('your read')"}
        return self.widget._repr_mimebundle_(**kwargs)


_open_quizzes: dict[str, Quiz] = {}


def quiz(case: Case | str | int, model: Any = None, *, prompt: str | None = None,
         max_new_tokens: int | None = None, show_everything: bool = False, shown_read: str | None = None) -> Quiz:
    """Show a box for the resident's read with Reveal and Skip buttons; re-running the cell starts afresh.

    show_everything=True is the teacher's switch: MedGemma's read and the answer key show at once, as in the
    headless walkthroughs, instead of waiting for a read. shown_read: a teacher's planted read, shown at the
    reveal in place of MedGemma's for a vigilance drill, saved as planted and disclosed at the end of the reveal.
    After the reveal the resident may revise (the "Revise my read" box, or quiz.revise('...')).
    """
    case = load_case(case)
    previous = _open_quizzes.pop(case.id, None)
    if previous is not None:
        previous.close()
    use_widgets = in_notebook()
    made = Quiz(case, model, prompt=prompt, max_new_tokens=max_new_tokens, use_widgets=use_widgets,
                show_everything=show_everything, shown_read=shown_read)
    _open_quizzes[case.id] = made
    if made.widget is None:
        print("Write your own read first, then call quiz.reveal('your findings and impression') to compare it "
              "with MedGemma's read and the answer key.")
    return made
