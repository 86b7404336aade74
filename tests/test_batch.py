"""Batched generation (mh.analyze_many): one generate call, left padding, the same answers as one at a time."""

from __future__ import annotations

import time

import pytest
import torch

import medgemma_helpers as mh
from medgemma_helpers import walkthrough
from medgemma_helpers.asking import Request, analyze_many, build_messages
from medgemma_helpers.local import _padded_inputs, prepare_inputs

PROMPT = "Describe this chest X-ray."
SYSTEM = "You are an expert radiologist."


@pytest.fixture(scope="module")
def tiny_model_f32(tiny_model_dir):
    """The stand-in in float32. In bfloat16 a left-padded row's logits differ from the unpadded row's by rounding
    (one bf16 step, because the padded reductions are longer), and greedy decoding of a random-weight model meets
    near-ties often enough for that to flip a token: equality of answers is checked in float32, and bfloat16
    batching is checked for being within rounding of the single run (test_bfloat16_batch_...)."""
    return mh.load_model(str(tiny_model_dir), device="cpu", dtype=torch.float32)


def _requests(two_xrays):
    # Different prompt lengths, with and without a system turn, one image, two labelled images, and none:
    # the shorter prompts get many pad tokens on the left.
    return [
        Request(two_xrays[0], PROMPT, SYSTEM),
        Request(two_xrays[1], "Is there a pneumothorax? Answer with reasons, side and size, and name any line.", None),
        Request(None, "What imaging would you order for suspected fibroids?", "Be brief."),
        Request(list(two_xrays), "Compare the prior and the current film.", None, ["PRIOR", "CURRENT"]),
        {"images": two_xrays[1], "prompt": PROMPT},
    ]


def _one_by_one(model, requests):
    answers = []
    for request in requests:
        request = request if isinstance(request, Request) else Request(**request)
        answers.append(mh.analyze(request.images, request.prompt, system=request.system, model=model,
                                  max_new_tokens=20, stream=False, image_labels=request.image_labels))
    return answers


def test_batch_is_left_padded_and_masked_whatever_the_tokenizer_says(tiny_model, two_xrays, monkeypatch):
    monkeypatch.setattr(tiny_model.processor.tokenizer, "padding_side", "right")  # as some real tokenizers are
    conversations = [build_messages([two_xrays[0]], PROMPT, SYSTEM), build_messages([], "Hi?")]
    inputs = _padded_inputs(tiny_model, conversations)
    alone = [prepare_inputs(tiny_model, conversation) for conversation in conversations]
    pad = tiny_model.processor.tokenizer.pad_token_id
    ids, mask = inputs["input_ids"], inputs["attention_mask"]
    width, short = ids.shape[1], alone[1]["input_ids"].shape[1]
    assert ids.shape[0] == 2 and width == alone[0]["input_ids"].shape[1] > short
    assert (ids[1, : width - short] == pad).all() and ids[1, -1] != pad  # padding on the left only
    assert ids[1, width - short:].tolist() == alone[1]["input_ids"][0].tolist()  # the row's own tokens, unchanged
    assert int(mask[1].sum()) == short and int(mask[0].sum()) == width
    assert inputs["token_type_ids"].shape == ids.shape  # Gemma 3's image attention, padded with the ids
    assert inputs["pixel_values"].shape[0] == 1  # one image in the whole batch


def test_the_batch_pads_with_the_tokenizers_own_pad_id(tiny_model, two_xrays):
    """Gemma's pad id is 0, so a padding that ignored the tokenizer would go unnoticed: give it another one."""
    tokenizer = tiny_model.processor.tokenizer
    original = tokenizer.pad_token_id
    tokenizer.pad_token_id = 7
    try:
        assert tokenizer.pad_token_id == 7
        conversations = [build_messages([two_xrays[0]], PROMPT, SYSTEM), build_messages([], "Hi?")]
        inputs = _padded_inputs(tiny_model, conversations)
        short = prepare_inputs(tiny_model, conversations[1])["input_ids"].shape[1]
    finally:
        tokenizer.pad_token_id = original
    padding = inputs["input_ids"].shape[1] - short
    assert padding > 0
    assert inputs["input_ids"][1, :padding].tolist() == [7] * padding
    assert inputs["attention_mask"][1, :padding].tolist() == [0] * padding


def test_bfloat16_batch_is_within_rounding_of_single_runs(tiny_model, two_xrays):
    conversations = [build_messages(*args) for args in (([two_xrays[0]], PROMPT, SYSTEM), ([], "Hi?"),
                                                        (list(two_xrays), "Compare the two films, please.", None))]
    batch = _padded_inputs(tiny_model, conversations)
    unmasked = {**batch, "attention_mask": torch.ones_like(batch["attention_mask"])}
    with torch.inference_mode():
        batched = tiny_model.model(**batch).logits[:, -1].float()
        wrong = tiny_model.model(**unmasked).logits[:, -1].float()
        for row, conversation in enumerate(conversations):
            alone = tiny_model.model(**prepare_inputs(tiny_model, conversation)).logits[0, -1].float()
            assert (alone - batched[row]).abs().max() <= 0.125  # two bf16 steps at this scale (|logit| < 16)
            if int(batch["attention_mask"][row].sum()) < batch["input_ids"].shape[1]:
                assert (alone - wrong[row]).abs().max() > 0.5  # attending to the padding would be caught


def test_batched_answers_equal_one_by_one_answers(tiny_model_f32, two_xrays):
    requests = _requests(two_xrays)
    batched = analyze_many(requests, model=tiny_model_f32, max_new_tokens=20)
    single = _one_by_one(tiny_model_f32, requests)
    assert [b.text for b in batched] == [s.text for s in single]
    assert len({b.text for b in batched}) >= 4  # the answers differ: each row saw its own input
    assert [b.prompt_tokens for b in batched] == [s.prompt_tokens for s in single]
    assert [b.new_tokens for b in batched] == [s.new_tokens for s in single] == [20] * 5
    assert [b.image_count for b in batched] == [1, 1, 0, 2, 1]
    assert [b.prompt for b in batched] == [s.prompt for s in single] and PROMPT in batched[0].prompt  # its own question
    assert all(b.max_new_tokens == 20 for b in batched)


def test_small_batches_give_the_same_answers_in_order(tiny_model_f32, two_xrays):
    requests = _requests(two_xrays)
    started = time.perf_counter()
    whole = analyze_many(requests, model=tiny_model_f32, max_new_tokens=12)
    elapsed = time.perf_counter() - started
    # One batch: its time is shared in proportion to the tokens generated (equal here), adding up to the batch's.
    assert len({a.seconds for a in whole}) == 1 and 0 < sum(a.seconds for a in whole) <= elapsed
    in_twos = analyze_many(requests, model=tiny_model_f32, max_new_tokens=12, batch_size=2)
    assert [a.text for a in whole] == [a.text for a in in_twos]
    assert all(a.seconds > 0 for a in in_twos)


def test_all_cases_summary_matches_case_by_case_reads(with_cases, tiny_model_f32, capsys):
    walkthrough.forget_answers()
    results = mh.run_all_cases(tiny_model_f32, max_new_tokens=10)
    printed = capsys.readouterr().out
    assert "[6/6] case 06" in printed and "6 cases, 6 at a time" in printed
    singles = [mh.run_case(r.case_id, tiny_model_f32, max_new_tokens=10, stream=False, show_prompt=False)
               for r in results]
    walkthrough.forget_answers()
    assert [r.findings.text for r in results] == [s.text for s in singles]
    assert [r.prompt_tokens for r in results] == [s.prompt_tokens for s in singles]
    assert results[-1].findings.image_count == 0 and results[0].findings.image_count == 1


def test_bad_requests_are_clear_errors(tiny_model, two_xrays):
    assert analyze_many([], model=tiny_model) == []
    for bad, words in (([{"image": two_xrays[0], "prompt": PROMPT}], "unknown keys"), ([("x", PROMPT)], "Request 0"),
                       ([Request(two_xrays[0], "")], "prompt")):
        with pytest.raises(mh.MedGemmaError, match=words):
            analyze_many(bad, model=tiny_model)
    with pytest.raises(mh.MedGemmaError, match="batch_size"):
        analyze_many([Request(None, PROMPT)], model=tiny_model, batch_size=0)
    # the message names the bad request by its place in the list
    with pytest.raises(mh.MedGemmaError, match=r"^Request 2 is a tuple; give mh\.Request\(images, prompt, system\)"):
        analyze_many([Request(None, PROMPT), {"images": None, "prompt": PROMPT}, ("x", PROMPT)], model=tiny_model)
    with pytest.raises(mh.MedGemmaError, match=r"^Request 1 has unknown keys \['image'\]"):
        analyze_many([Request(None, PROMPT), {"image": None, "prompt": PROMPT}], model=tiny_model)


# ---------------------------------------------------------------- a GPU that runs out of memory mid-batch


def _gpu_holding(model, rows: int, monkeypatch) -> list[int]:
    """Make the real generate fail as a GPU does when a batch has more than rows requests; returns the sizes tried."""
    real = model.model.generate
    tried: list[int] = []

    def generate(**kwargs):
        tried.append(int(kwargs["input_ids"].shape[0]))
        if tried[-1] > rows:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 3.00 GiB")
        return real(**kwargs)

    monkeypatch.setattr(model.model, "generate", generate)
    return tried


def test_a_batch_that_runs_out_of_memory_is_split_in_half_with_the_same_answers(tiny_model_f32, two_xrays,
                                                                                monkeypatch):
    requests = _requests(two_xrays)
    whole = analyze_many(requests, model=tiny_model_f32, max_new_tokens=8)
    tried = _gpu_holding(tiny_model_f32, 2, monkeypatch)
    split = analyze_many(requests, model=tiny_model_f32, max_new_tokens=8)
    assert tried == [5, 2, 3, 1, 2]  # 5 fails; halves of 2 and 3; the 3 fails again and splits into 1 and 2
    assert [a.text for a in split] == [a.text for a in whole]  # every answer, in the order asked
    assert [a.image_count for a in split] == [1, 1, 0, 2, 1]


def test_one_request_that_runs_out_of_memory_is_advice(tiny_model, two_xrays, monkeypatch):
    tried = _gpu_holding(tiny_model, 0, monkeypatch)
    with pytest.raises(mh.MedGemmaError) as caught:
        analyze_many([Request(two_xrays[0], PROMPT), Request(None, PROMPT)], model=tiny_model, max_new_tokens=4)
    assert tried == [2, 1]  # halved once, then the single request is refused with advice, not retried for ever
    message = str(caught.value)
    assert "out of memory" in message and "max_new_tokens" in message and "4bit" in message
