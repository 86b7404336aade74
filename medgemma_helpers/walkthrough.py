"""A case asked of MedGemma: the request the case makes (its image prepared as the model gets it, its question),
answered once per model and request, and kept hidden in a live notebook until the resident reveals (reveal.py).

Layer: teaching flow. May import: errors, render, images, asking, model, cases, reveal, case_view.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PIL import Image

from . import reveal
from .asking import (
    DEFAULT_MAX_NEW_TOKENS,
    THINKING_MAX_NEW_TOKENS,
    Findings,
    analyze,
    findings_html,
    show_findings,
    thinking_likely,
)
from .case_view import case_image
from .cases import Case, case_prompt, load_case
from .images import model_image
from .model import default_model
from .render import esc, show_html

# Answers already given in this session, per model object (a model that is dropped takes its answers with it).
_answers: weakref.WeakKeyDictionary[Any, dict[tuple, Findings]] = weakref.WeakKeyDictionary()


# One generation at a time: the read-first worker and a cell may both ask, and one model fits on the GPU once.
_generating = threading.Lock()


def forget_answers() -> None:
    """Drop every remembered answer and read-first session (mh.clear_model_cache calls this)."""
    _answers.clear()
    reveal.forget_sessions()


def _image_key(picture: Image.Image | None) -> str:
    if picture is None:
        return ""
    digest = hashlib.sha256(f"{picture.mode} {picture.size}".encode())  # same bytes, other shape: another image
    digest.update(picture.tobytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class CaseRequest:
    """What a case asks MedGemma: the image as the model gets it, the question, the system prompt, the room."""

    picture: Image.Image | None
    question: str
    system: str | None
    max_new_tokens: int
    image_modality: str | None  # the declared modality of a user's own image ("unknown" if not declared)

    def key(self, case: Case) -> tuple:
        """What makes two requests the same read (greedy decoding: same inputs, same answer)."""
        return (case.id, self.question, self.system, self.max_new_tokens, _image_key(self.picture))


def case_request(case: Case | str | int, *, image: Any = None, modality: str | None = None,
                 prompt: str | None = None, max_new_tokens: int | None = None) -> CaseRequest:
    """The request run_case makes: the case's (or the user's) image as the model gets it, and its question."""
    case = load_case(case)
    picture = case_image(case, image)
    if picture is not None:
        picture = model_image(picture, modality=case.modality)  # chest films padded to a square
    if max_new_tokens is None:
        likely = thinking_likely(case.system_prompt, 0 if picture is None else 1)
        max_new_tokens = THINKING_MAX_NEW_TOKENS if likely else DEFAULT_MAX_NEW_TOKENS
    own_modality = None if image is None else (modality or "unknown")
    return CaseRequest(picture, prompt if prompt is not None else case_prompt(case, own_image=image is not None),
                       case.system_prompt, max_new_tokens, own_modality)


def _answer(medgemma: Any, case: Case, request: CaseRequest, *, stream: bool,
            on_text: Callable[[str], None] | None) -> Findings:
    """The model's answer to a case request, generated once per model and request."""
    remembered = _answers.setdefault(medgemma, {})
    key = request.key(case)
    if key in remembered:
        findings = remembered[key]
        if on_text is not None:
            on_text(findings.text)
        elif stream:
            show_findings(findings)
        return findings
    with _generating:
        findings = analyze(request.picture, request.question, system=request.system, model=medgemma,
                           max_new_tokens=request.max_new_tokens, stream=stream, on_text=on_text)
    remembered[key] = findings
    return findings


def run_case(case: Case | str | int, model: Any = None, *, image: Any = None, modality: str | None = None,
             prompt: str | None = None, max_new_tokens: int | None = None, stream: bool = True,
             on_text: Callable[[str], None] | None = None, show_prompt: bool = True) -> Findings:
    """Ask MedGemma the case's question about its image (padded to square for chest films), streamed.

    In a live notebook the read stays hidden until the resident commits their own in the quiz (see
    reveal.py): it is generated in the background and shown here at the reveal. `modality` is what a user's
    own `image` is ("ultrasound", "mri"), so the answer key scores the signs read on it.

    Decoding is greedy, so the same model, image and prompt always give the same answer: a repeat within the
    session (the quiz's Reveal, then the Ask cell) is served from memory instead of generating again. Without
    max_new_tokens, a question likely to make MedGemma reason at length (no image) gets room for its thinking.
    """
    case = load_case(case)
    request = case_request(case, image=image, modality=modality, prompt=prompt, max_new_tokens=max_new_tokens)
    if show_prompt:
        show_html(f"<p><b>Prompt.</b> {esc(request.question)}</p>", f"Prompt: {request.question}\n")
    medgemma = model if model is not None else default_model()
    state = reveal.session(case.id)
    state.image_modality = request.image_modality
    if on_text is None and state.hides():
        return _hidden_read(case, medgemma, request, state)
    findings = _answer(medgemma, case, request, stream=stream, on_text=on_text)
    state.record(request.key(case), findings)
    return findings


def _hidden_read(case: Case, medgemma: Any, request: CaseRequest, state: reveal.CaseSession) -> Findings:
    """Generate in the background with progress shown, keep the answer hidden, and show it at the reveal."""
    from IPython.display import HTML

    future = state.ask(request.key(case), lambda progress: _answer(medgemma, case, request, stream=True,
                                                                   on_text=progress))
    handle = reveal.placeholder("MedGemma is reading. " + reveal.HIDDEN_READ)
    while True:
        try:
            findings = future.result(timeout=0.5)
            break
        except concurrent.futures.TimeoutError:
            handle.update(HTML(reveal.notice_html(f"MedGemma is reading: {state.progress[0]} characters so far. "
                                                  + reveal.HIDDEN_READ)))
    handle.update(HTML(reveal.notice_html("MedGemma's read is ready. " + reveal.HIDDEN_READ)))

    def show() -> None:
        current = state.future.result() if state.future is not None else findings
        handle.update(HTML(findings_html(current)))

    state.when_revealed(show)
    return findings
