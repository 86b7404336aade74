"""Asking MedGemma: typed chat messages, greedy generation, streaming, and the thinking trace split off."""

from __future__ import annotations

import contextlib
import os
import re
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

import torch
from PIL import Image

from .errors import InputError, MedGemmaError
from .images import load_image
from .model import OUT_OF_MEMORY_ADVICE, MedGemma, default_model
from .render import in_notebook, markdown_to_safe_html

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
THOUGHT_START = "<unused94>"
THOUGHT_END = "<unused95>"
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
        from .render import findings_html

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
    room = max(2 * findings.max_new_tokens, THINKING_MAX_NEW_TOKENS) if findings.max_new_tokens else THINKING_MAX_NEW_TOKENS
    room = min(room, MAX_NEW_TOKENS_LIMIT)
    return (f"MedGemma was still thinking when it reached {limit}, so it wrote no answer (its reasoning so far is "
            f"in the thinking trace). Give it more room: ask again with max_new_tokens={room}, for example "
            f"mh.run_case(case, model, max_new_tokens={room}), or set MEDGEMMA_MAX_NEW_TOKENS before starting Jupyter.")


def _as_image_list(images: Any) -> list[Image.Image]:
    if images is None:
        return []
    if isinstance(images, (list, tuple)):
        items = list(images)
    else:
        items = [images]
    return [item if isinstance(item, Image.Image) and item.mode == "RGB" else load_image(item) for item in items]


def build_messages(images: list[Image.Image], prompt: str, system: str | None = None,
                   image_labels: list[str] | None = None, intro: str | None = None) -> list[dict[str, Any]]:
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
    messages: list[dict[str, Any]] = []
    if system:
        messages.append({"role": "system", "content": [{"type": "text", "text": system}]})
    messages.append({"role": "user", "content": content})
    return messages


def prepare_inputs(medgemma: MedGemma, messages: list[dict[str, Any]]) -> Any:
    """Tokenise through the chat template in one step (rendering to text first would double <bos>)."""
    inputs = medgemma.processor.apply_chat_template(
        messages, add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors="pt")
    inputs = inputs.to(medgemma.model.device)
    if "pixel_values" in inputs:
        inputs["pixel_values"] = inputs["pixel_values"].to(medgemma.model.dtype)
    return inputs


def _check_request(prompt: Any, max_new_tokens: Any) -> None:
    if not isinstance(prompt, str) or not prompt.strip():
        raise InputError("The prompt is empty or not text; write the question for MedGemma as a string.")
    if len(prompt) > MAX_PROMPT_CHARACTERS:
        raise InputError(f"The prompt has {len(prompt):,} characters, over the {MAX_PROMPT_CHARACTERS:,} limit; "
                            "shorten it to the question and the relevant history.")
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or \
            not 1 <= max_new_tokens <= MAX_NEW_TOKENS_LIMIT:
        raise InputError(f"max_new_tokens={max_new_tokens!r} must be a whole number from 1 to "
                            f"{MAX_NEW_TOKENS_LIMIT}; about 300 to 1000 suits a chest X-ray report.")


class _LiveView:
    """Shows the answer as it grows: an updating display in a notebook, plain printing in a terminal."""

    def __init__(self) -> None:
        self.notebook = in_notebook()
        self.printed = 0
        self.handle = None
        if self.notebook:
            from IPython.display import HTML, display

            self.handle = display(HTML("<i>MedGemma is reading…</i>"), display_id=True)

    def update(self, raw: str, final: bool = False) -> None:
        answer, thinking = split_thinking(raw)
        if self.notebook:
            from IPython.display import HTML

            status = "" if final else ("<i>(thinking…)</i> " if thinking and not answer else "<i>…</i>")
            self.handle.update(HTML(f"<div style='overflow-wrap:anywhere'>{markdown_to_safe_html(answer)}{status}</div>"))
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

            from .render import findings_html

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


def _generate(medgemma: MedGemma, inputs: Any, max_new_tokens: int, streamer: Any = None,
              stopping_criteria: Any = None) -> torch.Tensor:
    with torch.inference_mode():
        return medgemma.model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False,
                                       streamer=streamer, stopping_criteria=stopping_criteria)


def _stream(medgemma: MedGemma, inputs: Any, max_new_tokens: int) -> Iterator[tuple[str, torch.Tensor | None]]:
    """Yield the growing raw text while a background thread generates; finally yield the output ids.

    Closing the generator early (an interrupted cell, a failing display) stops the generation thread too,
    so a re-run never finds an old generate call still holding the GPU.
    """
    from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

    stop = threading.Event()

    class StopWhenAsked(StoppingCriteria):
        def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs: Any) -> torch.Tensor:
            return torch.full((input_ids.shape[0],), stop.is_set(), dtype=torch.bool, device=input_ids.device)

    streamer = TextIteratorStreamer(medgemma.processor.tokenizer, skip_prompt=True, skip_special_tokens=True)
    result: dict[str, Any] = {}

    def work() -> None:
        try:
            result["ids"] = _generate(medgemma, inputs, max_new_tokens, streamer,
                                      StoppingCriteriaList([StopWhenAsked()]))
        except BaseException as error:  # re-raised in the caller's thread below
            result["error"] = error
            streamer.end()

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    try:
        raw = ""
        for chunk in streamer:
            raw += chunk
            yield raw, None
    finally:
        stop.set()
        thread.join()
    if "error" in result:
        raise result["error"]
    yield raw, result["ids"]


def decode_answer(medgemma: MedGemma, new_ids: Iterable[int]) -> str:
    """Decode generated ids as the model card does (special tokens dropped; <unused94/95> are kept)."""
    return medgemma.processor.tokenizer.decode(list(new_ids), skip_special_tokens=True)


def analyze(images: Any, prompt: str, *, system: str | None = None, model: Any = None,
            max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS, stream: bool = True,
            image_labels: list[str] | None = None, on_text: Callable[[str], None] | None = None,
            intro: str | None = None) -> Findings:
    """Ask MedGemma about zero, one or several images; greedy, streamed into the notebook by default.

    image_labels puts a text part after each image ("SLICE 1", ...); intro puts a text part before the images
    (as Google's CT notebook does). on_text, when given, receives the growing answer (thinking removed)
    instead of the notebook or terminal view.
    """
    _check_request(prompt, max_new_tokens)
    medgemma = model if model is not None else default_model()
    if hasattr(medgemma, "analyze"):  # a served model (mh.connect) answers the same call remotely
        return medgemma.analyze(images, prompt, system=system, max_new_tokens=max_new_tokens,
                                stream=stream, image_labels=image_labels, on_text=on_text, intro=intro)
    if not isinstance(medgemma, MedGemma):
        raise MedGemmaError(f"model= must come from mh.load_model() or mh.connect(); got {type(medgemma).__name__}.")
    image_list = _as_image_list(images)
    messages = build_messages(image_list, prompt, system, image_labels, intro)
    inputs = prepare_inputs(medgemma, messages)
    prompt_tokens = int(inputs["input_ids"].shape[-1])
    started = time.perf_counter()
    try:
        if stream:
            view = _CallbackView(on_text) if on_text is not None else _LiveView()
            raw, output = "", None
            with contextlib.closing(_stream(medgemma, inputs, max_new_tokens)) as chunks:
                for raw, output in chunks:
                    view.update(raw)
            view.update(raw, final=True)
        else:
            output = _generate(medgemma, inputs, max_new_tokens)
    except torch.cuda.OutOfMemoryError:
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        raise MedGemmaError("The GPU ran out of memory while generating. " + OUT_OF_MEMORY_ADVICE) from None
    seconds = time.perf_counter() - started
    new_ids = output[0][prompt_tokens:]
    answer, thinking = split_thinking(decode_answer(medgemma, new_ids))
    findings = Findings(text=answer, thinking=thinking, prompt=prompt, model_name=medgemma.name,
                        prompt_tokens=prompt_tokens, new_tokens=int(new_ids.shape[-1]), seconds=seconds,
                        image_count=len(image_list), max_new_tokens=max_new_tokens)
    if stream:
        view.finish(findings)
    return findings
