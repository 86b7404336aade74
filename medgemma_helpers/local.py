"""A MedGemma loaded in this kernel: typed messages in, greedy generation, raw text out (streamed or batched).

Greedy decoding is asked for explicitly (`do_sample=False`): MedGemma's own generation config samples, and a
teaching answer must be the same every time. Messages go through the processor's chat template in one step
(rendering to text first would double <bos>).

Batches: greedy decoding with a correct attention mask gives each request the answer it gets alone: the
padding is masked out, Gemma 3 derives positions from the mask, and its image attention comes from
token_type_ids, which are padded along with the ids. In float32 the answers are identical; in bfloat16 a
padded row's logits can differ from the unpadded row's by rounding (one bf16 step: the padded reductions are
longer), so at a near-tie greedy decoding may now and then pick a different token than the one-at-a-time run.

Layer: model access. May import: errors, access.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .access import Completion, Messages
from .errors import MedGemmaError

OUT_OF_MEMORY_ADVICE = (
    "Options: lower max_new_tokens; send fewer images (or fewer CT slices: ct_windows(volume, max_slices=40)); "
    "restart the runtime to free memory held by other models; on CUDA, load in 4-bit with "
    "mh.load_model(quantize='4bit') (needs bitsandbytes); or use a GPU with more memory (L4, A100)."
)


@dataclass(eq=False)
class MedGemma:
    """A loaded model and its processor, with where and how it was loaded."""

    model: Any = field(repr=False)
    processor: Any = field(repr=False)
    model_id: str
    device: str
    dtype: torch.dtype
    load_seconds: float

    @property
    def name(self) -> str:
        """The model id, or the folder name for a local copy."""
        return Path(self.model_id).name if Path(self.model_id).expanduser().is_dir() else self.model_id

    def complete(self, messages: Messages, *, max_new_tokens: int,
                 on_text: Callable[[str], None] | None = None) -> Completion:
        """Generate greedily for one conversation; on_text gets the growing raw text while it is written."""
        inputs = prepare_inputs(self, messages)
        prompt_tokens = int(inputs["input_ids"].shape[-1])
        try:
            if on_text is None:
                output = generate(self, inputs, max_new_tokens)
            else:
                output = None
                stream = stream_generation(self, inputs, max_new_tokens)
                try:
                    for raw, ids in stream:
                        if ids is None:
                            on_text(raw)
                        output = ids
                finally:
                    stream.close()  # an interrupt or a failing view stops the generation thread too
        except torch.cuda.OutOfMemoryError:
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            raise MedGemmaError("The GPU ran out of memory while generating. " + OUT_OF_MEMORY_ADVICE) from None
        assert output is not None
        new_ids = output[0][prompt_tokens:]
        return Completion(decode_answer(self, new_ids), prompt_tokens, int(new_ids.shape[-1]))

    def complete_many(self, conversations: list[Messages], *, max_new_tokens: int,
                      batch_size: int) -> list[Completion]:
        """Answer the conversations batch_size at a time, each batch in one generate call, in the order given."""
        completions: list[Completion] = []
        for start in range(0, len(conversations), batch_size):
            completions += _run_splitting(self, conversations[start:start + batch_size], max_new_tokens)
        return completions


def prepare_inputs(medgemma: MedGemma, messages: Messages) -> Any:
    """Tokenise through the chat template in one step (rendering to text first would double <bos>)."""
    inputs = medgemma.processor.apply_chat_template(
        messages, add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors="pt")
    inputs = inputs.to(medgemma.model.device)
    if "pixel_values" in inputs:
        inputs["pixel_values"] = inputs["pixel_values"].to(medgemma.model.dtype)
    return inputs


def generate(medgemma: MedGemma, inputs: Any, max_new_tokens: int, streamer: Any = None,
             stopping_criteria: Any = None) -> torch.Tensor:
    """model.generate, greedy, without gradients."""
    with torch.inference_mode():
        return medgemma.model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False,
                                       streamer=streamer, stopping_criteria=stopping_criteria)


def stream_generation(medgemma: MedGemma, inputs: Any, max_new_tokens: int
                      ) -> Generator[tuple[str, torch.Tensor | None], None, None]:
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
            result["ids"] = generate(medgemma, inputs, max_new_tokens, streamer,
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


def _padded_inputs(medgemma: MedGemma, conversations: list[Messages]) -> dict[str, torch.Tensor]:
    """Each conversation tokenised exactly as a single request is, then padded on the left into one batch.

    Collating here rather than in one batched processor call keeps every row's tokens identical to the single
    request's, pads on the left whatever the tokenizer's padding_side, and lets text-only and image requests
    share a batch (the Gemma 3 processor of transformers 4.x refuses that mix).
    """
    rows = [prepare_inputs(medgemma, conversation) for conversation in conversations]
    width = max(int(row["input_ids"].shape[-1]) for row in rows)
    pad_id = medgemma.processor.tokenizer.pad_token_id
    pad_id = 0 if pad_id is None else pad_id
    batch: dict[str, torch.Tensor] = {}
    for key in rows[0].keys() | {key for row in rows for key in row.keys()}:
        present = [row[key] for row in rows if key in row]
        if key in ("input_ids", "attention_mask", "token_type_ids"):
            # Per-token tensors, (1, length): pad on the left (ids with <pad>, masks and image flags with 0).
            fill = pad_id if key == "input_ids" else 0
            batch[key] = torch.cat([torch.nn.functional.pad(row[key], (width - row[key].shape[-1], 0), value=fill)
                                    for row in rows])
        else:
            # Per-image tensors (pixel_values): the model takes them in order of the image tokens, row by row.
            batch[key] = torch.cat(present)
    return batch


def _stop_ids(medgemma: MedGemma) -> set[int]:
    eos = medgemma.model.generation_config.eos_token_id
    if eos is None:
        eos = medgemma.processor.tokenizer.eos_token_id
    return set(eos if isinstance(eos, (list, tuple)) else [eos])


def _run_batch(medgemma: MedGemma, conversations: list[Messages], max_new_tokens: int) -> list[Completion]:
    inputs = _padded_inputs(medgemma, conversations)
    width = int(inputs["input_ids"].shape[-1])
    started = time.perf_counter()
    output = generate(medgemma, inputs, max_new_tokens)
    seconds = time.perf_counter() - started
    stops = _stop_ids(medgemma)
    answers = []
    for row in range(len(conversations)):
        new_ids = output[row, width:].tolist()
        # A row that finished early is filled with padding up to the longest answer: cut after its stop token.
        end = next((position + 1 for position, token in enumerate(new_ids) if token in stops), len(new_ids))
        answers.append(new_ids[:end])
    total = sum(len(ids) for ids in answers)
    # The batch's time, shared in proportion to the tokens each answer generated: the shares add up to the
    # batch's wall time, and each answer's tokens per second is the batch's throughput.
    return [Completion(decode_answer(medgemma, new_ids), int(inputs["attention_mask"][row].sum()), len(new_ids),
                       seconds * (len(new_ids) / total if total else 1 / len(conversations)))
            for row, new_ids in enumerate(answers)]


def _run_splitting(medgemma: MedGemma, conversations: list[Messages], max_new_tokens: int) -> list[Completion]:
    """Run a batch; when the GPU runs out of memory, run each half on its own."""
    try:
        return _run_batch(medgemma, conversations, max_new_tokens)
    except torch.cuda.OutOfMemoryError:
        torch.cuda.empty_cache()
        if len(conversations) == 1:
            raise MedGemmaError("The GPU ran out of memory while generating. " + OUT_OF_MEMORY_ADVICE) from None
    half = len(conversations) // 2
    return (_run_splitting(medgemma, conversations[:half], max_new_tokens)
            + _run_splitting(medgemma, conversations[half:], max_new_tokens))
