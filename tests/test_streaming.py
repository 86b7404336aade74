"""Streaming and interruption, observed while generation runs: text reaches the caller, the terminal and the
notebook view between generation steps, and an interrupt stops generation within a few tokens.

The tiny stand-in answers in spaced words, so TextIteratorStreamer hands text over word by word as it would
for MedGemma. A forward hook on the real model counts generation steps (and slows each step a little, as a
real GPU is slow, so the reading thread is sure to get a turn): every observation is paired with the number of
steps generated when it was made.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from typing import Any

import pytest

import medgemma_helpers as mh
from medgemma_helpers import asking
from medgemma_helpers.local import MedGemma

PROMPT = "Describe this chest X-ray."
STEP_SECONDS = 0.01


class StepSpy:
    """Counts forward passes of the real model (one per generated token), optionally interrupting at a step."""

    def __init__(self, medgemma: MedGemma, interrupt_at: int | None = None) -> None:
        self.steps = 0
        self.interrupt_at = interrupt_at
        self.interrupted_at: int | None = None
        self._handle = medgemma.model.register_forward_hook(self._step)

    def _step(self, module: Any, args: Any, output: Any) -> None:
        self.steps += 1
        if self.interrupt_at is not None and self.steps == self.interrupt_at:
            self.interrupted_at = self.steps
            # What the stop button of Jupyter does: SIGINT to the kernel, handled in its main thread.
            signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
        time.sleep(STEP_SECONDS)

    def remove(self) -> None:
        self._handle.remove()


@pytest.fixture
def spy(tiny_model):
    watcher = StepSpy(tiny_model)
    yield watcher
    watcher.remove()


def _assert_seen_mid_stream(seen_at: list[int], total: int, what: str) -> None:
    # The first text came while most of the answer was still to be generated, and later text in several steps.
    assert seen_at, f"nothing reached the {what}"
    assert seen_at[0] < total // 2, f"the {what} got its first text after step {seen_at[0]} of {total}"
    assert len({step for step in seen_at if step < total}) >= 3, f"the {what} got text at steps {seen_at}"


def test_the_callback_gets_growing_text_while_generation_runs(tiny_model, two_xrays, spy):
    seen: list[tuple[int, str]] = []
    findings = mh.analyze(two_xrays[0], PROMPT, model=tiny_model, max_new_tokens=48,
                          on_text=lambda text: seen.append((spy.steps, text)))
    assert findings.new_tokens == 48 and spy.steps == 48
    _assert_seen_mid_stream([step for step, _ in seen], 48, "callback")
    texts = [text for _, text in seen]
    assert all(later.startswith(earlier) for earlier, later in zip(texts, texts[1:]))
    assert texts[-1] == findings.text and " " in findings.text


def test_the_terminal_prints_words_while_generation_runs(tiny_model, two_xrays, spy, monkeypatch):
    writes: list[tuple[int, str]] = []

    class Terminal:
        def write(self, text: str) -> int:
            writes.append((spy.steps, text))
            return len(text)

        def flush(self) -> None:
            pass

    monkeypatch.setattr(sys, "stdout", Terminal())
    findings = mh.analyze(two_xrays[1], PROMPT, model=tiny_model, max_new_tokens=48)
    monkeypatch.undo()
    answer_writes = [(step, text) for step, text in writes if text.strip()]
    _assert_seen_mid_stream([step for step, _ in answer_writes], 48, "terminal")
    assert "".join(text for _, text in answer_writes).strip() == findings.text  # each piece printed once


def test_the_notebook_view_updates_while_generation_runs(tiny_model, two_xrays, spy, monkeypatch):
    import IPython.display

    updates: list[tuple[int, str]] = []

    class Handle:
        def update(self, shown: Any) -> None:
            updates.append((spy.steps, shown.data))

    def display(shown: Any, display_id: bool = False) -> Handle:
        updates.append((spy.steps, shown.data))
        return Handle()

    monkeypatch.setattr(asking, "in_notebook", lambda: True)  # as in a Jupyter kernel
    monkeypatch.setattr(IPython.display, "display", display)
    findings = mh.analyze(two_xrays[0], PROMPT, model=tiny_model, max_new_tokens=48)
    first_word = findings.text.split()[0]
    growing = [step for step, markup in updates if first_word in markup and "<i>…</i>" in markup]
    _assert_seen_mid_stream(growing, 48, "notebook view")
    assert "MedGemma is reading" in updates[0][1]
    assert "not a diagnostic tool" in updates[-1][1] and updates[-1][0] == 48  # the full rendering replaces it


def test_an_interrupt_after_ten_tokens_stops_generation_within_a_few(tiny_model, two_xrays, capsys):
    before = threading.active_count()
    spy = StepSpy(tiny_model, interrupt_at=10)
    try:
        with pytest.raises(KeyboardInterrupt):
            mh.analyze(two_xrays[0], PROMPT, model=tiny_model, max_new_tokens=2000)
        time.sleep(5 * STEP_SECONDS)  # a generation left running would go on counting steps meanwhile
    finally:
        spy.remove()
    assert spy.interrupted_at == 10
    assert spy.steps <= 13, f"generation went on for {spy.steps - 10} steps after the interrupt"
    assert threading.active_count() == before  # no generate call left holding the model


def test_a_failing_view_stops_generation_within_a_few_tokens(tiny_model, two_xrays, spy):
    at_failure: list[int] = []

    def failing_view(text: str) -> None:
        if spy.steps >= 10 and text:
            at_failure.append(spy.steps)
            raise RuntimeError("the display went away")

    with pytest.raises(RuntimeError, match="display went away"):
        mh.analyze(two_xrays[1], PROMPT, model=tiny_model, max_new_tokens=2000, on_text=failing_view)
    time.sleep(5 * STEP_SECONDS)
    assert at_failure and at_failure[0] < 30  # the text arrived early: the failure really was mid-stream
    assert spy.steps <= at_failure[0] + 3


def test_the_notebook_view_says_when_medgemma_is_still_thinking(monkeypatch):
    import IPython.display

    shown: list[str] = []

    class Handle:
        def update(self, markup: Any) -> None:
            shown.append(markup.data)

    monkeypatch.setattr(asking, "in_notebook", lambda: True)
    monkeypatch.setattr(IPython.display, "display", lambda markup, display_id=False: Handle())
    view = asking._LiveView()
    thinking = f"{asking.THOUGHT_START}Weighing the costophrenic angles"
    answered = thinking + f"{asking.THOUGHT_END}Small <b>effusion</b>"
    view.update(thinking)
    view.update(answered)
    view.update(answered, final=True)
    assert shown[0] == "<div style='overflow-wrap:anywhere'><i>(thinking…)</i> </div>"
    assert "(thinking…)" not in shown[1] and shown[1].endswith("<i>…</i></div>")
    assert "&lt;b&gt;effusion&lt;/b&gt;" in shown[1] and "Weighing" not in shown[1]
    assert shown[2] == shown[1].replace("<i>…</i>", "")  # the finished answer carries no "still writing" mark
