"""CT volume, localisation and prior-versus-current requests, as MedGemma 1.5 expects them, on the tiny stand-in."""

from __future__ import annotations

import csv
import gzip
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from tiny_medgemma import TOKENS_PER_IMAGE

import medgemma_helpers as mh
from medgemma_helpers import comparison, ct_volume, demo_data, localisation, notebooks
from medgemma_helpers.asking import build_messages
from medgemma_helpers.ct_volume import CT_INTRO, ct_channels, sent_slices
from medgemma_helpers.dicom import CT_CHANNEL_WINDOWS
from medgemma_helpers.local import prepare_inputs
from medgemma_helpers.pixels import window_to_uint8


@pytest.fixture(scope="module")
def phantom(tmp_path_factory):
    return mh.load_ct_series(demo_data.write_demo_ct_series(tmp_path_factory.mktemp("phantom"), slices=12, size=64))


def test_demo_series_has_the_hounsfield_units_it_promises(phantom):
    assert phantom.hu.shape == (12, 64, 64)
    middle = phantom.hu[6]
    assert middle[0, 0] == -1000 and middle[32, 32] == 40  # air outside, soft tissue in the middle
    assert middle[int((0.5 + 0.24) * 64), 32] == 1000  # the vertebral body
    assert phantom.instance_numbers == list(range(1, 13))


def _decoded_prompt(model, images, prompt, labels=None, intro=None) -> tuple[str, dict]:
    inputs = prepare_inputs(model, build_messages(images, prompt, None, labels, intro))
    return model.processor.tokenizer.decode(inputs["input_ids"][0]), inputs


def test_ct_prompt_has_one_block_per_sampled_slice_with_its_label(tiny_model, phantom):
    images, labels, intro, question = mh.volume_request(phantom, "Is there a lung nodule?", max_slices=5)
    assert len(images) == 5 and labels == [f"SLICE {n}" for n in range(1, 6)]
    assert intro == CT_INTRO and question.endswith("is there a lung nodule?")
    text, inputs = _decoded_prompt(tiny_model, images, question, labels, intro)
    assert text.count("<start_of_image>") == 5
    assert inputs["input_ids"][0].tolist().count(
        tiny_model.processor.tokenizer.convert_tokens_to_ids("<image_soft_token>")) == 5 * TOKENS_PER_IMAGE
    position = text.index(intro.split(".")[0])
    for label in labels:  # intro, then image / SLICE n pairs in order, then the question
        block = text.index("<end_of_image>", position)
        label_at = text.index(label, block)
        assert text.find("<start_of_image>", block) == -1 or label_at < text.find("<start_of_image>", block)
        position = label_at
    assert text.index(question.strip()) > position
    # The first and last slices of the volume are both sent.
    assert np.array_equal(np.asarray(images[0]), np.asarray(mh.ct_windows(phantom.hu[:1])[0]))
    assert np.array_equal(np.asarray(images[-1]), np.asarray(mh.ct_windows(phantom.hu[-1:])[0]))


def _nodule_slices(volume) -> list[int]:
    """Instance numbers of the slices whose nodule pixel holds soft tissue inside the right lung."""
    row, column = demo_data._nodule_pixel(volume.hu.shape[-1])
    return [number for number, hu in zip(volume.instance_numbers, volume.hu) if abs(hu[row, column] - 30) < 1]


def test_the_phantom_nodule_is_a_sphere_on_two_adjacent_slices_not_a_rod(tmp_path):
    volume = mh.load_ct_series(demo_data.write_demo_ct_series(tmp_path, size=96))
    on = _nodule_slices(volume)
    assert on == demo_data.demo_lesion() == [12, 13]  # 10 mm across, 5 mm slices, centred between two of them
    row, column = demo_data._nodule_pixel(96)
    assert volume.hu[0, row, column] == -850  # lung above and below it: a nodule, not a vessel running through
    assert volume.spacing is not None and volume.spacing[0] == 5.0


def test_a_thin_slice_phantom_hides_its_nodule_between_the_slices_sent(tmp_path):
    volume = mh.load_ct_series(demo_data.write_thin_slice_ct_series(tmp_path, size=64))
    assert len(volume) > 85
    sent = [number for _, number in sent_slices(volume)]
    assert len(sent) == 85 and sent[0] == 1 and sent[-1] == len(volume)
    on = _nodule_slices(volume)
    assert on == demo_data.thin_slice_lesion(len(volume))[2] and on  # the nodule is there ...
    assert not set(on) & set(sent)  # ... and no slice that shows it is sent
    assert set(on) <= {number for _, number in sent_slices(volume, max_slices=len(volume))}  # all slices: seen


def test_the_volume_prompt_follows_googles_layout_and_gets_2000_new_tokens(tiny_model, phantom, monkeypatch):
    images, labels, intro, question = mh.volume_request(phantom, "Is there a lung nodule?", max_slices=3)
    assert question == "\n\nBased on the visual evidence in the slices provided above, is there a lung nodule?"
    # Google's CT notebook's messages, built by hand: instruction, image / "SLICE n" pairs, the question.
    content = [{"type": "text", "text": intro}]
    for image, label in zip(images, labels):
        content += [{"type": "image", "image": image}, {"type": "text", "text": label}]
    googles = [{"role": "user", "content": [*content, {"type": "text", "text": question}]}]
    ours = build_messages(images, question, None, labels, intro)
    assert ours == googles
    assert prepare_inputs(tiny_model, ours)["input_ids"].tolist() == \
        prepare_inputs(tiny_model, googles)["input_ids"].tolist()
    assert ct_volume.VOLUME_MAX_NEW_TOKENS == 2000 or os.environ.get("MEDGEMMA_MAX_NEW_TOKENS")
    findings = mh.analyze_volume(phantom, "Is there a lung nodule?", model=tiny_model, max_slices=2, stream=False)
    assert findings.max_new_tokens == ct_volume.VOLUME_MAX_NEW_TOKENS


def test_the_three_channels_are_the_three_windows_of_the_same_slice(phantom):
    channels, labels = ct_channels(phantom, 6)
    assert labels[:3] == ["red: -1024 to 1024 HU", "green: -135 to 215 HU", "blue: 0 to 80 HU"]
    fat = tuple(np.argwhere(phantom.hu[6] == -100)[0])
    assert [np.asarray(c)[fat][0] for c in channels[:3]] == [
        window_to_uint8(np.array(-100.0), low, high) for low, high in CT_CHANNEL_WINDOWS]
    assert np.array_equal(np.asarray(channels[3]), np.asarray(mh.ct_windows(phantom.hu[6:7])[0]))


def test_volume_read_runs_end_to_end(tiny_model, phantom):
    findings = mh.analyze_volume(phantom, "Is there a lung nodule?", model=tiny_model, max_slices=4,
                                 max_new_tokens=6, stream=False)
    assert findings.image_count == 4 and findings.new_tokens == 6


def test_two_image_prompt_sends_prior_then_current(tiny_model, two_xrays):
    prior, current = (mh.load_image(image, pad_to_square=True) for image in two_xrays)
    text, inputs = _decoded_prompt(tiny_model, [prior, current], comparison.COMPARISON_PROMPT)
    assert text.count("<start_of_image>") == 2 and text.rindex("<end_of_image>") < text.index("The first image")
    alone = tiny_model.processor.image_processor([prior, current], return_tensors="pt")["pixel_values"]
    assert torch.equal(inputs["pixel_values"].float(), alone.to(inputs["pixel_values"].dtype).float())
    assert not torch.equal(alone[0], alone[1])


def test_comparison_end_to_end_and_change_table(tiny_model, two_xrays):
    findings, changes = mh.compare_studies(two_xrays[0], two_xrays[1], model=tiny_model, max_new_tokens=6,
                                           stream=False)
    assert findings.image_count == 2 and isinstance(changes, list)
    answer = ("<unused94>thinking<unused95>Summary.\n\n| Finding | Change | Details |\n|---|---|---|\n"
              "| Right pleural effusion | **New** | large, with meniscus |\n| Left lung | unchanged | clear |\n"
              "| Heart size | worse | <script>x</script> |\n| Not a row | maybe | ignored |")
    parsed = comparison.parse_changes(answer)
    assert [(c.finding, c.change) for c in parsed] == [
        ("Right pleural effusion", "new"), ("Left lung", "stable"), ("Heart size", "worsened")]
    markup = comparison.changes_html(parsed)
    assert "<script>" not in markup and "&lt;script&gt;" in markup


def test_localisation_on_a_model_without_boxes_draws_nothing_and_says_so(tiny_model, two_xrays, capsys):
    findings, boxes = mh.localize(two_xrays[0], "right clavicle", model=tiny_model, stream=False)
    assert boxes == [] and "No boxes" in capsys.readouterr().out
    assert findings.prompt.startswith("Instructions:") and "Query:\nWhere is the right clavicle? " in findings.prompt
    assert findings.max_new_tokens == localisation.LOCALISATION_MAX_NEW_TOKENS  # Google's 1,000 unless told less
    assert localisation.LOCALISATION_MAX_NEW_TOKENS == 1000 or os.environ.get("MEDGEMMA_MAX_NEW_TOKENS")


def test_notebook_08_asks_one_structure_per_question_by_chest_imagenome_names():
    assert all("," not in s and " and " not in s for s in localisation.NOTEBOOK_STRUCTURES)
    assert "cardiac silhouette" in localisation.NOTEBOOK_STRUCTURES and "heart" not in localisation.NOTEBOOK_STRUCTURES
    source = "".join("".join(cell["source"]) for cell in json.loads(
        (notebooks.NOTEBOOKS_DIR / "08_anatomy_localisation.ipynb").read_text(encoding="utf-8"))["cells"])
    assert f"structures = {list(localisation.NOTEBOOK_STRUCTURES)!r}" in source
    assert "for structure in structures:" in source and "mh.localize(image, structure, model=model)" in source
    assert source.count("mh.show_case") == 0 and source.count("![Case 01") == 1  # the film shown once


def test_each_sided_box_is_checked_against_the_films_midline():
    film = Image.new("RGB", (400, 300))
    on_viewers_left = localisation.Box("right lung", 40, 50, 180, 250)
    on_viewers_right = localisation.Box("right clavicle", 220, 30, 380, 80)
    heart = localisation.Box("cardiac silhouette", 150, 120, 300, 250)
    checks = localisation.side_checks({"right lung": [on_viewers_left], "right clavicle": [on_viewers_right],
                                       "cardiac silhouette": [heart]}, film)
    assert [(c.structure, c.found_side, c.agrees) for c in checks] == [
        ("right lung", "right", True), ("right clavicle", "left", False)]  # the heart has no side to check
    assert "the viewer's left), as its name says" in str(checks[0]) and "WRONG SIDE" in str(checks[1])
    assert "midline at x = 200" in str(checks[1])
    drawn = np.asarray(localisation.draw_midline(film))
    assert drawn[:, 200].any() and not drawn[:, :190].any()


def test_boxes_from_a_padded_square_land_on_the_original_film():
    film = Image.new("RGB", (300, 200))  # landscape: padded with 50 rows above and below
    answer = '```json\n[{"box_2d": [250, 100, 750, 500], "label": "right lung"}]\n```'
    (box,) = mh.parse_boxes(answer, film)
    assert (box.label, box.x0, box.y0, box.x1, box.y1) == ("right lung", 30, 25, 150, 175)
    drawn = localisation.draw_boxes(film, [box])
    assert drawn.size == film.size and np.asarray(drawn).any() and not np.asarray(film).any()


def test_dicom_windows_through_load_image():
    from pydicom.data import get_testdata_file

    path = get_testdata_file("CT_small.dcm")
    lung, bone = mh.load_image(path, window="lung"), mh.load_image(path, window="bone")
    assert lung.mode == bone.mode == "RGB" and lung.size == (128, 128)
    assert not np.array_equal(np.asarray(lung), np.asarray(bone))
    with pytest.raises(mh.ImageError, match="lung"):
        mh.load_image(path, window="lungs-please")


def _notebook_cells(name: str) -> list[tuple[str, str]]:
    cells = json.loads((notebooks.NOTEBOOKS_DIR / name).read_text(encoding="utf-8"))["cells"]
    return [(cell["cell_type"], "".join(cell["source"])) for cell in cells]


def test_notebook_09_hides_its_review_until_after_the_residents_own_comparison():
    cells = _notebook_cells("09_longitudinal_comparison.ipynb")
    own = next(i for i, (kind, text) in enumerate(cells) if kind == "code" and text.startswith("my_read = "))
    review = next(i for i, (kind, text) in enumerate(cells) if "What the films show, on review" in text)
    assert own < review
    text = cells[review][1]
    assert text.index("<details>") < text.index("What the films show") < text.index("</details>")
    for film in comparison.series_films():
        assert text.index(film.shows[:40]) > text.index("<details>")  # every film's review is inside the block
    assert "interstitial" in text and "AP" in text and "NIH's view: PA" in text
    before = "\n".join(text for kind, text in cells[:review])
    assert "sternotomy" not in before.split("## One patient's films over time")[-1]  # no spoiler above the review


def test_notebook_09_shows_the_prompt_and_runs_every_comparison_it_talks_about():
    source = "\n".join(text for kind, text in _notebook_cells("09_longitudinal_comparison.ipynb") if kind == "code")
    assert source.index("print(COMPARISON_PROMPT)") < source.index("mh.compare_studies(prior, current")
    assert "Finding | Change | Details" in comparison.COMPARISON_PROMPT
    assert "mh.compare_studies(film_a, film_b, model=model)" in source  # the identity pair, actually compared
    assert f'mh.case_image("{comparison.IDENTITY_PAIR[0]}"), mh.case_image("{comparison.IDENTITY_PAIR[1]}")' in source


def test_notebook_09s_identity_exercise_rests_on_identifiers_and_fixed_anatomy():
    cells = _notebook_cells("09_longitudinal_comparison.ipynb")
    [answer] = [text for kind, text in cells if "<summary><b>The answer</b>" in text]
    assert "identifiers" in answer and "fixed anatomy" in answer
    assert not any(word in answer.lower() for word in ("marker", " line ", "wire", "device"))
    exercise = next(text for kind, text in cells if text.startswith("## Exercise: are these the same patient?"))
    assert "Not devices, lines or markers" in exercise and "00015044_000.png" in exercise


def test_the_series_carries_nihs_own_metadata():
    table = Path(__file__).resolve().parents[2] / "shared" / "drills" / "Data_Entry_2017.csv.gz"
    if not table.is_file():
        pytest.skip("NIH's Data_Entry_2017.csv.gz is not here")
    with gzip.open(table, "rt", encoding="utf-8") as rows:
        nih = {row["Image Index"]: row for row in csv.DictReader(rows) if row["Image Index"].startswith("00000001_")}
    for film in comparison.series_films():
        row = nih[film.image.file]
        assert (film.age, film.sex, film.view) == (row["Patient Age"], row["Patient Gender"], row["View Position"])
        assert film.nih_labels == row["Finding Labels"]
