"""Read first, see the read shown, decide, then the key: the quiz that measures calibrated trust.

Stage 1 (Reveal): the resident's read and the read shown to them (MedGemma's, or a teacher's round), as text,
unscored: no key, no verdict, no name that tells the two apart. Then Keep my read, or Revise my read. Stage 2 (the
decision): the answer key, each read scored (first, revised, the read shown), the change per finding, and for a
teacher's read the disclosure. A decision after the key measures nothing, so a revision then is refused. Skip,
the teacher's show_everything switch and the headless run (MEDGEMMA_SHOW_ALL) show everything at once.

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
from .class_reads import _clean_alias, save_read
from .concordance import FindingCheck, check_findings, concordance_lines, concordance_table_html
from .errors import InputError, MedGemmaError
from .impressions import contradiction_lines, contradictions_html
from .render import esc, in_notebook, markdown_to_safe_html, show_html
from .revisions import (
    SHOWN_TITLE,
    Revision,
    planted_changes,
    planted_note,
    planted_note_html,
    planted_read,
    revision_table_html,
    revision_text,
    revisions,
    round_read,
    shown_title,
)
from .walkthrough import _answer, case_request, run_case

DECIDE = ("Decide now, before the key: keep your read as it is, or revise it in the box below. Your first read "
          "stays as you wrote it; the key and the scores follow your decision.")
AFTER_KEY = ("The key is already shown: a revision now would follow the key, not the read shown, so it is not "
             "taken and your decision stands.")
PRACTICE = ("You have already seen the answer key for this case, so this round is practice: your read and your "
            "decision are not saved for the class review, and what you saved before the key stands.")


def _read_column(title: str, read: str, case: Case, image_modality: str | None, width: int) -> str:
    """One of the resident's reads, quoted and scored against the key, in a column at least width pixels wide."""
    checks = check_findings(read, case, image_modality=image_modality)
    markup = esc(read).replace("\n", "<br>") if read.strip() else "<i>(nothing written)</i>"
    # overflow-wrap: a long unbroken run (a URL, a garbled answer) must wrap, not push the column off screen.
    return (f"<div style='flex:1;min-width:{width}px'><h4>{esc(title)}</h4>"
            f"<blockquote style='overflow-wrap:anywhere'>{markup}</blockquote>"
            f"{concordance_table_html(checks, f'{title} vs the answer key')}"
            f"{contradictions_html(read, case, image_modality=image_modality)}</div>")


def comparison_html(case: Case, findings: Findings | None, resident_read: str | None, *, with_key: bool = True,
                    image_modality: str | None = None, disclose: bool = True, revised_read: str | None = None) -> str:
    """Side by side: the resident's read (and revision), and the read shown, each with its concordance table; the key.

    The one place a quiz or the answer-key cell shows the key. A teacher's planted read is titled as theirs, and
    (unless disclose=False: the caller discloses) the comparison ends with the disclosure.
    """
    columns = []
    # Three reads side by side leave each table too little room: wider columns, so the third wraps below.
    width = 300 if revised_read is None else 500
    if resident_read is not None:
        columns.append(_read_column("Your read" if revised_read is None else "Your first read", resident_read,
                                    case, image_modality, width))
    if revised_read is not None:
        columns.append(_read_column("Your revised read", revised_read, case, image_modality, width))
    if findings is not None:
        model_checks = check_findings(findings.text, case, image_modality=image_modality)
        title = shown_title(findings)  # a teacher's planted read is never called MedGemma's
        columns.append(f"<div style='flex:1;min-width:{width}px'>{findings_html(findings, title)}"
                       f"{concordance_table_html(model_checks, f'{title} vs the answer key')}"
                       f"{contradictions_html(findings.text, case, image_modality=image_modality)}</div>")
    side_by_side = f"<div style='display:flex;gap:1.5em;flex-wrap:wrap'>{''.join(columns)}</div>" if columns else ""
    # The key drawn on the film marks the resident's own read: the revision where there is one.
    final = revised_read if revised_read is not None else resident_read
    final_checks = None if final is None else check_findings(final, case, image_modality=image_modality)
    key = answer_key_html(case, final_checks) if with_key else ""
    note = (planted_note_html(planted_changes(findings.text, case, image_modality=image_modality))
            if disclose and findings is not None and findings.planted else "")
    return f"<div class='mh-comparison'>{side_by_side}{key}{note}</div>"


def comparison_text(case: Case, findings: Findings | None, resident_read: str | None, *,
                    image_modality: str | None = None, revised_read: str | None = None) -> str:
    """The comparison as plain text for a terminal or headless run."""
    lines = []
    first_title = "Your read" if revised_read is None else "Your first read"
    for title, text in ((first_title, resident_read), ("Your revised read", revised_read),
                        (shown_title(findings) if findings else "MedGemma", findings.text if findings else None)):
        if text is None:
            continue
        lines += concordance_lines(check_findings(text, case, image_modality=image_modality), title)
        lines += [f"  ⚠ {line}" for line in contradiction_lines(text, case, image_modality=image_modality)]
    planted = ([planted_note(planted_changes(findings.text, case, image_modality=image_modality))]
               if findings is not None and findings.planted else [])
    return "\n".join(lines + ["", answer_key_text(case), *planted])


def first_look_html(resident_read: str, findings: Findings) -> str:
    """Stage 1: the resident's read and the read shown, as text: no key, no score, no verdict, nothing that names it."""
    yours = esc(resident_read).replace("\n", "<br>")
    if findings.still_thinking:  # MedGemma ran out of room while thinking: there is no read to show
        shown = "<p><i>(no answer: the read stopped before it was written)</i></p>"
    else:
        shown = markdown_to_safe_html(findings.text) or "<p><i>(empty answer)</i></p>"
    return ("<div class='mh-first-look'><div style='display:flex;gap:1.5em;flex-wrap:wrap'>"
            f"<div style='flex:1;min-width:300px'><h4>Your read</h4>"
            f"<blockquote style='overflow-wrap:anywhere'>{yours}</blockquote></div>"
            f"<div class='mh-shown-read' style='flex:1;min-width:300px;overflow-wrap:anywhere'><h4>{esc(SHOWN_TITLE)}"
            f"</h4>{shown}</div></div><p><b>{esc(DECIDE)}</b></p></div>")


def first_look_text(resident_read: str, findings: Findings) -> str:
    """Stage 1 for a terminal: both reads as text, and how to decide."""
    return (f"Your read:\n{resident_read}\n\n{SHOWN_TITLE}:\n{findings.text}\n\n{DECIDE}\n"
            "Keep it with quiz.keep(), or revise it with quiz.revise('your revised read').")


def show_answer_key(case: Case | str | int, findings: Findings | None = None,
                    resident_read: str | None = None) -> list[FindingCheck]:
    """Reveal the answer key, with concordance tables for the model's read and the resident's, if given.

    In a live notebook before the resident has committed a read and kept or revised it, it shows a notice instead
    and fills in at the decision (see reveal.py); then the model's read is the notebook's one read and the
    resident's the first one committed in the quiz, unless given here.
    """
    case = load_case(case)
    state = reveal.session(case.id)

    def current() -> tuple[Findings | None, str | None, str | None]:
        model_read = findings
        if state.future is not None and state.future.done() and not state.future.exception():
            model_read = state.future.result()  # the notebook's one read: the latest the Ask cell asked
        if isinstance(resident_read, str) and resident_read.strip():
            return model_read, resident_read, None
        return model_read, state.read, state.revised_read  # the key marks the revision, as the quiz's does

    if state.hides():
        from IPython.display import HTML

        handle = reveal.placeholder(reveal.HIDDEN_KEY)
        def render() -> None:
            model_read, read, revised = current()
            handle.update(HTML(comparison_html(case, model_read, read, image_modality=state.image_modality,
                                               revised_read=revised)))

        state.when_revealed(render)
        return []
    state.key_seen = True  # shown here (the teacher's switch, a terminal): a later quiz on it is practice
    model_read, read, revised = current()
    show_html(comparison_html(case, model_read, read, image_modality=state.image_modality, revised_read=revised),
              comparison_text(case, model_read, read, image_modality=state.image_modality, revised_read=revised))
    return check_findings(model_read.text, case, image_modality=state.image_modality) if model_read is not None else []


class Quiz:
    """Read first, see the read shown, decide, then the key: Reveal, then Keep my read or Revise my read.

    From code: quiz.reveal('...') (stage 1), then quiz.keep() or quiz.revise('...') (stage 2). In a live notebook
    the quiz starts MedGemma on the case's question in the background, and nothing shows the model's read or the
    answer key until the resident decides (reveal.py).
    """

    def __init__(self, case: Case, model: Any = None, *, prompt: str | None = None,
                 max_new_tokens: int | None = None, use_widgets: bool = True, show_everything: bool = False,
                 shown_read: str | None = None):
        if shown_read is not None and (not isinstance(shown_read, str) or not shown_read.strip()):
            raise InputError("shown_read must be the text of the read to show in place of MedGemma's.")
        self.case = case
        # A teacher's planted read, shown in place of MedGemma's and disclosed with the key.
        self.shown_read = shown_read
        self.decision: str | None = None  # "kept" or "revised", taken before the key; None until then
        self.revised_read: str | None = None  # the read revised before the key; the first stays as written
        self.revision: list[Revision] = []
        self.key_shown = False
        self.model = model
        self.prompt = prompt
        self.max_new_tokens = max_new_tokens
        self.findings: Findings | None = None
        self.widget = None
        self._typed = ""
        self._alias = ""
        self._alias_taken = False  # the alias is checked and fixed when the first read is committed
        self.session = reveal.session(case.id)
        # The key was already on screen for this case: what this quiz takes may follow it, so nothing is saved.
        self.practice = self.session.key_seen
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
        self.textarea = widgets.Textarea(placeholder="Your findings and impression, before you see any other read…",
                                         layout=widgets.Layout(width="100%", height="120px"))
        self.button = widgets.Button(description="Reveal", button_style="primary", icon="eye",
                                     tooltip="Commit your read, then see the read shown to you and decide")
        self.skip_button = widgets.Button(description="Skip, show me", icon="forward",
                                          tooltip="Show MedGemma's read and the answer key without a read of your own")
        self.alias_box = widgets.Text(placeholder="Name or alias (optional: saves your read for the class review)",
                                      layout=widgets.Layout(width="60%"))
        self.result = widgets.HTML(value="")
        self.button.on_click(lambda _: self.reveal())
        self.skip_button.on_click(lambda _: self.skip())
        # After the reveal, before the key: keep the first read, or revise it (the first read stays as written).
        self.revise_box = widgets.Textarea(placeholder="Your read again, revised after seeing the read shown to "
                                           "you (your first read is kept as you wrote it)",
                                           layout=widgets.Layout(width="100%", height="100px"))
        self.keep_button = widgets.Button(description="Keep my read", button_style="primary", icon="check",
                                          tooltip="Keep your first read as it is, then see the key")
        self.revise_button = widgets.Button(description="Revise my read", icon="pencil",
                                            tooltip="Take the read in the box as your revision, then see the key")
        self.keep_button.on_click(lambda _: self.keep())
        self.revise_button.on_click(lambda _: self.revise())
        self.revise_area = widgets.VBox([widgets.HTML("<b>Keep or revise your read</b>"), self.revise_box,
                                         widgets.HBox([self.keep_button, self.revise_button])])
        practice = f"<p style='color:#a33'>{esc(PRACTICE)}</p>" if self.practice else ""
        self.widget = widgets.VBox([widgets.HTML(f"{practice}<b>Your read</b>"), self.textarea, self.alias_box,
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
        """While the read shown is prepared: the same neutral line whoever wrote it (its text waits for stage 1)."""
        self._progress(len(text))

    def _progress(self, characters: int) -> None:
        if self.widget is not None:
            self.result.value = f"<p><i>Preparing the read shown to you… ({characters} characters)</i></p>"

    def _model_read(self) -> Findings:
        """The notebook's one model read: the one already asked for (waited for), or the case's question now.

        With a planted read: the teacher's read, marked planted (MedGemma is not asked for it); a read MedGemma is
        already making is waited for even so, so that the two take the same time to appear.
        """
        future = self.session.future
        if future is not None:
            while not future.done():
                try:
                    future.exception(timeout=0.5)
                except concurrent.futures.TimeoutError:
                    self._progress(self.session.progress[0])
        if self.shown_read is not None:
            return planted_read(self.shown_read, self.case)
        if future is not None:
            return future.result()
        return run_case(self.case, self.model, prompt=self.prompt, max_new_tokens=self.max_new_tokens,
                        on_text=self._show_progress if self.widget is not None else None,
                        show_prompt=self.widget is None)

    def _key_markup(self) -> str:
        """Stage 2: each read scored, the key, the change per finding, and the disclosure last."""
        modality = self.session.image_modality
        revised = revision_table_html(self.revision, planted=self.planted) if self.revision else ""
        note = (planted_note_html(planted_changes(self.findings.text, self.case, image_modality=modality))
                if self.planted and self.findings is not None else "")
        return comparison_html(self.case, self.findings, self.session.read, disclose=False, image_modality=modality,
                               revised_read=self.revised_read if self.decision == "revised" else None) \
            + revised + note

    def _key_text(self) -> str:
        """Stage 2 for a terminal."""
        revised = self.revised_read if self.decision == "revised" else None
        text = comparison_text(self.case, self.findings, self.session.read, revised_read=revised,
                               image_modality=self.session.image_modality)
        return text + (f"\n\n{revision_text(self.revision)}" if self.revision else "")

    @property
    def planted(self) -> bool:
        """True when the read shown is a teacher's, not MedGemma's."""
        return self.shown_read is not None

    def _refresh(self) -> None:
        """The Ask cell asked anew before the decision: show the same read here as there (one read per notebook).

        After the decision the quiz keeps the read the decision was taken on.
        """
        if (self.widget is not None and self.session.committed and not self.key_shown
                and self.session.future is not None and not self.planted and self.session.read is not None):
            self.findings = self.session.future.result()
            self.result.value = first_look_html(self.session.read, self.findings)

    @property
    def alias(self) -> str:
        """The name or alias for the class review ('' when none): as typed, then as fixed at the commit."""
        return self.alias_box.value.strip() if self.widget is not None and not self._alias_taken else self._alias

    def _checked_alias(self) -> str:
        """The alias as it will be saved, checked before anything is committed ('' when none)."""
        return _clean_alias(self.alias) if self.alias else ""

    def _take_alias(self, alias: str) -> None:
        """Fix the alias at the commit: an edit afterwards would save the decision under another name."""
        self._alias, self._alias_taken = alias, True
        if self.widget is not None:
            self.alias_box.disabled = True

    def _refuse(self, message: str) -> str:
        """Say why, where the resident looks: in the widget, or as an error from code."""
        if self.widget is None:
            raise InputError(message)
        self.result.value += f"<p class='mh-refused' style='color:#a33'>{esc(message)}</p>"
        return self.result.value

    def reveal(self, read: str | None = None, *, alias: str | None = None) -> str:
        """Commit the read, then see the read shown to you, unscored (stage 1); keep() or revise() brings the key.

        An empty read is a skip. With the teacher's show_everything (or the headless run) everything shows at once.
        With a name or alias, the read is also saved for the teacher's class review (mh.class_review).
        """
        if self.key_shown or self.session.committed:
            return self._refuse(AFTER_KEY if self.key_shown else "Your first read is already committed: keep it "
                                "(Keep my read, quiz.keep()) or revise it (Revise my read, quiz.revise('...')).")
        if read is not None:
            self._typed = read
            if self.widget is not None:
                self.textarea.value = read
        if alias is not None:
            self._alias = alias
            if self.widget is not None:
                self.alias_box.value = alias
        read = self.read
        if not read.strip():
            return self.skip()
        if self.session.show_everything or reveal.show_all_requested():
            return self._show_everything(read)
        return self._step("reveal", lambda: self._commit(read))

    def skip(self) -> str:
        """Show everything without a read of one's own (nothing to decide, so nothing is measured)."""
        if self.key_shown or self.session.committed:
            return self._refuse(AFTER_KEY if self.key_shown else "Your first read is already committed: keep it "
                                "or revise it to see the key.")
        return self._show_everything(None)

    def keep(self) -> str:
        """Stage 2 after keeping the first read as it is: the key, the scores and the disclosure."""
        return self._decide("kept", None)

    def revise(self, read: str | None = None) -> str:
        """Stage 2 after revising the read before the key: the first stays as written; a table shows what changed.

        Per finding: corrected (wrong before, right after), misled (right before, wrong after, towards the read
        shown), other, or none. A revision once the key is shown is refused. With an alias, the saved record gains
        the decision and the revised read.
        """
        if read is None and self.widget is not None:
            read = self.revise_box.value
        if not isinstance(read, str) or not read.strip():
            return self._refuse("Give the revised read as text: quiz.revise('your revised read'), or keep your read "
                                "with quiz.keep().")
        return self._decide("revised", read)

    def _decide(self, decision: str, revised: str | None) -> str:
        if self.key_shown:
            return self._refuse(AFTER_KEY)
        first = self.session.read
        if not self.session.committed or first is None or self.findings is None:
            return self._refuse("Commit your own read with Reveal first: a revision is compared with your first read.")
        modality = self.session.image_modality
        first_checks = check_findings(first, self.case, image_modality=modality)
        self.decision, self.revised_read = decision, revised
        self.revision = revisions(first_checks, check_findings(revised, self.case, image_modality=modality)
                                  if revised is not None else first_checks,
                                  check_findings(self.findings.text, self.case, image_modality=modality))
        return self._step(decision, self._show_key)

    def _commit(self, read: str) -> str:
        alias = self._checked_alias()  # a bad alias stops here, before the commit, so Reveal can be clicked again
        self.findings = self._model_read()
        self._take_alias(alias)
        self.session.commit(read)
        saved = self._save()
        if self.widget is None:
            print(first_look_text(read, self.findings))
            return first_look_html(read, self.findings)
        self.textarea.disabled = True  # the first read is committed: a change now is a revision
        self.revise_box.value = read
        if self.revise_area not in self.widget.children:
            self.widget.children = (*self.widget.children, self.revise_area)
        self.result.value = first_look_html(read, self.findings) + saved
        return self.result.value

    def _show_key(self) -> str:
        self.key_shown = True
        # fills in the Ask, answer-key and other cells that waited
        self.session.reveal(self.session.read, self.revised_read if self.decision == "revised" else None)
        saved = self._save()
        if self.widget is None:
            print(self._key_text())
            return self._key_markup()
        self.widget.children = tuple(child for child in self.widget.children if child is not self.revise_area)
        self.result.value = self._key_markup() + saved
        return self.result.value

    def _show_everything(self, read: str | None) -> str:
        def show() -> str:
            alias = self._checked_alias()
            self.findings = self._model_read()
            if read is not None:
                self._take_alias(alias)
                self.session.commit(read)
            return self._show_key()
        return self._step("reveal", show)

    def _step(self, name: str, work: Any) -> str:
        """Run one step with the buttons off; an error shows where the resident looks, not as a traceback."""
        buttons: list[Any] = [] if self.widget is None else [self.button, self.skip_button, self.keep_button,
                                                             self.revise_button]
        for button in buttons:
            button.disabled = True
        try:
            return work()
        except MedGemmaError as error:
            if self.widget is None:
                raise
            self.result.value = f"<p style='color:#a33'><b>Could not {esc(name)}:</b> {esc(error)}</p>"
            return self.result.value
        finally:
            if self.widget is not None:  # only the step that comes next stays on
                self.button.disabled = self.skip_button.disabled = self.session.committed or self.key_shown
                self.keep_button.disabled = self.revise_button.disabled = self.key_shown

    def _save(self) -> str:
        """Save a committed read under its alias for the class review; a note saying where (or '' with no alias)."""
        read = self.session.read
        if not self.alias or read is None:
            return ""
        colour = "#a33"
        if self.practice:
            note = PRACTICE
        else:
            try:
                path = save_read(self.case, read, self.alias,
                                 model_read=self.findings.text if self.findings else None,
                                 revised_read=self.revised_read, planted=self.planted, decision=self.decision)
            except OSError as error:  # a full disk or a read-only folder: the quiz goes on, the resident is told
                note = (f"Could not save your read as {self.alias} for the class review ({error}). Your read is "
                        "still yours to decide on; ask your teacher where reads can be saved.")
            else:
                what = {"kept": "decision (kept your read)", "revised": "revised read"}.get(self.decision or "",
                                                                                          "read")
                note, colour = f"Saved your {what} as {self.alias} to {path} for the class review.", "#555"
        if self.widget is None:
            print(note)
        return f"<p style='color:{colour}'><i>{esc(note)}</i></p>"

    def close(self) -> None:
        """Remove the widgets (and their callbacks)."""
        if self.session.on_new_read == self._refresh:
            self.session.on_new_read = None
        if self.widget is not None:
            for child in (self.textarea, self.alias_box, self.button, self.skip_button, self.result,
                          self.revise_box, self.keep_button, self.revise_button, self.revise_area, self.widget):
                child.close()
            self.widget = None

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any] | None:
        if self.widget is None:
            return {"text/plain": f"Quiz for case {self.case.id}: call quiz.reveal('your read')"}
        return self.widget._repr_mimebundle_(**kwargs)


_open_quizzes: dict[str, Quiz] = {}


def quiz(case: Case | str | int, model: Any = None, *, prompt: str | None = None,
         max_new_tokens: int | None = None, show_everything: bool = False, shown_read: str | None = None) -> Quiz:
    """Show a box for the resident's read with Reveal and Skip; then Keep or Revise; re-running the cell starts afresh.

    show_everything=True is the teacher's switch: MedGemma's read and the answer key show at once, as in the
    headless walkthroughs, instead of waiting for a read. The read shown is MedGemma's, or the teacher's round read
    for this case (mh.use_round, or the MEDGEMMA_ROUND file), or shown_read from code: saved as planted and disclosed
    with the key. Re-run once the key has been seen for this case in this kernel, the quiz is practice: it says so,
    and saves nothing for the class review (a read written after the key would be scored as if written before it).
    """
    case = load_case(case)
    if shown_read is None:
        shown_read = round_read(case)  # a bad round file stops here, before anything is shown or saved
    previous = _open_quizzes.pop(case.id, None)
    if previous is not None:
        previous.close()
    use_widgets = in_notebook()
    made = Quiz(case, model, prompt=prompt, max_new_tokens=max_new_tokens, use_widgets=use_widgets,
                show_everything=show_everything, shown_read=shown_read)
    _open_quizzes[case.id] = made
    if made.widget is None:
        if made.practice:
            print(PRACTICE)
        print("Write your own read first, then call quiz.reveal('your findings and impression') to see the read "
              "shown to you; then quiz.keep() or quiz.revise('...') to see the answer key.")
    return made
