"""Asking MedGemma: images and a question become typed messages, the answer streams into the notebook or
terminal, and the thinking trace is split off; the same for a loaded model, a served one or a pack.

Layer: asking. May import: errors, render, images, access, model.
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from typing import Any

from PIL import Image

from .access import THOUGHT_END, THOUGHT_START, Backend, Completion, Messages
from .errors import InputError, MedGemmaError
from .images import load_image
from .model import default_model
from .render import DISCLAIMER, esc, in_notebook, markdown_to_safe_html, show_html


def _default_max_new_tokens() -> int:
    """1024, or MEDGEMMA_MAX_NEW_TOKENS when it holds a whole number (shorter answers for a class, or tests)."""
    value = os.environ.get("MEDGEMMA_MAX_NEW_TOKENS", "").strip()
    return int(value) if value.isdigit() and 0 < int(value) <= 8192 else 1024


DEFAULT_MAX_NEW_TOKENS = _default_max_new_tokens()
MAX_NEW_TOKENS_LIMIT = 8192
# MedGemma 1.5 often reasons before it answers, and a trace can run past 1,024 tokens (a public experiment
# saw 21 of 22 unfinished there): a request likely to think gets this much room unless MEDGEMMA_MAX_NEW_TOKENS
# asks for less.
THINKING_MAX_NEW_TOKENS = DEFAULT_MAX_NEW_TOKENS if os.environ.get("MEDGEMMA_MAX_NEW_TOKENS", "").strip() else 3072
# Far beyond any case question; MedGemma's context (128k tokens) is shared with the images' 256 tokens each.
MAX_PROMPT_CHARACTERS = 50_000
DEFAULT_BATCH_SIZE = 8
# What notebook 00 asks of case 01's film (the model card's own example film), both in plain transformers and
# through mh.analyze: the MedGemma 1.5 model card's message, no system turn, up to 2,000 new tokens (a class pack
# records the same request, so the notebook runs from a pack too).
QUICK_START_QUESTION = "Describe this X-ray"
QUICK_START_MAX_NEW_TOKENS = 2000
# What a reader sees in place of an answer when generation stopped inside the thinking trace.
NO_ANSWER_YET = "No answer yet: give it more room"
# MedGemma 1.5 may open its trace with "<unused94>thought\n"; the word is a label, not part of the reasoning.
_THOUGHT_LABEL = re.compile(r"^\s*thought\s*\n?")
_CLOSED_TRACE = re.compile(re.escape(THOUGHT_START) + r"(.*?)" + re.escape(THOUGHT_END), re.DOTALL)


@dataclass
class Findings:
    """The model's answer (thinking removed), its thinking trace, and what it cost."""

    text: str
    thinking: str
    prompt: str
    model_name: str
    prompt_tokens: int
    new_tokens: int
    seconds: float
    image_count: int = 0
    max_new_tokens: int = 0  # the room it was given (0: not recorded)
    planted: bool = False  # a teacher's read shown in place of MedGemma's (revisions.planted_read): never MedGemma's

    @property
    def still_thinking(self) -> bool:
        """True when generation stopped inside the thinking trace, so no answer was written."""
        return not self.text.strip() and bool(self.thinking.strip())

    @property
    def tokens_per_second(self) -> float:
        """New tokens per second of generation."""
        return self.new_tokens / self.seconds if self.seconds > 0 else 0.0

    def __str__(self) -> str:
        return self.text

    def _repr_html_(self) -> str:
        return findings_html(self)


def split_thinking(raw: str) -> tuple[str, str]:
    """Split '<unused94>thought ... <unused95>answer' into (answer, thinking); an open trace is all thinking.

    The one place the trace is removed: rendering, concordance and box parsing all read the answer from here.
    """
    thoughts: list[str] = []

    def set_aside(match: re.Match[str]) -> str:
        thoughts.append(match.group(1))
        return " "  # keeps the words on either side of a trace apart

    answer = _CLOSED_TRACE.sub(set_aside, raw)
    if THOUGHT_END in answer:  # the opener was lost (decoded elsewhere): the answer follows the last closer
        before, _, answer = answer.rpartition(THOUGHT_END)
        thoughts.append(before)
    if THOUGHT_START in answer:  # generation stopped inside a trace: everything after it is thinking
        answer, _, rest = answer.partition(THOUGHT_START)
        thoughts.append(rest)
    thinking = "\n\n".join(_THOUGHT_LABEL.sub("", t, count=1).strip() for t in thoughts if t.strip())
    return answer.strip(), thinking


def thinking_likely(system: str | None, image_count: int) -> bool:
    """True for a request MedGemma is likely to reason about at length: asked to think, or a question with no image."""
    return image_count == 0 or bool(system and re.search(r"\bthink", system, re.IGNORECASE))


def still_thinking_advice(findings: Findings) -> str:
    """What to tell a reader whose answer is empty because the model was still thinking."""
    limit = f"its limit of {findings.max_new_tokens} new tokens" if findings.max_new_tokens else "its token limit"
    room = max(2 * findings.max_new_tokens, THINKING_MAX_NEW_TOKENS)
    room = min(room, MAX_NEW_TOKENS_LIMIT)
    return (f"MedGemma was still thinking when it reached {limit}, so it wrote no answer (its reasoning so far is "
            f"in the thinking trace). Give it more room: ask again with max_new_tokens={room}, for example "
            f"mh.run_case(case, model, max_new_tokens={room}), or set MEDGEMMA_MAX_NEW_TOKENS before starting Jupyter.")


# ---------------------------------------------------------------- showing an answer


def findings_html(findings: Findings, title: str | None = None) -> str:
    """The answer as safe HTML, with the thinking trace folded away and the run's figures."""
    if title is None:  # a teacher's planted read is never titled as MedGemma's
        title = findings.model_name if findings.planted else "MedGemma's findings"
    # overflow-wrap: a long unbroken run (a URL, a garbled answer) wraps instead of widening the page.
    parts = [f"<div class='medgemma-findings' style='overflow-wrap:anywhere'><h4>{esc(title)}</h4>"]
    if findings.still_thinking:
        parts.append(f"<p class='mh-still-thinking' style='background:#fff3cd;color:#7a5b00;padding:6px 10px'>"
                     f"<b>No answer yet.</b> {esc(still_thinking_advice(findings))}</p>")
    else:
        parts.append(markdown_to_safe_html(findings.text) or "<p><i>(empty answer)</i></p>")
    if findings.thinking:
        parts.append(f"<details><summary>Model's thinking trace</summary><pre>{esc(findings.thinking)}</pre></details>")
    parts.append(f"<p style='color:#666;font-size:90%'>{esc(findings.model_name)} · {findings.prompt_tokens} prompt "
                 f"tokens · {findings.new_tokens} new tokens · {findings.seconds:.1f} s "
                 f"({findings.tokens_per_second:.1f} tokens/s)</p>")
    parts.append(f"<p style='color:#a33;font-size:90%'>{esc(DISCLAIMER)}</p></div>")
    return "".join(parts)


def show_findings(findings: Findings) -> None:
    """Show the model's answer inline, escaped, with its thinking trace folded away."""
    plain = findings.text + (f"\n\n[thinking trace: {len(findings.thinking)} characters]" if findings.thinking else "")
    if findings.still_thinking:
        plain = still_thinking_advice(findings) + "\n" + plain
    show_html(findings_html(findings), plain + "\n\n" + DISCLAIMER)


class _LiveView:
    """Shows the answer as it grows: an updating display in a notebook, plain printing in a terminal."""

    def __init__(self) -> None:
        self.notebook = in_notebook()
        self.printed = 0
        self.handle: Any = None
        if self.notebook:
            from IPython.display import HTML, display

            self.handle = display(HTML("<i>MedGemma is reading…</i>"), display_id=True)

    def update(self, raw: str, final: bool = False) -> None:
        answer, thinking = split_thinking(raw)
        if self.notebook:
            from IPython.display import HTML

            status = "" if final else ("<i>(thinking…)</i> " if thinking and not answer else "<i>…</i>")
            markup = markdown_to_safe_html(answer)
            self.handle.update(HTML(f"<div style='overflow-wrap:anywhere'>{markup}{status}</div>"))
            return
        # A terminal cannot take text back: print only answer text once it is past any thinking trace.
        inside_trace = THOUGHT_START in raw and THOUGHT_END not in raw
        if not inside_trace and len(answer) > self.printed:
            sys.stdout.write(answer[self.printed:])
            sys.stdout.flush()
            self.printed = len(answer)
        if final:
            sys.stdout.write("\n")
            sys.stdout.flush()

    def finish(self, findings: Findings) -> None:
        """In a notebook, replace the live text with the full rendering: figures, thinking trace, disclaimer."""
        if self.notebook:
            from IPython.display import HTML

            self.handle.update(HTML(findings_html(findings)))
        elif findings.still_thinking:
            print(still_thinking_advice(findings), flush=True)


class _CallbackView:
    """Hands the growing answer (thinking removed) to a callback, e.g. a widget."""

    def __init__(self, callback: Callable[[str], None]) -> None:
        self.callback = callback

    def update(self, raw: str, final: bool = False) -> None:
        self.callback(split_thinking(raw)[0])

    def finish(self, findings: Findings) -> None:
        """The callback already has the final text."""


# ---------------------------------------------------------------- asking


def image_list(images: Any) -> list[Image.Image]:
    """One image, a list of them, or None, as a list of 8-bit RGB images."""
    if images is None:
        return []
    items = list(images) if isinstance(images, (list, tuple)) else [images]
    return [item if isinstance(item, Image.Image) and item.mode == "RGB" else load_image(item) for item in items]


def build_messages(images: list[Image.Image], prompt: str, system: str | None = None,
                   image_labels: list[str] | None = None, intro: str | None = None) -> Messages:
    """Chat messages in typed parts: intro text, one image part per image (each followed by its label), the prompt."""
    if image_labels is not None and len(image_labels) != len(images):
        raise InputError(f"image_labels has {len(image_labels)} entries for {len(images)} images; give one "
                         "label per image or none.")
    content: list[dict[str, Any]] = [{"type": "text", "text": intro}] if intro else []
    for index, image in enumerate(images):
        content.append({"type": "image", "image": image})
        if image_labels is not None:
            content.append({"type": "text", "text": image_labels[index]})
    content.append({"type": "text", "text": prompt})
    messages: Messages = []
    if system:
        messages.append({"role": "system", "content": [{"type": "text", "text": system}]})
    messages.append({"role": "user", "content": content})
    return messages


def check_request(prompt: Any, max_new_tokens: Any) -> None:
    """Refuse an empty or overlong prompt and a max_new_tokens out of range, saying what to do."""
    if not isinstance(prompt, str) or not prompt.strip():
        raise InputError("The prompt is empty or not text; write the question for MedGemma as a string.")
    if len(prompt) > MAX_PROMPT_CHARACTERS:
        raise InputError(f"The prompt has {len(prompt):,} characters, over the {MAX_PROMPT_CHARACTERS:,} limit; "
                         "shorten it to the question and the relevant history.")
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or \
            not 1 <= max_new_tokens <= MAX_NEW_TOKENS_LIMIT:
        raise InputError(f"max_new_tokens={max_new_tokens!r} must be a whole number from 1 to "
                         f"{MAX_NEW_TOKENS_LIMIT}; about 300 to 1000 suits a chest X-ray report.")


def backend(model: Any) -> Backend:
    """The model given, or the default one; refused with advice when it cannot answer."""
    chosen = model if model is not None else default_model()
    if not isinstance(chosen, Backend):
        raise MedGemmaError(f"model= must come from mh.load_model(), mh.connect() or mh.use_pack(); got "
                            f"{type(chosen).__name__}.")
    return chosen


def _findings(completion: Completion, prompt: str, model: Backend, images: int, max_new_tokens: int,
              seconds: float) -> Findings:
    answer, thinking = split_thinking(completion.raw)
    return Findings(text=answer, thinking=thinking, prompt=prompt, model_name=model.name,
                    prompt_tokens=completion.prompt_tokens, new_tokens=completion.new_tokens,
                    seconds=completion.seconds if completion.seconds is not None else seconds,
                    image_count=images, max_new_tokens=max_new_tokens)


def analyze(images: Any, prompt: str, *, system: str | None = None, model: Any = None,
            max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS, stream: bool = True,
            image_labels: list[str] | None = None, on_text: Callable[[str], None] | None = None,
            intro: str | None = None) -> Findings:
    """Ask MedGemma about zero, one or several images; greedy, streamed into the notebook by default.

    image_labels puts a text part after each image ("SLICE 1", ...); intro puts a text part before the images
    (as Google's CT notebook does). on_text, when given, receives the growing answer (thinking removed)
    instead of the notebook or terminal view.
    """
    check_request(prompt, max_new_tokens)
    medgemma = backend(model)
    pictures = image_list(images)
    messages = build_messages(pictures, prompt, system, image_labels, intro)
    view = (_CallbackView(on_text) if on_text is not None else _LiveView()) if stream else None
    started = time.perf_counter()
    completion = medgemma.complete(messages, max_new_tokens=max_new_tokens,
                                   on_text=view.update if view is not None else None)
    findings = _findings(completion, prompt, medgemma, len(pictures), max_new_tokens, time.perf_counter() - started)
    if view is not None:
        view.update(completion.raw, final=True)
        view.finish(findings)
    return findings


@dataclass
class Request:
    """One question for analyze_many: images (one, a list, or None), the prompt, and optional system text."""

    images: Any = None
    prompt: str = ""
    system: str | None = None
    image_labels: list[str] | None = None
    intro: str | None = None


_REQUEST_FIELDS = {field.name for field in fields(Request)}


def as_request(item: Any, index: int = 0) -> Request:
    """A Request from a Request or a dict with the same keys."""
    if isinstance(item, Request):
        return item
    if isinstance(item, dict):
        unknown = set(item) - _REQUEST_FIELDS
        if unknown:
            raise MedGemmaError(f"Request {index} has unknown keys {sorted(unknown)}; use {sorted(_REQUEST_FIELDS)}.")
        return Request(**item)
    raise MedGemmaError(f"Request {index} is a {type(item).__name__}; give mh.Request(images, prompt, system) or a "
                        "dict with 'images', 'prompt' and optionally 'system'.")


def analyze_many(requests: Iterable[Any], *, model: Any = None, max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
                 batch_size: int = DEFAULT_BATCH_SIZE) -> list[Findings]:
    """Answer several image+prompt requests, batch_size at a time, in the order given (greedy, not streamed).

    A loaded model runs each batch in one generate call; each Findings.seconds is its share of the batch's time
    (in proportion to the tokens it generated). A server (mh.connect) gets batch_size requests at once.
    """
    items = [as_request(request, index) for index, request in enumerate(requests)]
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise MedGemmaError(f"batch_size={batch_size!r} must be a whole number of at least 1.")
    for item in items:
        check_request(item.prompt, max_new_tokens)
    if not items:
        return []
    medgemma = backend(model)
    pictures = [image_list(item.images) for item in items]
    conversations = [build_messages(images, item.prompt, item.system, item.image_labels, item.intro)
                     for images, item in zip(pictures, items)]
    started = time.perf_counter()
    completions = medgemma.complete_many(conversations, max_new_tokens=max_new_tokens, batch_size=batch_size)
    elapsed = (time.perf_counter() - started) / len(items)
    return [_findings(completion, item.prompt, medgemma, len(images), max_new_tokens, elapsed)
            for completion, item, images in zip(completions, items, pictures)]
