"""Read first, decide, then the key: in a live notebook MedGemma's read and the answer key wait for the resident.

A resident anchored by the model's read learns less, and most people run a notebook with Run All. So in a
live kernel, per case, nothing shows MedGemma's read or the answer key until the resident has committed a
read in the quiz, seen the read shown there (unscored) and decided to keep or revise it, or clicked "Skip,
show me", whatever order the cells run in. A decision taken after the key measures nothing, so every
scored view waits for it. The cells that would show them display a notice instead and fill in at the reveal
(the decision). The model works in a background thread meanwhile (the quiz starts it), so the reveal is
instant.

Everything shows at once (as before) in a terminal, in the headless walkthrough run (which sets
MEDGEMMA_SHOW_ALL=1), and for a teacher preparing a lecture who passes `show_everything=True` to mh.quiz.

Each case has one session: the notebook's one model read (the request the Ask cell made last, or the
case's own question when the quiz reveals first), the resident's committed read, and the outputs waiting
for the reveal.

Layer: teaching flow, bottom. May import: render.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from .render import in_notebook

SHOW_ALL_ENV = "MEDGEMMA_SHOW_ALL"
HIDDEN_READ = ("It stays hidden until you commit your own read: write it in the <b>Your read</b> box above, click "
               "<b>Reveal</b>, then <b>Keep my read</b> or <b>Revise my read</b> (or click <b>Skip, show me</b>). "
               "It appears here then.")
HIDDEN_KEY = ("The answer key is hidden until you commit your own read in the <b>Your read</b> box above and "
              "decide whether to keep or revise it (or click <b>Skip, show me</b>). It appears here then.")

# One worker: reads are generated one at a time, in the order asked, never two on the GPU at once.
_worker: ThreadPoolExecutor | None = None
_worker_lock = threading.Lock()


def _executor() -> ThreadPoolExecutor:
    global _worker
    with _worker_lock:
        if _worker is None:
            _worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="medgemma-read")
        return _worker


@dataclass
class CaseSession:
    """One case's read-first state in this kernel."""

    case_id: str
    show_everything: bool = False
    committed: bool = False  # the first read is in and the read shown is on screen, unscored (stage 1)
    revealed: bool = False  # the resident has decided (or skipped): the key and the scores may show (stage 2)
    read: str | None = None  # the resident's committed read; None when skipped or not yet committed
    revised_read: str | None = None  # the read revised before the key, when the resident revised it
    # The key has been on screen for this case in this kernel. A re-run quiz cell does not undo that: a read or a
    # decision taken afterwards could follow the key, so it is never counted as taken before it.
    key_seen: bool = False
    image_modality: str | None = None  # the modality of the user's own image, when the read is of one
    key: tuple | None = None  # the request behind the notebook's one model read
    future: Future | None = None  # that read, generating or done
    progress: list[int] = field(default_factory=lambda: [0])  # characters written so far (progress display)
    waiting: list[Callable[[], None]] = field(default_factory=list)  # outputs to fill in at the reveal
    on_new_read: Callable[[], None] | None = None  # the quiz re-renders when the Ask cell asks anew

    def hides(self) -> bool:
        """True while this case's read and key must stay hidden."""
        return read_first_mode() and not self.show_everything and not self.revealed

    def ask(self, key: tuple, work: Callable[[Callable[[str], None]], Any]) -> Future:
        """The notebook's read for this request: the one already asked for, or a new background job."""
        if self.key == key and self.future is not None and not (self.future.done() and self.future.exception()):
            return self.future
        changed = self.key is not None and self.key != key
        self.key, self.progress = key, [0]
        progress = self.progress

        def count(text: str) -> None:
            progress[0] = len(text)

        self.future = _executor().submit(work, count)
        if changed and self.on_new_read is not None:
            self.on_new_read()
        return self.future

    def record(self, key: tuple, findings: Any) -> None:
        """Make an answer given in the cell (not in the background) the notebook's read."""
        if self.key == key and self.future is not None and self.future.done() and not self.future.exception():
            return
        changed = self.key is not None and self.key != key
        done: Future = Future()
        done.set_result(findings)
        self.key, self.future = key, done
        if changed and self.on_new_read is not None:
            self.on_new_read()

    def when_revealed(self, render: Callable[[], None]) -> None:
        """Fill an output in at the reveal (at once when already revealed)."""
        if self.revealed or not self.hides():
            render()
        else:
            self.waiting.append(render)

    def commit(self, read: str) -> None:
        """Commit the resident's first read (stage 1): the read shown may appear, nothing scored fills in yet."""
        self.read = read if read and read.strip() else None
        self.committed = True

    def reveal(self, read: str | None, revised_read: str | None = None) -> None:
        """The resident decided (or skipped, read None): fill in every output that waited for it.

        After a commit the first read stays the committed one, whatever is passed.
        """
        if not self.committed:
            self.read = read if read and read.strip() else None
        self.revised_read = revised_read
        self.committed = self.revealed = self.key_seen = True
        waiting, self.waiting = self.waiting, []
        for render in waiting:
            render()

    def restart(self) -> None:
        """A re-run quiz cell starts afresh: hidden again, no read committed (the model's read is kept).

        key_seen stays: the key once seen is not unseen.
        """
        self.committed, self.revealed, self.read, self.revised_read, self.waiting = False, False, None, None, []


_sessions: dict[str, CaseSession] = {}


def session(case_id: str) -> CaseSession:
    """The read-first session of a case in this kernel."""
    return _sessions.setdefault(case_id, CaseSession(case_id))


def forget_sessions() -> None:
    """Drop every case's session (mh.clear_model_cache calls this with the answers)."""
    _sessions.clear()


def show_all_requested() -> bool:
    """True when MEDGEMMA_SHOW_ALL asks to show everything at once (the headless run of the notebooks)."""
    return os.environ.get(SHOW_ALL_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def read_first_mode() -> bool:
    """True in a live notebook kernel, unless MEDGEMMA_SHOW_ALL asks to show everything (the headless run)."""
    return in_notebook() and not show_all_requested()


def notice_html(notice: str) -> str:
    """A notice in place of something hidden until the reveal (the notice is the project's own markup)."""
    return f"<div class='mh-hidden' style='color:#555;border-left:3px solid #999;padding:4px 10px'>{notice}</div>"


def placeholder(notice: str) -> Any:
    """Show a notice in the current cell that a later call can replace (a display handle)."""
    from IPython.display import HTML, display

    return display(HTML(notice_html(notice)), display_id=True)
