"""The helper core on the tiny MedGemma stand-in: loading, templating, generation, streaming, rendering."""

from __future__ import annotations

import pytest
import torch
from PIL import Image
from tiny_medgemma import TOKENS_PER_IMAGE
from transformers import AutoModelForImageTextToText, AutoProcessor

import medgemma_helpers as mh
from medgemma_helpers.asking import build_messages, findings_html
from medgemma_helpers.local import MedGemma, decode_answer, prepare_inputs
from medgemma_helpers.model import _dtype_keyword
from medgemma_helpers.render import markdown_to_safe_html

PROMPT = "Describe this chest X-ray."
SYSTEM = "You are an expert radiologist."


def _prompt_text(model: MedGemma, images: list[Image.Image], system: str | None = SYSTEM) -> tuple[str, list[int]]:
    inputs = prepare_inputs(model, build_messages(images, PROMPT, system))
    ids = inputs["input_ids"][0].tolist()
    return model.processor.tokenizer.decode(ids), ids


def test_prompt_has_one_bos_one_image_block_and_ends_with_model_turn(tiny_model, two_xrays):
    text, ids = _prompt_text(tiny_model, [two_xrays[0]])
    tokenizer = tiny_model.processor.tokenizer
    assert ids.count(tokenizer.bos_token_id) == 1 and ids[0] == tokenizer.bos_token_id
    assert text.count("<start_of_image>") == 1 and text.count("<end_of_image>") == 1
    assert ids.count(tokenizer.convert_tokens_to_ids("<image_soft_token>")) == TOKENS_PER_IMAGE
    assert text.endswith("<start_of_turn>model\n")
    # Gemma's template folds the system text into the first user turn; there is no system turn.
    assert text.startswith(f"<bos><start_of_turn>user\n{SYSTEM}\n\n")
    assert text.count("<start_of_turn>") == 2
    assert text.index("<end_of_image>") < text.index(PROMPT)


def test_each_image_gets_its_own_block_in_order(tiny_model, two_xrays):
    text, ids = _prompt_text(tiny_model, list(two_xrays), system=None)
    assert text.count("<start_of_image>") == 2
    assert ids.count(tiny_model.processor.tokenizer.convert_tokens_to_ids("<image_soft_token>")) == 2 * TOKENS_PER_IMAGE
    assert text.count("<bos>") == 1


def test_labels_follow_their_images(tiny_model, two_xrays):
    messages = build_messages(list(two_xrays), PROMPT, image_labels=["PRIOR", "CURRENT"])
    text = tiny_model.processor.tokenizer.decode(prepare_inputs(tiny_model, messages)["input_ids"][0])
    first_block, second_block = text.index("<start_of_image>"), text.rindex("<start_of_image>")
    assert first_block < text.index("PRIOR") < second_block < text.index("CURRENT") < text.index(PROMPT)


def test_different_images_give_different_answers(tiny_model, two_xrays):
    answers = [mh.analyze(image, PROMPT, model=tiny_model, max_new_tokens=24, stream=False).text
               for image in two_xrays]
    assert all(answers) and answers[0] != answers[1]


def test_streamed_text_equals_non_streamed_text(tiny_model, two_xrays, capsys):
    streamed = mh.analyze(two_xrays[0], PROMPT, system=SYSTEM, model=tiny_model, max_new_tokens=24, stream=True)
    printed = capsys.readouterr().out
    plain = mh.analyze(two_xrays[0], PROMPT, system=SYSTEM, model=tiny_model, max_new_tokens=24, stream=False)
    assert streamed.text == plain.text != ""
    assert printed.strip() == plain.text  # the terminal saw the answer as it came
    assert printed.endswith("\n")  # and the next output starts on a line of its own
    assert streamed.new_tokens == plain.new_tokens == 24
    assert streamed.prompt_tokens == plain.prompt_tokens > TOKENS_PER_IMAGE


def test_findings_carry_counts_and_speed(tiny_model, two_xrays):
    findings = mh.analyze(two_xrays[1], PROMPT, model=tiny_model, max_new_tokens=10, stream=False)
    assert findings.new_tokens == 10 and findings.image_count == 1 and findings.max_new_tokens == 10
    assert findings.seconds > 0 and findings.tokens_per_second > 0
    assert findings.model_name == tiny_model.name


def test_text_only_question_works(tiny_model):
    findings = mh.analyze(None, "What imaging would you order for suspected fibroids?", model=tiny_model,
                          max_new_tokens=8, stream=False)
    assert findings.image_count == 0 and findings.text


def test_same_answer_as_plain_transformers_quick_start(tiny_model_dir, tiny_model, two_xrays):
    # The model card's quick-start code, on the same checkpoint, image and prompt.
    processor = AutoProcessor.from_pretrained(tiny_model_dir)
    # dtype= on transformers >= 4.56, torch_dtype= before (the model card's code uses whichever its version knows).
    model = AutoModelForImageTextToText.from_pretrained(tiny_model_dir, **{_dtype_keyword(): torch.bfloat16})
    messages = [
        {"role": "system", "content": [{"type": "text", "text": SYSTEM}]},
        {"role": "user", "content": [{"type": "image", "image": two_xrays[0]}, {"type": "text", "text": PROMPT}]},
    ]
    inputs = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True,
                                           return_tensors="pt").to(model.device, dtype=torch.bfloat16)
    input_len = inputs["input_ids"].shape[-1]
    with torch.inference_mode():
        generation = model.generate(**inputs, max_new_tokens=24, do_sample=False)[0][input_len:]
    expected = processor.decode(generation, skip_special_tokens=True)

    ours = mh.analyze(two_xrays[0], PROMPT, system=SYSTEM, model=tiny_model, max_new_tokens=24, stream=False)
    assert ours.text == expected.strip() and ours.text


def test_thinking_trace_is_split_off_through_the_real_tokenizer(tiny_model):
    raw = "<unused94>thought\nThe heart looks big.<unused95>Cardiomegaly."
    ids = tiny_model.processor.tokenizer(raw, add_special_tokens=False)["input_ids"]
    decoded = decode_answer(tiny_model, ids)  # the same decode analyze uses
    answer, thinking = mh.split_thinking(decoded)
    assert answer == "Cardiomegaly." and thinking == "The heart looks big."


def test_split_thinking_cases():
    assert mh.split_thinking("No trace here.") == ("No trace here.", "")
    assert mh.split_thinking("<unused94>thought\nstill thinking") == ("", "still thinking")
    assert mh.split_thinking("  <unused94>a<unused95>\n\nB ") == ("B", "a")
    # an answer whose opener was cut off, with a closer inside the trace: the answer follows the last closer
    assert mh.split_thinking("weighing<unused95>and more<unused95>The answer.")[0] == "The answer."


def test_model_cache_returns_the_same_object(tiny_model_dir, tiny_model):
    again = mh.load_model(str(tiny_model_dir), device="cpu")
    assert again is tiny_model
    other_precision = mh.load_model(str(tiny_model_dir), device="cpu", dtype=torch.float32)
    assert other_precision is not tiny_model and other_precision.dtype == torch.float32
    assert next(other_precision.model.parameters()).dtype == torch.float32
    assert next(tiny_model.model.parameters()).dtype == torch.bfloat16


def test_model_id_from_environment(tiny_model_dir, tiny_model, monkeypatch):
    monkeypatch.setenv("MEDGEMMA_MODEL_ID", str(tiny_model_dir))
    assert mh.load_model(device="cpu") is tiny_model


def test_float16_is_refused(tiny_model_dir):
    try:
        mh.load_model(str(tiny_model_dir), device="cpu", dtype=torch.float16)
    except mh.MedGemmaError as error:
        assert "float16" in str(error) and "bfloat16" in str(error)
    else:
        raise AssertionError("float16 was accepted")


def test_script_in_model_text_is_escaped():
    findings = mh.Findings(text="<script>alert('x')</script> **Cardiomegaly** <img src=x onerror=alert(1)>",
                           thinking="<b>trace</b>", prompt=PROMPT, model_name="m", prompt_tokens=1,
                           new_tokens=1, seconds=1.0)
    markup = findings_html(findings)
    assert "<script>" not in markup and "<img" not in markup and "<b>trace" not in markup
    assert "&lt;script&gt;" in markup and "<strong>Cardiomegaly</strong>" in markup
    assert "href" not in markdown_to_safe_html("[click](javascript:alert(1))")  # left as plain text


def test_show_findings_in_terminal_prints_text_and_disclaimer(capsys):
    findings = mh.Findings(text="Normal study.", thinking="", prompt=PROMPT, model_name="m", prompt_tokens=1,
                           new_tokens=1, seconds=1.0)
    mh.show_findings(findings)
    out = capsys.readouterr().out
    assert "Normal study." in out and "not a diagnostic tool" in out


def test_show_findings_in_terminal_says_how_long_the_trace_was_and_what_to_do_when_cut_off(capsys):
    from medgemma_helpers.asking import DISCLAIMER

    answered = mh.Findings(text="Normal study.", thinking="Heart: fine.", prompt=PROMPT, model_name="m",
                           prompt_tokens=1, new_tokens=1, seconds=1.0)
    mh.show_findings(answered)
    assert capsys.readouterr().out == f"Normal study.\n\n[thinking trace: 12 characters]\n\n{DISCLAIMER}\n"
    cut_off = mh.Findings(text="", thinking="Looking at the", prompt=PROMPT, model_name="m", prompt_tokens=1,
                          new_tokens=4000, seconds=1.0, max_new_tokens=4000)
    mh.show_findings(cut_off)
    out = capsys.readouterr().out
    assert out.startswith("MedGemma was still thinking when it reached its limit of 4000 new tokens, so it wrote no "
                          "answer")
    assert "max_new_tokens=8000" in out  # twice the room it had
    assert out.endswith("MEDGEMMA_MAX_NEW_TOKENS before starting Jupyter.\n\n\n[thinking trace: 14 characters]"
                        f"\n\n{DISCLAIMER}\n")


def test_advice_for_a_cut_off_answer_stays_within_the_limit():
    from medgemma_helpers.asking import MAX_NEW_TOKENS_LIMIT, THINKING_MAX_NEW_TOKENS, still_thinking_advice

    def advice(room_given: int) -> str:
        return still_thinking_advice(mh.Findings(text="", thinking="...", prompt=PROMPT, model_name="m",
                                                 prompt_tokens=1, new_tokens=1, seconds=1.0,
                                                 max_new_tokens=room_given))

    assert "reached its token limit," in advice(0)  # the room is not known
    assert f"max_new_tokens={max(20, THINKING_MAX_NEW_TOKENS)}," in advice(10)
    assert f"max_new_tokens={MAX_NEW_TOKENS_LIMIT}," in advice(6000)


@pytest.mark.parametrize("setting, expected", [(None, 1024), ("256", 256), (" 64 ", 64), ("1", 1), ("8192", 8192),
                                               ("0", 1024), ("8193", 1024), ("-5", 1024), ("lots", 1024)])
def test_the_default_answer_length_follows_the_environment(monkeypatch, setting, expected):
    from medgemma_helpers.asking import _default_max_new_tokens

    if setting is None:
        monkeypatch.delenv("MEDGEMMA_MAX_NEW_TOKENS", raising=False)
    else:
        monkeypatch.setenv("MEDGEMMA_MAX_NEW_TOKENS", setting)
    assert _default_max_new_tokens() == expected


def test_bad_requests_are_clear_errors(tiny_model, two_xrays):
    for prompt, tokens in (("", 10), ("   ", 10), (None, 10), (PROMPT, 0), (PROMPT, -5), (PROMPT, 10**6),
                           (PROMPT, 2.5), (PROMPT, True)):
        try:
            mh.analyze(two_xrays[0], prompt, model=tiny_model, max_new_tokens=tokens, stream=False)
        except mh.MedGemmaError as error:
            assert "prompt" in str(error) or "max_new_tokens" in str(error)
        else:
            raise AssertionError(f"accepted prompt={prompt!r}, max_new_tokens={tokens!r}")


def test_missing_model_folder_is_a_clear_error(tmp_path):
    for bad in (str(tmp_path / "nowhere"), str(tmp_path)):
        try:
            mh.load_model(bad, device="cpu")
        except mh.MedGemmaError as error:
            assert str(tmp_path) in str(error)
        else:
            raise AssertionError(f"load_model({bad}) did not fail")


def test_an_interrupted_stream_stops_its_generation_thread(tiny_model, two_xrays):
    import threading

    def interrupt(text: str) -> None:
        if len(text) > 3:
            raise KeyboardInterrupt  # what stopping a notebook cell does mid-answer

    before = threading.active_count()
    try:
        mh.analyze(two_xrays[0], PROMPT, model=tiny_model, max_new_tokens=2000, on_text=interrupt)
    except KeyboardInterrupt:
        pass
    else:
        raise AssertionError("the interrupt did not reach the caller")
    assert threading.active_count() == before  # no generate call left running


@pytest.mark.parametrize(("system", "image_count", "expected"), [
    (None, 0, True), (None, 1, False), ("Think step by step before answering.", 1, True),
    ("You are an expert radiologist. Be brief.", 2, False), ("THINKING is allowed.", 1, True),
])
def test_a_request_is_expected_to_reason_at_length_when_asked_or_without_an_image(system, image_count, expected):
    from medgemma_helpers.asking import thinking_likely

    assert thinking_likely(system, image_count) is expected


def test_show_findings_in_a_notebook_displays_the_escaped_rendering(monkeypatch):
    import IPython.display

    from medgemma_helpers import render

    shown: list[str] = []
    monkeypatch.setattr(render, "in_notebook", lambda: True)
    monkeypatch.setattr(IPython.display, "display", lambda markup: shown.append(markup.data))
    findings = mh.Findings(text="Small <script>x</script> effusion.", thinking="", prompt="p", model_name="m",
                           prompt_tokens=1, new_tokens=1, seconds=1.0)
    mh.show_findings(findings)
    (markup,) = shown
    assert "&lt;script&gt;" in markup and "<script>" not in markup and "not a diagnostic tool" in markup
