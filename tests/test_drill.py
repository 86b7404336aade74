"""The find-it drill: zones on the patient's sides, scoring that trusts a reference only for what it says, films
refused on a sha256 mismatch, MedGemma's answer and box scored like the resident's, and notebook 13 run headless,
live and from a class pack."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from conftest import PROJECT_ROOT

import medgemma_helpers as mh
from medgemma_helpers import access, case_images, drills, notebooks
from medgemma_helpers.access import Completion
from medgemma_helpers.class_reads import class_review, drill_review
from medgemma_helpers.localisation import Box, to_box_2d

FILMS = {film.image: film for film in drills.load_films()}
NOTEBOOK = notebooks.NOTEBOOKS_DIR / "13_find_it_drill.ipynb"


@pytest.fixture(autouse=True)
def _films_here(monkeypatch):
    """The drill films come from the mirror (no network in tests); without them here the drill tests skip."""
    mirror = os.environ.get("MEDGEMMA_IMAGE_MIRROR", "")
    if not mirror or not all((Path(mirror) / name).is_file() for name in FILMS):
        pytest.skip("the drill films are not in MEDGEMMA_IMAGE_MIRROR")


@pytest.fixture(autouse=True)
def _no_model_loaded(monkeypatch):
    """No MedGemma in this kernel unless a test gives one: the resident is scored alone."""
    monkeypatch.setattr(access, "_held", {})


def _by_finding(finding: str) -> list[drills.Film]:
    return [film for film in FILMS.values() if film.finding == finding]


# ---------------------------------------------------------------- zones


def test_every_cardiomegaly_box_includes_the_heart_and_mediastinum():
    boxes = _by_finding("Cardiomegaly")
    assert len(boxes) == 3
    for film in boxes:
        assert "heart and mediastinum" in film.zones, film.image


def test_a_box_on_the_viewers_left_is_in_the_patients_right_lung():
    # The nodule of 00013911 lies on the left of the image (x 118-204 of 1024): the patient's right mid zone.
    assert FILMS["00013911_000.png"].box.x1 < 512
    assert FILMS["00013911_000.png"].zones == ("right middle",)
    assert FILMS["00022178_000.png"].zones == ("right lower",)  # pneumonia low on the image's left
    # and on the viewer's right, the patient's left
    assert FILMS["00004296_000.png"].zones == ("left lower",)  # atelectasis
    assert FILMS["00008386_000.png"].zones == ("left middle",)  # nodule
    for film in FILMS.values():
        if film.box is not None and film.box.x1 < 0.4 * film.width:
            assert all(zone.startswith("right") for zone in film.zones), film.image
        if film.box is not None and film.box.x0 > 0.6 * film.width:
            assert all(zone.startswith("left") for zone in film.zones), film.image


def test_a_sliver_over_a_zone_boundary_does_not_count_and_every_box_lands_somewhere():
    # 1000 x 1000: the middle/lower cut is at y=600. A box 95 % above it and 5 % below is in the middle zone only.
    box = Box("x", 100, 505, 200, 605)
    assert drills.box_zones(box, 1000, 1000) == ("right middle",)
    assert drills.box_zones(Box("x", 100, 560, 200, 660), 1000, 1000) == ("right middle", "right lower")
    assert drills.box_zones(Box("x", 0, 0, 1000, 1000), 1000, 1000) == drills.ZONES
    assert drills.box_zones(Box("x", 480, 10, 520, 20), 1000, 1000) == ("heart and mediastinum",)


def test_iou():
    assert drills.iou(Box("a", 0, 0, 10, 10), Box("b", 0, 0, 10, 10)) == 1.0
    assert drills.iou(Box("a", 0, 0, 10, 10), Box("b", 5, 0, 15, 10)) == pytest.approx(50 / 150)
    assert drills.iou(Box("a", 0, 0, 10, 10), Box("b", 20, 20, 30, 30)) == 0.0


# ---------------------------------------------------------------- scoring


def _drill(*names: str) -> drills.Drill:
    return drills.Drill([FILMS[name] for name in names], drills.drill_findings(list(FILMS.values())))


def test_right_wrong_and_normal_answers_are_scored_and_tallied():
    d = _drill("00009745_000.png", "00013911_000.png", "00008386_000.png", "00010234_000.png", "00010459_000.png")
    right = d.answer(True, "CARDIOMEGALY", "Heart and  Mediastinum")  # any letter case and spacing
    assert (right.finding_right, right.place_right, right.normal_right, right.film_right) == (True, True, None, True)
    mirrored = d.answer(True, "nodule", "left middle")  # the right finding on the wrong side
    assert (mirrored.finding_right, mirrored.place_right, mirrored.film_right) == (True, False, False)
    missed = d.answer(False)
    assert (missed.finding_right, missed.place_right, missed.film_right) == (False, False, False)
    assert "boxed Nodule" in " ".join(missed.notes)
    normal = d.answer(False)
    assert (normal.normal_right, normal.film_right, normal.finding_right) == (True, True, None)
    over = d.answer(True, "mass", "right upper")
    assert (over.normal_right, over.film_right, over.finding_right, over.place_right) == (False, False, None, None)
    assert "text-mined" in " ".join(over.notes) and "Mass is not scored" in " ".join(over.notes)
    rows = d.tally()
    assert [row["film"] for row in rows] == [film.image for film in d.films]
    assert drills.tally_counts(rows, drills.YOU) == {"films right": (2, 5), "findings right": (2, 3),
                                                     "places right": (1, 3), "normals called normal": (1, 2)}
    with pytest.raises(mh.InputError, match="all 5 films are answered"):
        d.answer(False)


def test_a_second_finding_on_a_boxed_film_is_never_scored_wrong():
    d = _drill("00009745_000.png")
    result = d.answer(True, "Nodule", "right upper")
    assert result.finding_right is None and result.place_right is None and result.film_right is True
    assert "nobody reviewed this film for other findings" in " ".join(result.notes)


def test_answers_outside_the_drill_are_refused_by_name():
    d = _drill("00009745_000.png")
    with pytest.raises(mh.InputError, match="not one of the drill's findings"):
        d.answer(True, "Effusion", "left lower")
    with pytest.raises(mh.InputError, match="not one of the drill's zones"):
        d.answer(True, "Cardiomegaly", "left")
    with pytest.raises(mh.InputError, match="True or False"):
        d.answer("yes")
    with pytest.raises(mh.InputError, match="names no finding"):
        d.answer(False, "Cardiomegaly")
    assert d.index == 0  # nothing refused moved the drill on


def test_a_seed_fixes_the_films_and_their_order(capsys):
    first, again = mh.drill(n=10, seed=7), mh.drill(n=10, seed=7)
    assert [f.image for f in first.films] == [f.image for f in again.films] and len(first.films) == 10
    assert [f.image for f in mh.drill(n=10, seed=8).films] != [f.image for f in first.films]
    assert "patient's right is on your left" in capsys.readouterr().out


def test_a_teachers_own_list_in_the_same_format(tmp_path):
    rows = list(csv.DictReader(drills.DRILL_FILMS.open()))
    mine = tmp_path / "mine.csv"
    with mine.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows([rows[1], rows[12]])  # one cardiomegaly, one "No Finding"
    d = mh.drill(str(mine), n=10, seed=1)
    assert sorted(f.image for f in d.films) == sorted([rows[1]["image"], rows[12]["image"]])
    assert d.findings == ["Cardiomegaly"]
    rows[1]["kind"] = "a resident's guess"
    with mine.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerow(rows[1])
    with pytest.raises(mh.InputError, match="mine.csv row 2: kind"):
        mh.drill(str(mine))


# ---------------------------------------------------------------- honest keys


def test_a_film_whose_mirror_copy_has_another_sha256_is_refused(tmp_path, monkeypatch):
    film = FILMS["00009745_000.png"]
    (tmp_path / film.image).write_bytes(b"not the pinned film")
    monkeypatch.setenv("MEDGEMMA_IMAGE_MIRROR", str(tmp_path))
    with pytest.raises(mh.ImageError, match="not the pinned"):
        film.picture()


def test_a_download_with_another_sha256_is_refused_and_nothing_saved(monkeypatch):
    monkeypatch.delenv("MEDGEMMA_IMAGE_MIRROR")
    film = drills.Film("99999999_drill_test.png", drills.NO_FINDING, "", None, 1024, 1024, "0" * 64,
                       "https://example.org/film.png")
    monkeypatch.setattr(case_images, "download", lambda url, max_bytes: b"other bytes")
    with pytest.raises(mh.ImageError, match="refused and nothing was saved"):
        film.path()
    assert not (PROJECT_ROOT / "images" / film.image).exists()


# ---------------------------------------------------------------- MedGemma


def test_medgemmas_two_line_answer_is_read():
    findings = ["Atelectasis", "Cardiomegaly", "Infiltrate", "Nodule"]
    assert drills.parse_answer("Abnormal: yes\nFinding: nodules", findings) == (True, "Nodule")
    assert drills.parse_answer("**Abnormal:** No\n**Finding:** none", findings) == (False, None)
    assert drills.parse_answer("Finding: patchy infiltration at the left base", findings) == (True, "Infiltrate")
    assert drills.parse_answer("I cannot tell from this image.", findings) == (None, None)


class _Scripted:
    """A model-like object answering the drill's two questions with fixed text (the drill's input, not its logic)."""

    name = "scripted"

    def __init__(self, answer: str, box_2d: list[float] | None):
        self.answer, self.box_2d, self.asked = answer, box_2d, []

    def complete(self, messages, *, max_new_tokens, on_text=None):
        prompt = messages[-1]["content"][-1]["text"]
        self.asked.append(prompt)
        if "bounding boxes" in prompt:
            raw = f'Final Answer: ```json[{{"box_2d": {self.box_2d}, "label": "nodule"}}]```' if self.box_2d else "?"
        else:
            raw = self.answer
        return Completion(raw, 10, 5, 0.01)

    def complete_many(self, conversations, *, max_new_tokens, batch_size):
        return [self.complete(messages, max_new_tokens=max_new_tokens) for messages in conversations]


def test_medgemmas_box_is_scored_like_the_residents_by_zone_and_iou():
    film = FILMS["00013911_000.png"]
    right = _Scripted("Abnormal: yes\nFinding: Nodule", to_box_2d(film.box, (film.width, film.height)))
    d = drills.Drill([film], drills.drill_findings(list(FILMS.values())), right)
    d.answer(True, "nodule", "right middle")
    model = d.model_results[0]
    assert (model.finding_right, model.place_right, model.film_right) == (True, True, True)
    assert model.iou == pytest.approx(1.0, abs=0.01) and model.zones == ("right middle",)
    assert "Where is the nodule?" in right.asked[-1]  # localize asked for the finding MedGemma named
    mirrored = Box("", film.width - film.box.x1, film.box.y0, film.width - film.box.x0, film.box.y1)
    wrong = _Scripted("Abnormal: yes\nFinding: Nodule", to_box_2d(mirrored, (film.width, film.height)))
    result = drills.ask_medgemma(film, wrong, ["Nodule"])
    assert result.place_right is False and result.iou == 0.0 and result.zones == ("left middle",)
    no_box = drills.ask_medgemma(film, _Scripted("Abnormal: yes\nFinding: Nodule", None), ["Nodule"])
    # no box is no place given: not scored, as a resident's place is not when no zone is given
    assert no_box.place_right is None and "no usable box" in " ".join(no_box.notes)
    assert no_box.finding_right is True and no_box.film_right is True
    said_normal = drills.ask_medgemma(film, _Scripted("Abnormal: no\nFinding: none", None), ["Nodule"])
    assert said_normal.film_right is False and said_normal.box is None
    rows = d.tally()
    assert [row["reader"] for row in rows] == [drills.YOU, drills.MEDGEMMA]
    html = drills.result_html(d.film_results(film))
    assert "a radiologist&#x27;s box around one finding, Nodule" in html


def test_model_text_is_escaped_in_the_reveal():
    film = FILMS["00010234_000.png"]
    result = drills.ask_medgemma(film, _Scripted("<script>x</script> Abnormal: no", None), ["Nodule"])
    html = drills.result_html([result])
    assert "<script>" not in html and "&lt;script&gt;" in html and result.normal_right is True


def test_the_tiny_model_answers_every_film_through_the_real_path(tiny_model):
    d = _drill("00009745_000.png", "00010234_000.png")
    d.model = tiny_model
    d.answer(True, "cardiomegaly", "heart and mediastinum")
    d.answer(False)
    assert [r.reader for r in d.model_results] == [drills.MEDGEMMA] * 2
    assert all(r.answer_text for r in d.model_results)
    assert len(d.tally()) == 4


# ---------------------------------------------------------------- saving, review


def test_a_saved_drill_is_read_by_the_drill_review_and_skipped_by_the_read_review(tmp_path, capsys):
    d = _drill("00009745_000.png", "00010234_000.png")
    d.answer(True, "Cardiomegaly", "left lower")
    d.answer(True, "Nodule", "left upper")
    path = d.save("Resident <A>", tmp_path)
    record = json.loads(path.read_text())
    assert record["alias"] == "Resident <A>" and len(record["rows"]) == 2
    rows = drill_review(tmp_path)
    assert rows == [{"resident": "Resident <A>", "reader": "you", "films right": "1 of 2",
                     "findings right": "1 of 1", "places right": "1 of 1", "normals called normal": "0 of 1"}]
    assert class_review(tmp_path) == []
    assert "a saved drill, not a read" in capsys.readouterr().out


# ---------------------------------------------------------------- notebook 13


def _outputs(path: Path) -> tuple[str, int]:
    notebook = nbformat.read(path, as_version=4)
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    text = "\n".join("".join(o.get("text", "")) + "".join(
        v if isinstance(v, str) else "".join(v) for m, v in o.get("data", {}).items() if m.startswith("text/"))
        for o in outputs)
    return text, sum("image/png" in o.get("data", {}) for o in outputs)


def test_notebook_13_runs_headless_with_the_films_boxes_and_tally(case_environment, tiny_model_dir, tmp_path,
                                                                   monkeypatch):
    for name, value in case_environment.items():
        monkeypatch.setenv(name, value)
    [result] = notebooks.execute_notebooks(tmp_path, [NOTEBOOK], timeout=600)
    assert result["error"] is None
    text, pngs = _outputs(result["executed"])
    assert pngs >= 10  # every film, with its reference box drawn
    assert "mh-drill-reveal" in text and "mh-drill-summary" in text and "data:image/png;base64," in text
    assert "not a diagnostic tool" in text and "NIH Clinical Center" in NOTEBOOK.read_text()
    assert "MedGemma" in text and "films right" in text


def _clean_environment(case_environment: dict[str, str]) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("MEDGEMMA_", "HF_TOKEN", "HUGGING_FACE"))}
    env.update(case_environment, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false",
               MEDGEMMA_PACK_PACE="0")
    return env


def test_notebook_13_runs_from_a_class_pack_without_the_model(case_environment, tmp_path):
    env = _clean_environment(case_environment)
    pack = tmp_path / "class.pack"
    done = subprocess.run([sys.executable, "-m", "medgemma_helpers", "pack", "--out", str(pack), "--allow-cpu"],
                          cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    labels = {entry["label"] for entry in json.loads(pack.read_text())["entries"]}
    assert {f"notebook 13: drill film {name}" for name in FILMS} <= labels
    env.pop("MEDGEMMA_MODEL_ID")
    env["MEDGEMMA_PACK"] = str(pack)
    done = subprocess.run([sys.executable, "-m", "medgemma_helpers", "notebooks", "--out", str(tmp_path / "run"),
                           "--only", "13"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    text, pngs = _outputs(tmp_path / "run" / NOTEBOOK.name)
    assert "recorded on CPU" in text and "MedGemma could not answer" not in text
    assert pngs >= 10 and "mh-drill-summary" in text


def test_without_a_model_only_the_resident_is_scored():
    d = _drill("00009745_000.png")
    d.answer(True, "Cardiomegaly", "heart and mediastinum")
    assert d.model_results == []
