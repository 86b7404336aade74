"""Many requests at once: one batched generate call (left padding) locally, concurrent requests to a server.

Greedy decoding with a correct attention mask gives each request the answer it gets alone: the padding is
masked out, Gemma 3 derives positions from the mask, and its image attention comes from token_type_ids, which
are padded along with the ids. In float32 the answers are identical; in bfloat16 a padded row's logits can
differ from the unpadded row's by rounding (one bf16 step: the padded reductions are longer), so at a
near-tie greedy decoding may now and then pick a different token than the one-at-a-time run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, fields
from typing import Any, Iterable

import torch

from .errors import MedGemmaError
from .generate import (DEFAULT_MAX_NEW_TOKENS, Findings, _as_image_list, _check_request, _generate, build_messages,
                       decode_answer, prepare_inputs, split_thinking)
from .model import OUT_OF_MEMORY_ADVICE, MedGemma, default_model

DEFAULT_BATCH_SIZE = 8


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


def _padded_inputs(medgemma: MedGemma, conversations: list[list[dict[str, Any]]]) -> dict[str, torch.Tensor]:
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


def _run_batch(medgemma: MedGemma, items: list[Request], max_new_tokens: int) -> list[Findings]:
    images = [_as_image_list(item.images) for item in items]
    conversations = [build_messages(pictures, item.prompt, item.system, item.image_labels, item.intro)
                     for pictures, item in zip(images, items)]
    inputs = _padded_inputs(medgemma, conversations)
    width = int(inputs["input_ids"].shape[-1])
    started = time.perf_counter()
    output = _generate(medgemma, inputs, max_new_tokens)
    seconds = time.perf_counter() - started
    stops = _stop_ids(medgemma)
    answers = []
    for row in range(len(items)):
        new_ids = output[row, width:].tolist()
        # A row that finished early is filled with padding up to the longest answer: cut after its stop token.
        end = next((position + 1 for position, token in enumerate(new_ids) if token in stops), len(new_ids))
        answers.append(new_ids[:end])
    total = sum(len(ids) for ids in answers)
    results = []
    for row, (item, new_ids) in enumerate(zip(items, answers)):
        answer, thinking = split_thinking(decode_answer(medgemma, new_ids))
        # The batch's time, shared in proportion to the tokens each answer generated: the shares add up to the
        # batch's wall time, and each tokens_per_second is the batch's throughput.
        share = len(new_ids) / total if total else 1 / len(items)
        results.append(Findings(text=answer, thinking=thinking, prompt=item.prompt, model_name=medgemma.name,
                                prompt_tokens=int(inputs["attention_mask"][row].sum()), new_tokens=len(new_ids),
                                seconds=seconds * share, image_count=len(images[row]), max_new_tokens=max_new_tokens))
    return results


def _run_splitting(medgemma: MedGemma, items: list[Request], max_new_tokens: int) -> list[Findings]:
    """Run a batch; when the GPU runs out of memory, run each half on its own."""
    try:
        return _run_batch(medgemma, items, max_new_tokens)
    except torch.cuda.OutOfMemoryError:
        torch.cuda.empty_cache()
        if len(items) == 1:
            raise MedGemmaError("The GPU ran out of memory while generating. " + OUT_OF_MEMORY_ADVICE) from None
    half = len(items) // 2
    return _run_splitting(medgemma, items[:half], max_new_tokens) + _run_splitting(medgemma, items[half:],
                                                                                    max_new_tokens)


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
        _check_request(item.prompt, max_new_tokens)
    if not items:
        return []
    medgemma = model if model is not None else default_model()
    if hasattr(medgemma, "analyze_many"):  # a served model: concurrent requests, the server batches them
        return medgemma.analyze_many(items, max_new_tokens=max_new_tokens, concurrency=batch_size)
    if hasattr(medgemma, "analyze"):
        return [medgemma.analyze(item.images, item.prompt, system=item.system, max_new_tokens=max_new_tokens,
                                 stream=False, image_labels=item.image_labels, intro=item.intro) for item in items]
    if not isinstance(medgemma, MedGemma):
        raise MedGemmaError(f"model= must come from mh.load_model() or mh.connect(); got {type(medgemma).__name__}.")
    results: list[Findings] = []
    for start in range(0, len(items), batch_size):
        results += _run_splitting(medgemma, items[start:start + batch_size], max_new_tokens)
    return results
