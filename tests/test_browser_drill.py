"""The drill in a real browser: JupyterLab runs notebook 13, a resident commits a finding (or none of these
findings) and a zone on the first film, sees the radiologist's box and the marks, and moves on to the next film.

The JupyterLab and Playwright helpers are test_browser.py's (Debian's chromium; skipped off CI without it).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from test_browser import _screenshot, browser, notebook_after_run_all  # noqa: F401 - a fixture

from medgemma_helpers import drills

NOTEBOOK = "notebooks/13_find_it_drill.ipynb"
SEED = 2026  # the notebook's seed: the test knows which film comes first
REVEAL_S = 120


@pytest.fixture(scope="module")
def first_film(case_environment) -> drills.Film:
    """The film the notebook shows first (the same seed, list and mirror as the notebook's own cell)."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in case_environment.items():
            patch.setenv(name, value)
        return drills.drill(n=10, seed=SEED).films[0]


@pytest.fixture(scope="module")
def committed(first_film) -> tuple[str, str | None]:
    """What the resident commits on the first film: its boxed finding in a right zone, or none of these findings."""
    if not first_film.boxed:
        return drills.NONE_OF_THESE, None
    finding, box = first_film.findings[0], first_film.boxes[0].box
    zones = drills.right_zones(finding, box, first_film.width, first_film.height) or ("right upper",)  # diffuse
    return finding, zones[0]


@pytest.fixture(scope="module")
def drilled(browser, case_environment, committed, tmp_path_factory) -> Iterator[dict]:  # noqa: F811
    """Notebook 13 after Run All, and the first film committed and revealed through the widgets."""
    from playwright.sync_api import expect

    call, zone = committed
    workdir = tmp_path_factory.mktemp("browser-drill")
    with notebook_after_run_all(browser, case_environment, workdir, NOTEBOOK, "drill", height=2000) as page:
        notebook = page.locator(".jp-Notebook")
        before = notebook.locator(".mh-drill-reveal").count()
        drill = page.locator(".jp-OutputArea-output").filter(
            has=page.locator("button.jupyter-button", has_text="Commit and reveal"))
        expect(drill).to_have_count(1)
        expect(drill).to_contain_text("Film 1 of 10")
        expect(drill).to_contain_text("the patient's right is on your left")
        film_src = drill.locator("img").first.get_attribute("src")
        drill.locator("select").select_option(call)
        if zone is not None:
            drill.locator("button", has_text=re.compile(rf"^\s*{zone}\s*$")).click()
        drill.locator("button.jupyter-button", has_text="Commit and reveal").click()
        reveal = drill.locator(".mh-drill-reveal")
        reveal.wait_for(timeout=REVEAL_S * 1000)
        _screenshot(page, workdir / "drill-revealed.png")
        marks = {row.locator("td").first.inner_text().strip(): row.inner_text()
                 for row in reveal.locator("tbody tr").all()}
        revealed_src = drill.locator("img").first.get_attribute("src")
        tally = drill.locator(".mh-drill-tally").inner_text()
        drill.locator("button.jupyter-button", has_text="Next film").click()
        expect(drill).to_contain_text("Film 2 of 10")
        after_next = drill.locator(".mh-drill-reveal").count()
        yield {"before": before, "marks": marks, "film_src": film_src, "revealed_src": revealed_src,
               "tally": tally, "after_next": after_next}


def test_nothing_is_revealed_before_the_resident_commits(drilled):
    assert drilled["before"] == 0


def test_the_committed_finding_and_zone_are_marked_beside_medgemma(drilled, first_film, committed):
    marks = drilled["marks"]
    assert set(marks) == {"you", "MedGemma"}  # the tiny stand-in answers as MedGemma
    call, zone = committed
    expected = drills.score(first_film, "you", call != drills.NONE_OF_THESE, zone and call, zone)
    assert drills._said(expected) in marks["you"]
    # finding, place and film marks, then the report's label (only a "No Finding" film has one)
    cells = [drills._mark(v) for v in (expected.finding_right, expected.place_right, expected.film_right)]
    assert re.search(r"\s+".join([*cells, re.escape(drills._label_mark(expected))]), marks["you"]), marks["you"]
    if first_film.boxed:
        assert expected.finding_right and expected.place_right is not False and expected.film_right
        assert "boxed films right" in drilled["tally"] and "1 of 1" in drilled["tally"]


def test_the_reveal_draws_the_box_on_the_film_and_next_moves_on(drilled):
    assert drilled["film_src"] and drilled["revealed_src"] and drilled["revealed_src"] != drilled["film_src"]
    assert drilled["after_next"] == 0
