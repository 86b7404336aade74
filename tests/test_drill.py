"""The find-it drill: every NIH boxed film listed, a fixed vocabulary, place scored where the finding is, another
finding missing the box, "No Finding" calls counted apart, MedGemma scored as the resident, tampered films refused,
clear errors on bad input, and notebook 13 run headless and from a class pack.

Films with pictures come from case_environment: the real ones where MEDGEMMA_IMAGE_MIRROR holds them, else
generated stand-ins (tests/conftest.py); no test downloads anything.
"""

from __future__ import annotations

import csv
import hashlib
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
from medgemma_helpers.class_reads import DRILL_RECORD_FORMAT, class_review, drill_review
from medgemma_helpers.localisation import Box, to_box_2d

NOTEBOOK = notebooks.NOTEBOOKS_DIR / "13_find_it_drill.ipynb"
SHARED_DRILLS = PROJECT_ROOT.parent / "shared" / "drills"


@pytest.fixture(autouse=True)
def _no_download(monkeypatch):
    """Nothing here reaches the network: a download attempt fails the test."""
    def refuse(url, max_bytes):
        raise AssertionError(f"the drill tests downloaded {url}")

    monkeypatch.setattr(case_images, "download", refuse)


@pytest.fixture(autouse=True)
def _no_model_loaded(monkeypatch):
    """No MedGemma in this kernel unless a test gives one: the resident is scored alone."""
    monkeypatch.setattr(access, "_held", {})


@pytest.fixture
def pool(case_environment, monkeypatch) -> list[drills.Film]:
    """The drill films whose pictures are here (the real mirror's, or the stand-ins), with their environment set."""
    for name, value in case_environment.items():
        monkeypatch.setenv(name, value)
    return drills.mirrored(drills.load_films())


def _pick(films: list[drills.Film], finding: str | None, *, scored_place: bool = True) -> drills.Film:
    """The first single-box PA film of a finding (None: a "No Finding" film), optionally with a scored place."""
    for film in films:
        if film.view == "PA" and film.findings == ((finding,) if finding else ()):
            if finding is None or not scored_place or drills.right_zones(finding, film.boxes[0].box, film.width,
                                                                         film.height):
                return film
    raise AssertionError(f"no {finding} film here")


def _film(*boxes: tuple[str, tuple[float, float, float, float]], image: str = "00000000_000.png",
          view: str = "PA") -> drills.Film:
    """A 1000 x 1000 film with these (NIH label, (x0, y0, x1, y1)) boxes, or "No Finding" with none."""
    references = tuple(drills.ReferenceBox(drills.NIH_FINDINGS[label], label, Box(label, *corners))
                       for label, corners in boxes)
    return drills.Film(image, drills.BOXED if boxes else drills.NO_FINDING, references, 1000, 1000, "0" * 64,
                       "https://example.org/film.png", view=view)


def _marks(result: drills.Result) -> tuple:
    return result.finding_right, result.place_right, result.film_right


# ---------------------------------------------------------------- place


def test_the_zone_holding_the_box_centre_is_right_and_a_zone_away_from_it_is_wrong():
    nodule = _film(("Nodule", (120, 400, 200, 480)))  # the viewer's left: the patient's right, middle zone
    assert _marks(drills.score(nodule, "you", True, "nodule", "right middle")) == (True, True, True)
    mirrored = drills.score(nodule, "you", True, "nodule", "left middle")
    assert _marks(mirrored) == (True, False, False) and "right middle, not the left middle" in mirrored.notes[0]
    assert _marks(drills.score(nodule, "you", True, "nodule", "right upper")) == (True, False, False)
    assert _marks(drills.score(nodule, "you", True, "nodule", None)) == (True, False, False)  # no place given


def test_a_zone_holding_half_the_box_is_right_and_a_smaller_share_is_not():
    # 1000 x 1000: the lung/mediastinum line is at x=400, the middle/lower cut at y=600.
    straddling = Box("", 300, 700, 500, 800)  # half in the right lower zone, half (and the centre) in the centre
    assert drills.right_zones("mass", straddling, 1000, 1000) == ("right lower", drills.HEART)
    quarter_below = Box("", 100, 300, 200, 700)  # 62.5 % middle (its centre), 25 % lower, 12.5 % upper
    assert drills.right_zones("atelectasis", quarter_below, 1000, 1000) == ("right middle",)
    film = _film(("Atelectasis", (100, 300, 200, 700)))
    assert drills.score(film, "you", True, "atelectasis", "right lower").place_right is False


def test_cardiomegalys_place_is_the_heart_and_mediastinum_and_a_lung_zone_is_wrong():
    heart = _film(("Cardiomegaly", (250, 420, 800, 800)))  # wide: most of it over the lungs' lower zones
    assert drills.right_zones("cardiomegaly", heart.boxes[0].box, 1000, 1000) == (drills.HEART,)
    assert _marks(drills.score(heart, "you", True, "cardiomegaly", "heart and mediastinum")) == (True, True, True)
    assert _marks(drills.score(heart, "you", True, "cardiomegaly", "left lower")) == (True, False, False)


def test_a_box_over_three_zones_that_none_holds_half_of_is_diffuse_and_its_place_is_not_scored():
    corners = (100, 200, 800, 900)  # over all seven zones, none holding half of it
    film = _film(("Infiltrate", corners))
    assert drills.is_diffuse("airspace opacity", Box("", *corners), 1000, 1000)
    result = drills.score(film, "you", True, "airspace opacity", "left upper")
    assert _marks(result) == (True, None, True)
    assert "diffuse" in result.notes[0] and "no zone holds half of it" in result.notes[0]
    reveal = drills.result_text([result])
    assert "airspace opacity: diffuse: the box spreads over 7 zones" in reveal
    assert not drills.is_diffuse("mass", Box("", 100, 200, 300, 300), 1000, 1000)  # in two zones only


# ---------------------------------------------------------------- finding


def test_naming_another_finding_on_a_boxed_film_misses_the_box_and_is_reported_not_verified():
    film = _film(("Effusion", (80, 550, 380, 900)))
    result = drills.score(film, "you", True, "nodule", "right lower")
    assert _marks(result) == (False, None, False) and result.box_missed is True
    assert result.not_verified == "nodule" and "not verified" in result.notes[0]
    missed = drills.score(film, "you", False, None, None)
    assert _marks(missed) == (False, None, False) and missed.box_missed is True
    nothing_named = drills.score(film, "you", True, None, "right lower")  # abnormal, nothing named
    assert nothing_named.film_right is False and nothing_named.box_missed is True
    assert drills.score(film, "you", None, None, None).box_missed is True  # no clear answer
    assert drills.score(film, "you", True, "pleural effusion", "left upper").box_missed is False  # named, misplaced


def test_boxes_missed_counts_every_boxed_film_whose_boxed_finding_is_not_named():
    films = [_film(("Effusion", (80, 550, 380, 900)), image=f"0000000{n}_000.png") for n in range(3)]
    d = drills.Drill(films)
    d.answer(True, "nodule", "right lower")
    d.answer(False)
    d.answer(True, "pleural effusion", "right lower")
    assert drills.tally_counts(d.tally(), drills.YOU)["boxes missed"] == (2, 3)


def test_on_a_film_with_several_boxes_any_boxed_finding_counts_at_its_own_place():
    film = _film(("Effusion", (80, 650, 380, 950)), ("Nodule", (700, 400, 760, 460)))
    assert _marks(drills.score(film, "you", True, "pleural effusion", "right lower")) == (True, True, True)
    assert _marks(drills.score(film, "you", True, "nodule", "left middle")) == (True, True, True)
    assert _marks(drills.score(film, "you", True, "nodule", "right lower")) == (True, False, False)
    assert _marks(drills.score(film, "you", True, "mass", "left middle")) == (False, None, False)


def test_a_no_finding_film_is_called_none_of_these_and_an_abnormal_call_is_counted_apart():
    boxed, label = _film(("Mass", (120, 150, 300, 300))), _film(image="00000001_000.png")
    d = drills.Drill([boxed, label, _film(image="00000002_000.png")])
    d.answer(True, "mass", "right upper")
    agrees = d.answer(False)
    assert (agrees.disagrees_with_label, agrees.film_right) == (False, None)
    disagrees = d.answer(True, "nodule", "left lower")
    assert (disagrees.disagrees_with_label, disagrees.film_right, disagrees.finding_right) == (True, None, None)
    assert "disagrees with the report's label" in disagrees.notes[0] and "text-mined" in disagrees.notes[0]
    assert drills.tally_counts(d.tally(), drills.YOU) == {
        "boxed films right": (1, 1), "findings right": (1, 1), "places right": (1, 1), "boxes missed": (0, 1),
        "disagrees with the report's label": (1, 2)}
    assert "disagrees" in drills.result_html(d.film_results(d.films[2]))


def test_the_choices_are_the_fixed_words_whatever_films_are_drawn():
    effusions = [_film(("Effusion", (80, 550, 380, 900)), image=f"0000000{i}_000.png") for i in range(3)]
    d = mh.drill(effusions, n=3, seed=1)
    assert d.findings == ["atelectasis", "cardiomegaly", "pleural effusion", "airspace opacity", "mass", "nodule",
                          "pneumothorax"]
    assert all(word in drills.drill_prompt() for word in d.findings)
    assert d.answer(True, "Effusion", "right lower").finding == "pleural effusion"  # NIH's word is understood
    with pytest.raises(mh.InputError, match="'airspace opacity'.*'pneumothorax'"):
        d.answer(True, "consolidation", "right lower")
    with pytest.raises(mh.InputError, match="'right upper'.*'heart and mediastinum'"):
        d.answer(True, "pleural effusion", "left")
    with pytest.raises(mh.InputError, match="True or False"):
        d.answer("yes")
    with pytest.raises(mh.InputError, match="names no finding and no zone"):
        d.answer(False, "nodule")
    assert d.index == 1  # nothing refused moved the drill on


def test_nih_labels_are_shown_for_what_they_are_at_the_reveal():
    film = _film(("Pneumonia", (600, 650, 800, 850)))
    text = drills.result_text([drills.score(film, "you", True, "airspace opacity", "left lower")])
    assert "airspace opacity: left lower (NIH label, text-mined: Pneumonia)" in text
    assert "NIH's label, text-mined from the report: No Finding" in drills.result_text(
        [drills.score(_film(), "you", False, None, None)])


# ---------------------------------------------------------------- the list and the draw


def test_all_880_boxed_films_and_the_16_normals_are_listed_from_one_repository_for_the_boxes():
    films = drills.load_films(drills.DRILL_FILMS)
    boxed = [film for film in films if film.boxed]
    assert len(boxed) == 880 and sum(len(film.boxes) for film in boxed) == 984
    normals = [film for film in films if not film.boxed]
    assert len(normals) == 16 and sum(film.sex == "M" for film in normals) == 3
    assert {film.url.split("/")[3:6] == ["samadon1", "radSIM", "e7ae5971e561e35a247826845876bc0258e0f7f9"]
            for film in boxed} == {True}
    assert {film.view for film in films} == {"PA", "AP"} and all(len(film.sha256) == 64 for film in films)
    assert {r.nih_label for film in boxed for r in film.boxes} == set(drills.NIH_FINDINGS)


@pytest.mark.skipif(not (SHARED_DRILLS / "nih_boxes.csv").is_file(), reason="the drill sources are not here")
def test_the_list_is_the_one_the_committed_script_builds_from_the_sources():
    sys.path.insert(0, str(PROJECT_ROOT / "tools"))
    try:
        import make_drill_films
    finally:
        sys.path.remove(str(PROJECT_ROOT / "tools"))
    with drills.DRILL_FILMS.open(newline="") as table:
        assert make_drill_films.build(SHARED_DRILLS) == list(csv.DictReader(table))


def _project_list(monkeypatch) -> None:
    monkeypatch.delenv("MEDGEMMA_IMAGE_MIRROR", raising=False)
    monkeypatch.delenv("MEDGEMMA_CASES_DIR", raising=False)


def test_the_default_draw_is_pa_films_with_one_box_balanced_across_the_findings(monkeypatch):
    _project_list(monkeypatch)
    films, note = drills.draw_films(n=8, seed=3)
    assert note == "" and all(film.view == "PA" and len(film.boxes) <= 1 for film in films)
    assert sorted(film.findings[0] if film.boxed else "" for film in films) == sorted(("", *drills.FINDINGS))
    wide, _ = drills.draw_films(n=40, view=None, several_findings=True, seed=3)
    assert {film.view for film in wide} == {"PA", "AP"} and any(len(film.boxes) > 1 for film in wide)
    effusions, _ = drills.draw_films(n=5, finding="pleural effusion", seed=3)
    assert [film.findings for film in effusions] == [("pleural effusion",)] * 5
    mixed, _ = drills.draw_films(n=6, finding=["pneumothorax", drills.NONE_OF_THESE], seed=3)
    assert sorted(film.findings for film in mixed) == [()] * 3 + [("pneumothorax",)] * 3


def test_a_seed_fixes_the_films_and_a_pool_holding_them_draws_them_again(monkeypatch, capsys):
    _project_list(monkeypatch)
    first, again = mh.drill(n=10, seed=7), mh.drill(n=10, seed=7)
    assert [f.image for f in first.films] == [f.image for f in again.films] and len(first.films) == 10
    assert [f.image for f in mh.drill(n=10, seed=8).films] != [f.image for f in first.films]
    assert "patient's right is on your left" in capsys.readouterr().out
    # A class pack or a mirror holding the drawn films (and others that fit) draws the same films in the same order.
    others = [film for film in drills.select_films(drills.load_films()) if film not in first.films][:50]
    assert [f.image for f in drills.balanced_draw(first.films + others, 10, 7)] == [f.image for f in first.films]


def test_with_a_mirror_holding_some_films_the_drill_draws_only_those_and_says_so(monkeypatch, tmp_path, capsys):
    _project_list(monkeypatch)
    films = drills.load_films()
    held = [film for film in films if film.view == "PA" and len(film.boxes) <= 1][:12]
    for film in held:
        (tmp_path / film.image).write_bytes(b"checked when shown")
    monkeypatch.setenv("MEDGEMMA_IMAGE_MIRROR", str(tmp_path))
    d = mh.drill(n=10, seed=5)
    assert {film.image for film in d.films} <= {film.image for film in held} and len(d.films) == 10
    assert "Drawn from the 12 of" in capsys.readouterr().out


def test_a_finding_filter_that_matches_no_film_and_unknown_choices_are_refused_with_the_choices(monkeypatch):
    _project_list(monkeypatch)
    with pytest.raises(mh.InputError, match="No film on the list fits: cardiomegaly.*'airspace opacity'.*view=None"):
        drills.draw_films([_film(("Nodule", (1, 1, 9, 9)))], finding="cardiomegaly")
    with pytest.raises(mh.InputError, match="'fibrosis' is not one of the drill's findings: 'atelectasis'"):
        mh.drill(finding="fibrosis")
    with pytest.raises(mh.InputError, match="view='lateral' must be one of 'PA', 'AP'"):
        mh.drill(view="lateral")
    with pytest.raises(mh.InputError, match="n=0"):
        mh.drill(n=0)


def _teacher_csv(path: Path, edit=None, drop: str | None = None) -> Path:
    with drills.DRILL_FILMS.open(newline="") as table:
        rows = list(csv.DictReader(table))[:3]
    if edit:
        edit(rows)
    columns = [column for column in rows[0] if column != drop]
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_a_teachers_list_in_the_same_format_and_its_errors_name_the_file_row_and_column(tmp_path, monkeypatch):
    _project_list(monkeypatch)
    mine = _teacher_csv(tmp_path / "mine.csv")
    assert len(drills.load_films(mine)) == 3
    with pytest.raises(mh.InputError, match="mine.csv lacks the column sha256"):
        drills.load_films(_teacher_csv(tmp_path / "mine.csv", drop="sha256"))
    with pytest.raises(mh.InputError, match=r"mine.csv, row 3, column sha256: 'abc123' is not a sha256"):
        drills.load_films(_teacher_csv(tmp_path / "mine.csv", lambda rows: rows[1].update(sha256="abc123")))
    with pytest.raises(mh.InputError, match=r"mine.csv, row 2, column finding: 'Fibrosis' must be one of"):
        drills.load_films(_teacher_csv(tmp_path / "mine.csv", lambda rows: rows[0].update(finding="Fibrosis")))
    with pytest.raises(mh.InputError, match=r"mine.csv, row 4, column view: 'LL' must be one of PA, AP"):
        drills.load_films(_teacher_csv(tmp_path / "mine.csv", lambda rows: rows[2].update(view="LL")))
    with pytest.raises(mh.InputError, match=r"row 2, column box_w: 'wide' must be a number"):
        drills.load_films(_teacher_csv(tmp_path / "mine.csv", lambda rows: rows[0].update(box_w="wide")))


# ---------------------------------------------------------------- honest films


def test_a_tampered_film_is_refused_before_it_is_shown(pool, tmp_path, monkeypatch):
    film = pool[0]
    (tmp_path / film.image).write_bytes(b"not the pinned film")
    monkeypatch.setenv("MEDGEMMA_IMAGE_MIRROR", str(tmp_path))
    with pytest.raises(mh.ImageError, match="not the pinned"):
        film.picture()
    d = drills.Drill([film])
    d.build_widgets()
    assert d._film_view.value == b"" and d._commit.disabled and not d._next.disabled
    assert "is not shown" in d._reveal.value and "not the pinned" in d._reveal.value
    d._next_clicked()
    assert d.current is None and d.results == [] and len(d.refused) == 1


def test_a_teacher_mirrors_the_films_verified_and_a_wrong_copy_is_replaced(pool, tmp_path, capsys):
    films = pool[:3]
    (tmp_path / films[0].image).write_bytes(b"a stale copy")
    drills.mirror_films(tmp_path, films)
    for film in films:
        assert case_images.sha256_of(tmp_path / film.image) == film.sha256
    assert f"MEDGEMMA_IMAGE_MIRROR={tmp_path}" in capsys.readouterr().out


def test_a_download_with_another_sha256_is_refused_and_nothing_saved(monkeypatch):
    monkeypatch.delenv("MEDGEMMA_IMAGE_MIRROR", raising=False)
    film = _film(image="99999999_drill_test.png")
    monkeypatch.setattr(case_images, "download", lambda url, max_bytes: b"other bytes")
    with pytest.raises(mh.ImageError, match="refused and nothing was saved"):
        film.path()
    assert not (PROJECT_ROOT / "images" / film.image).exists()


def test_the_widgets_show_the_film_and_reveal_only_after_a_commit(pool):
    film = _pick(pool, "nodule")
    d = drills.Drill([film, _pick(pool, None)])
    d.build_widgets()
    assert d._film_view.value and d._reveal.value == "" and list(d._call.options)[-1] == drills.NONE_OF_THESE
    d._call.value = "nodule"
    d._commit_clicked()
    assert "Press the zone" in d._reveal.value and d.results == []
    d._zone_buttons[drills.right_zones("nodule", film.boxes[0].box, film.width, film.height)[0]].value = True
    d._commit_clicked()
    assert "mh-drill-reveal" in d._reveal.value and _marks(d.results[0]) == (True, True, True)
    d._next_clicked()
    d._call.value = drills.NONE_OF_THESE
    d._commit_clicked()
    assert d.results[1].disagrees_with_label is False and d.current is None


def test_a_film_that_cannot_be_revealed_stays_unanswered_and_a_retry_scores_it_once(pool, tmp_path, monkeypatch):
    film, normal = _pick(pool, "nodule"), _pick(pool, None)
    d = drills.Drill([film, normal])
    d.build_widgets()
    mirror = os.environ.get("MEDGEMMA_IMAGE_MIRROR")
    (tmp_path / film.image).write_bytes(b"not the pinned film")  # the film's file goes bad after it is shown
    monkeypatch.setenv("MEDGEMMA_IMAGE_MIRROR", str(tmp_path))
    d._call.value = drills.NONE_OF_THESE
    d._commit_clicked()
    assert "Could not reveal" in d._reveal.value and not d._commit.disabled
    assert d.results == [] and d.current is film  # nothing recorded, the film still the one to answer
    if mirror is None:
        monkeypatch.delenv("MEDGEMMA_IMAGE_MIRROR")
    else:
        monkeypatch.setenv("MEDGEMMA_IMAGE_MIRROR", mirror)
    d._commit_clicked()
    assert "mh-drill-reveal" in d._reveal.value and [r.film for r in d.results] == [film] and d.current is normal


# ---------------------------------------------------------------- MedGemma


def test_medgemmas_two_line_answer_is_read_in_the_vocabularys_words():
    assert drills.parse_answer("Abnormal: yes\nFinding: nodules") == (True, "nodule")
    assert drills.parse_answer("**Abnormal:** No\n**Finding:** none") == (False, None)
    assert drills.parse_answer("Finding: patchy infiltration at the left base") == (True, "airspace opacity")
    assert drills.parse_answer("Abnormal: yes\nFinding: effusion, and a nodule") == (True, "pleural effusion")
    assert drills.parse_answer("I cannot tell from this image.") == (None, None)


class _Scripted:
    """A model-like object answering the drill's two questions with fixed text (the drill's input, not its logic)."""

    name = "scripted"

    def __init__(self, answer: str, box_2d: list[float] | None):
        self.answer, self.box_2d, self.asked = answer, box_2d, []

    def complete(self, messages, *, max_new_tokens, on_text=None):
        prompt = messages[-1]["content"][-1]["text"]
        self.asked.append(prompt)
        if "bounding boxes" in prompt:
            raw = f'Final Answer: ```json[{{"box_2d": {self.box_2d}, "label": "x"}}]```' if self.box_2d else "?"
        else:
            raw = self.answer
        return Completion(raw, 10, 5, 0.01)

    def complete_many(self, conversations, *, max_new_tokens, batch_size):
        return [self.complete(messages, max_new_tokens=max_new_tokens) for messages in conversations]


def test_medgemma_is_scored_exactly_as_the_resident_by_its_box_centre_zone_and_iou(pool):
    film = _pick(pool, "nodule")
    box = film.boxes[0].box
    place = drills.box_centre_zone(box, film.width, film.height)
    right = _Scripted("Abnormal: yes\nFinding: Nodule", to_box_2d(box, (film.width, film.height)))
    d = drills.Drill([film], right)
    mine = d.answer(True, "nodule", place)
    model = d.model_results[0]
    assert _marks(model) == _marks(mine) == (True, True, True) and model.zone == place
    assert model.iou == pytest.approx(1.0, abs=0.02)
    assert "Where is the nodule?" in right.asked[-1]  # localize asked for the finding MedGemma named
    mirrored = Box("", film.width - box.x1, box.y0, film.width - box.x0, box.y1)
    wrong = drills.ask_medgemma(film, _Scripted("Abnormal: yes\nFinding: Nodule",
                                                to_box_2d(mirrored, (film.width, film.height))))
    assert _marks(wrong) == _marks(drills.score(film, "you", True, "nodule", wrong.zone)) == (True, False, False)
    assert wrong.iou == 0.0
    no_box = drills.ask_medgemma(film, _Scripted("Abnormal: yes\nFinding: Nodule", None))
    assert _marks(no_box) == (True, False, False) and "no usable box" in " ".join(no_box.notes)
    other = drills.ask_medgemma(film, _Scripted("Abnormal: yes\nFinding: Mass", None))
    assert _marks(other) == (False, None, False) and other.not_verified == "mass" and other.box_missed is True
    said_normal = drills.ask_medgemma(film, _Scripted("Abnormal: no\nFinding: none", None))
    assert said_normal.box_missed is True and said_normal.box is None
    assert [row["reader"] for row in d.tally()] == [drills.YOU, drills.MEDGEMMA]


class _Failing(_Scripted):
    """A model whose every call fails as a real one can (out of memory), not with MedGemma's own errors."""

    def complete(self, messages, *, max_new_tokens, on_text=None):
        raise RuntimeError("CUDA out of memory")


def test_a_model_failure_of_any_kind_is_a_note_and_each_film_gets_one_result_per_reader(pool):
    films = [_pick(pool, "nodule"), _pick(pool, None)]
    d = drills.Drill(films, _Failing("", None))
    d.answer(True, "nodule", "right upper")
    assert len(d.results) == len(d.model_results) == 1 and d.current is films[1]
    note = d.model_results[0].notes[0]
    assert note.startswith("MedGemma could not answer") and "out of memory" in note
    assert d.model_results[0].box_missed is None  # nothing said: nothing marked
    d.build_widgets()  # MedGemma starts on the second film in the background, and fails there
    d._call.value = drills.NONE_OF_THESE
    d._commit_clicked()
    assert "could not answer" in d._reveal.value and "out of memory" in d._reveal.value
    assert [r.film for r in d.results] == [r.film for r in d.model_results] == films and d.current is None


def test_model_text_is_escaped_in_the_reveal(pool):
    result = drills.ask_medgemma(_pick(pool, None), _Scripted("<script>x</script> Abnormal: no", None))
    html = drills.result_html([result])
    assert "<script>" not in html and "&lt;script&gt;" in html and result.disagrees_with_label is False


def test_the_tiny_model_answers_every_film_through_the_real_path(pool, tiny_model):
    d = drills.Drill([_pick(pool, "cardiomegaly"), _pick(pool, None)], tiny_model)
    d.answer(True, "cardiomegaly", "heart and mediastinum")
    d.answer(False)
    assert [r.reader for r in d.model_results] == [drills.MEDGEMMA] * 2
    assert all(r.answer_text for r in d.model_results)
    assert len(d.tally()) == 4


def test_without_a_model_only_the_resident_is_scored(pool):
    d = drills.Drill([_pick(pool, "cardiomegaly")])
    d.answer(True, "cardiomegaly", "heart and mediastinum")
    assert d.model_results == []


# ---------------------------------------------------------------- saving, review


def test_a_saved_drill_is_read_by_the_drill_review_and_skipped_by_the_read_review(tmp_path, capsys):
    d = drills.Drill([_film(("Cardiomegaly", (300, 400, 700, 800))), _film(image="00000001_000.png")])
    d.answer(True, "cardiomegaly", "left lower")
    d.answer(True, "nodule", "left upper")
    path = d.save("Resident <A>", tmp_path)
    record = json.loads(path.read_text())
    assert record["alias"] == "Resident <A>" and len(record["rows"]) == 2
    assert path.name == "drill_resident-a-" + hashlib.sha256(b"resident <a>").hexdigest()[:8] + ".json"
    rows = drill_review(tmp_path, aliases=True)
    assert rows == [{"resident": "Resident <A>", "reader": "you", "boxed films right": "0 of 1",
                     "findings right": "1 of 1", "places right": "0 of 1", "boxes missed": "0 of 1",
                     "disagrees with the report's label": "1 of 1"}]
    assert class_review(tmp_path, aliases=True) == []
    assert "a saved drill, not a read" in capsys.readouterr().out
    (tmp_path / "old.json").write_text(json.dumps({"format": DRILL_RECORD_FORMAT, "format_version": 1,
                                                   "alias": "B", "rows": []}))
    assert len(drill_review(tmp_path, aliases=True)) == 1 and "earlier scoring rules" in capsys.readouterr().out


def _key(path: Path) -> list[tuple[str, str]]:
    assert oct(path.stat().st_mode & 0o777) == "0o600"  # the teacher's eyes only
    with open(path, newline="", encoding="utf-8") as table:
        return [(row["pseudonym"], row["alias"]) for row in csv.DictReader(table)]


def test_both_reviews_show_pseudonyms_and_keep_aliases_and_residents_file_names_in_a_private_key(
        tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    reads = tmp_path / "reads"
    d = drills.Drill([_film(("Cardiomegaly", (300, 400, 700, 800)))])
    d.answer(True, "cardiomegaly", "heart and mediastinum")
    saved = d.save("Zoe Quill", reads)
    (reads / "drill_zoe-quill-old.json").write_text(json.dumps({"format": DRILL_RECORD_FORMAT, "format_version": 1,
                                                                "alias": "Zoe Quill", "rows": []}))
    rows = drill_review(reads)
    assert [r["resident"] for r in rows] == ["Resident 1"]
    assert class_review(reads) == []  # no saved read at all: its notes name the drills' files, so they go to its key
    printed = capsys.readouterr().out
    assert "zoe" not in printed.casefold() and "quill" not in printed.casefold()
    assert "drill_review_key.csv" in printed and "class_review_key.csv" in printed
    key = _key(tmp_path / "drill_review_key.csv")
    assert ("Resident 1", "Zoe Quill") in key and any(p == "note" and "drill_zoe-quill-old.json" in a for p, a in key)
    assert [a for p, a in _key(tmp_path / "class_review_key.csv") if p == "note" and saved.name in a]
    assert drill_review(reads, aliases=True)[0]["resident"] == "Zoe Quill"
    assert "drill_zoe-quill-old.json" in capsys.readouterr().out


# ---------------------------------------------------------------- notebook 13


def _outputs(path: Path) -> tuple[str, int]:
    notebook = nbformat.read(path, as_version=4)
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    text = "\n".join("".join(o.get("text", "")) + "".join(
        v if isinstance(v, str) else "".join(v) for m, v in o.get("data", {}).items() if m.startswith("text/"))
        for o in outputs)
    return text, sum("image/png" in o.get("data", {}) for o in outputs)


def test_notebook_13_draws_with_the_seed_a_class_pack_records():
    assert f"SEED, FILMS = {drills.NOTEBOOK_SEED}, None" in NOTEBOOK.read_text()
    assert f"n={drills.NOTEBOOK_N}," in NOTEBOOK.read_text()


def test_notebook_13_runs_headless_with_the_films_boxes_and_tally(case_environment, tmp_path, monkeypatch):
    for name, value in case_environment.items():
        monkeypatch.setenv(name, value)
    [result] = notebooks.execute_notebooks(tmp_path, [NOTEBOOK], timeout=600)
    assert result["error"] is None
    text, pngs = _outputs(result["executed"])
    assert pngs >= 10  # every film, with its reference box drawn
    assert "mh-drill-reveal" in text and "mh-drill-summary" in text and "data:image/png;base64," in text
    assert "not a diagnostic tool" in text and "NIH Clinical Center" in NOTEBOOK.read_text()
    assert "MedGemma" in text and "boxed films right" in text and "text-mined" in text


def _clean_environment(case_environment: dict[str, str]) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("MEDGEMMA_", "HF_TOKEN", "HUGGING_FACE"))}
    env.update(case_environment, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false",
               MEDGEMMA_PACK_PACE="0")
    return env


def test_notebook_13_runs_from_a_class_pack_without_the_model(case_environment, tmp_path, monkeypatch):
    env = _clean_environment(case_environment)
    pack = tmp_path / "class.pack"
    done = subprocess.run([sys.executable, "-m", "medgemma_helpers", "pack", "--out", str(pack), "--allow-cpu"],
                          cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    for name in ("MEDGEMMA_IMAGE_MIRROR", "MEDGEMMA_CASES_DIR"):
        monkeypatch.setenv(name, case_environment.get(name, ""))
    shown = drills.notebook_films()
    labels = {entry["label"] for entry in json.loads(pack.read_text())["entries"]}
    assert {f"notebook 13: drill film {film.image}" for film in shown} <= labels and len(shown) == drills.NOTEBOOK_N
    env.pop("MEDGEMMA_MODEL_ID")
    env.pop("MEDGEMMA_IMAGE_MIRROR", None)  # the pack carries the films it recorded
    env["MEDGEMMA_PACK"] = str(pack)
    done = subprocess.run([sys.executable, "-m", "medgemma_helpers", "notebooks", "--out", str(tmp_path / "run"),
                           "--only", "13"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    text, pngs = _outputs(tmp_path / "run" / NOTEBOOK.name)
    assert "recorded on CPU" in text and "MedGemma could not answer" not in text
    assert pngs >= 10 and "mh-drill-summary" in text
