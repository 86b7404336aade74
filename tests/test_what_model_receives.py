"""What the model actually receives: a spy around the real model's generate records the pixel_values of every
path that sends a chest film, and they must be the processor's own output for the film padded to a centred
square (pad_square), as Google's chest X-ray notebooks prepare it. The films are non-square, so a path that
forgot to pad sends something else. Localisation is checked the other way round: a scripted box answer, fed
through the real decoding and streaming path, must land on the right pixels of a non-square film.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from conftest import _generated_xray
from PIL import Image

import medgemma_helpers as mh
from medgemma_helpers import walkthrough
from medgemma_helpers.asking import Request, analyze_many
from medgemma_helpers.local import MedGemma
from medgemma_helpers.pixels import pad_square

CHEST_CASES = ("01", "02", "03", "04", "05")


class GenerateSpy:
    """Wraps the real model's generate: records each call's pixel_values, then generates as before."""

    def __init__(self, medgemma: MedGemma, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[dict[str, Any]] = []
        real = medgemma.model.generate

        def spy(**kwargs: Any) -> Any:
            self.calls.append({key: value.detach().clone() if isinstance(value, torch.Tensor) else value
                               for key, value in kwargs.items()})
            return real(**kwargs)

        monkeypatch.setattr(medgemma.model, "generate", spy)


def processor_pixels(medgemma: MedGemma, images: list[Image.Image]) -> torch.Tensor:
    """The processor's own pixel_values for these images, in the model's precision (as prepare_inputs sends)."""
    values = medgemma.processor.image_processor(images, return_tensors="pt")["pixel_values"]
    return values.to(medgemma.model.dtype)


def assert_padded_film_sent(medgemma: MedGemma, sent: torch.Tensor, films: list[Image.Image]) -> None:
    """sent must equal the processor's output for each film padded to a centred square, and not the unpadded one."""
    for film in films:
        assert film.width != film.height, "the test needs non-square films"
    expected = processor_pixels(medgemma, [pad_square(film) for film in films])
    unpadded = processor_pixels(medgemma, films)
    assert sent.shape == expected.shape
    assert not torch.equal(expected, unpadded)  # padding changes what the model sees: the check can fail
    assert torch.equal(sent, expected), "the model did not receive the film padded to a centred square"


@pytest.fixture
def fresh_answers():
    walkthrough.forget_answers()  # run_case remembers answers: a remembered one would never reach generate
    yield
    walkthrough.forget_answers()


@pytest.mark.parametrize("stream", [False, True])
def test_run_case_sends_the_film_padded_to_a_centred_square(tiny_model, with_nonsquare_cases, fresh_answers,
                                                            monkeypatch, stream):
    spy = GenerateSpy(tiny_model, monkeypatch)
    for case_id in ("01", "02"):  # one landscape film, one portrait film
        mh.run_case(case_id, tiny_model, max_new_tokens=4, stream=stream, show_prompt=False,
                    on_text=(lambda text: None) if stream else None)
    assert len(spy.calls) == 2
    for call, case_id in zip(spy.calls, ("01", "02")):
        assert_padded_film_sent(tiny_model, call["pixel_values"], [mh.case_image(case_id)])


def test_run_case_pads_a_users_own_chest_film_too(tiny_model, with_nonsquare_cases, fresh_answers, monkeypatch):
    own = _generated_xray(7, (200, 280))
    spy = GenerateSpy(tiny_model, monkeypatch)
    mh.run_case("03", tiny_model, image=own, max_new_tokens=4, stream=False, show_prompt=False)
    (call,) = spy.calls
    assert_padded_film_sent(tiny_model, call["pixel_values"], [mh.load_image(own)])


def test_all_cases_run_sends_every_chest_film_padded_in_one_batch(tiny_model, with_nonsquare_cases,
                                                                  fresh_answers, monkeypatch, capsys):
    spy = GenerateSpy(tiny_model, monkeypatch)
    results = mh.run_all_cases(tiny_model, max_new_tokens=4)
    capsys.readouterr()
    assert [result.case_id for result in results] == [*CHEST_CASES, "06"]
    (call,) = spy.calls  # all six cases in one generate call; case 06 has no image
    assert_padded_film_sent(tiny_model, call["pixel_values"], [mh.case_image(case_id) for case_id in CHEST_CASES])


def test_a_batch_sends_each_requests_images_in_order(tiny_model, monkeypatch):
    films = [pad_square(mh.load_image(_generated_xray(seed, size)))
             for seed, size in ((3, (320, 240)), (4, (240, 320)), (5, (300, 200)))]
    requests = [Request(films[0], "Describe."), Request(None, "Text only?"),
                Request([films[1], films[2]], "Compare.", image_labels=["PRIOR", "CURRENT"])]
    spy = GenerateSpy(tiny_model, monkeypatch)
    analyze_many(requests, model=tiny_model, max_new_tokens=3)
    (call,) = spy.calls
    assert torch.equal(call["pixel_values"], processor_pixels(tiny_model, films))
    assert call["input_ids"].shape[0] == 3


def test_a_batch_split_after_running_out_of_memory_still_sends_each_film(tiny_model, monkeypatch):
    films = [pad_square(mh.load_image(_generated_xray(seed, (320, 240)))) for seed in (8, 9, 10)]
    real = tiny_model.model.generate
    sent: list[torch.Tensor] = []

    def short_of_memory(**kwargs: Any) -> Any:
        if kwargs["input_ids"].shape[0] > 1:  # this "GPU" holds one request at a time
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        sent.append(kwargs["pixel_values"].clone())
        return real(**kwargs)

    monkeypatch.setattr(tiny_model.model, "generate", short_of_memory)
    answers = analyze_many([Request(film, "Describe.") for film in films], model=tiny_model, max_new_tokens=3)
    assert len(answers) == 3 and all(answer.new_tokens == 3 for answer in answers)
    assert [tuple(values.shape) for values in sent] == [tuple(processor_pixels(tiny_model, [films[0]]).shape)] * 3
    for values, film in zip(sent, films):
        assert torch.equal(values, processor_pixels(tiny_model, [film]))


# ---------------------------------------------------------------- localisation through the real generate path


BOX_ANSWER = ('Reasoning: the lungs fill the chest.\nFinal Answer: ```json\n'
              '[{"box_2d": [250, 300, 750, 700], "label": "right lung"}]\n```')


class ScriptedGenerate:
    """Stands in for the network only: returns the prompt plus scripted answer ids, streamed as generate does."""

    def __init__(self, medgemma: MedGemma, answer: str, monkeypatch: pytest.MonkeyPatch) -> None:
        self.answer_ids = medgemma.processor.tokenizer(answer, add_special_tokens=False, return_tensors="pt")[
            "input_ids"]
        self.calls: list[dict[str, Any]] = []
        monkeypatch.setattr(medgemma.model, "generate", self)

    def __call__(self, *, input_ids: torch.Tensor, streamer: Any = None, **kwargs: Any) -> torch.Tensor:
        self.calls.append({"input_ids": input_ids, **kwargs})
        output = torch.cat([input_ids, self.answer_ids.to(input_ids.device)], dim=-1)
        if streamer is not None:  # as transformers' generate: the prompt first, then the new tokens, then the end
            streamer.put(input_ids.cpu())
            for token in self.answer_ids[0]:
                streamer.put(token.reshape(1))
            streamer.end()
        return output


@pytest.mark.parametrize("size", [(300, 200), (180, 360)])
@pytest.mark.parametrize("stream", [True, False])
def test_localize_maps_a_scripted_box_back_onto_a_non_square_film(tiny_model, monkeypatch, capsys, size, stream):
    film = mh.load_image(_generated_xray(11, size))
    scripted = ScriptedGenerate(tiny_model, BOX_ANSWER, monkeypatch)
    findings, boxes = mh.localize(film, "right lung", model=tiny_model, max_new_tokens=64, stream=stream)
    capsys.readouterr()
    assert findings.text == BOX_ANSWER  # decoded through the real tokenizer, unchanged
    (call,) = scripted.calls
    assert_padded_film_sent(tiny_model, call["pixel_values"], [film])
    # Expected pixels, worked out here from the padding: the film sits centred on a square of its longer side.
    width, height = size
    side = max(width, height)
    left, top = (side - width) // 2, (side - height) // 2
    y0, x0, y1, x1 = (value / 1000 * side for value in (250, 300, 750, 700))
    (box,) = boxes
    assert box.label == "right lung"
    assert (box.x0, box.y0, box.x1, box.y1) == pytest.approx((x0 - left, y0 - top, x1 - left, y1 - top), abs=0.5)


def test_localize_on_an_unpadded_modality_scales_each_axis(tiny_model, monkeypatch, capsys):
    # A CT slice is sent as it is (no square padding), so its boxes are read back without padding offsets.
    film = mh.load_image(_generated_xray(12, (300, 200)))
    scripted = ScriptedGenerate(tiny_model, BOX_ANSWER, monkeypatch)
    _, boxes = mh.localize(film, "liver", model=tiny_model, modality="abdominal CT slice", max_new_tokens=64,
                           stream=False)
    capsys.readouterr()
    (call,) = scripted.calls
    assert torch.equal(call["pixel_values"], processor_pixels(tiny_model, [film]))
    (box,) = boxes
    assert (box.x0, box.y0, box.x1, box.y1) == pytest.approx((0.3 * 300, 0.25 * 200, 0.7 * 300, 0.75 * 200))


@pytest.mark.parametrize("live_kernel", [False, True])
def test_the_quiz_sends_the_film_padded_to_a_centred_square(tiny_model, with_nonsquare_cases, fresh_answers,
                                                            monkeypatch, live_kernel):
    from medgemma_helpers import quizzes, reveal

    # In a live kernel the quiz starts the read in the background worker (reveal.py); in a terminal on Reveal.
    monkeypatch.setattr(reveal, "read_first_mode", lambda: live_kernel)
    monkeypatch.setattr(quizzes, "in_notebook", lambda: False)  # no widgets: quiz.reveal("...") from code
    spy = GenerateSpy(tiny_model, monkeypatch)
    quiz = mh.quiz("02", tiny_model, max_new_tokens=4)
    quiz.reveal("Right perihilar mass.")
    (call,) = spy.calls
    assert_padded_film_sent(tiny_model, call["pixel_values"], [mh.case_image("02")])
    reveal.forget_sessions()


def test_a_16_bit_pil_image_reaches_the_model_stretched_to_8_bits(tiny_model, monkeypatch):
    """A PIL image that is not 8-bit RGB is converted as load_image converts it, not left to the processor."""
    import numpy as np

    levels = np.linspace(1000, 3000, 64 * 48).reshape(48, 64).astype(np.uint16)  # a detector's narrow range
    film = Image.fromarray(levels)
    assert film.mode == "I;16"
    spy = GenerateSpy(tiny_model, monkeypatch)
    mh.analyze(film, "Describe this image.", model=tiny_model, max_new_tokens=2, stream=False)
    assert torch.equal(spy.calls[0]["pixel_values"], processor_pixels(tiny_model, [mh.load_image(film)]))
