"""The drill in a real browser: JupyterLab runs notebook 13, a resident commits a call, a finding and a zone on the
first film, sees the radiologist's box and the marks, and moves on to the next film.

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
    """The film the notebook shows first (the same seed and list as the notebook's own cell)."""
    return drills.drill(n=10, seed=SEED).films[0]


@pytest.fixture(scope="module")
def drilled(browser, case_environment, first_film, tmp_path_factory) -> Iterator[dict]:  # noqa: F811
    """Notebook 13 after Run All, and the first film committed and revealed through the widgets."""
    from playwright.sync_api import expect

    assert first_film.boxed, "the notebook's seed should start on a boxed film"
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
        drill.locator("button", has_text=re.compile(r"^\s*Abnormal\s*$")).click()
        drill.locator("select").select_option(first_film.finding)
        drill.locator("button", has_text=re.compile(rf"^\s*{first_film.zones[-1]}\s*$")).click()
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


def test_the_committed_call_finding_and_zone_are_marked_right_beside_medgemma(drilled, first_film):
    marks = drilled["marks"]
    assert set(marks) == {"you", "MedGemma"}  # the tiny stand-in answers as MedGemma
    assert f"abnormal: {first_film.finding}, {first_film.zones[-1]}" in marks["you"]
    # finding right, place right, normal film not scored, film right
    assert re.search(r"right\s+right\s+not scored\s+right", marks["you"]), marks["you"]
    assert "films right" in drilled["tally"] and "1 of 1" in drilled["tally"]


def test_the_reveal_draws_the_box_on_the_film_and_next_moves_on(drilled):
    assert drilled["film_src"] and drilled["revealed_src"] and drilled["revealed_src"] != drilled["film_src"]
    assert drilled["after_next"] == 0
