"""End to end in a real browser: JupyterLab runs notebook 11, a resident reads, reveals a teacher's planted read,
revises, and sees per finding what changed, with the disclosure at the end.

Uses the JupyterLab and Playwright helpers of test_browser.py (skipped or failed the same way without a browser).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from test_browser import (  # noqa: F401 - browser is a fixture
    REVEAL_S,
    REVEALED_SELECTORS,
    _screenshot,
    browser,
    notebook_after_run_all,
)

NOTEBOOK = "notebooks/11_when_to_trust_medgemma.ipynb"
FIRST_READ = "Moderate right pleural effusion with a meniscus. No pneumothorax. A catheter over the right chest."
REVISED_READ = ("Moderate right pleural effusion with a meniscus. Small right apical pneumothorax. A catheter over the "
                "right chest.")
# What shows only after the reveal in this notebook: the reads, the key, the three contexts, the class's round.
HIDDEN_UNTIL_REVEAL = (*REVEALED_SELECTORS, ".mh-contexts", ".mh-class-review", ".mh-revision", ".mh-planted-note")


@pytest.fixture(scope="module")
def revised(browser, case_environment, tmp_path_factory) -> Iterator[dict]:  # noqa: F811
    """Notebook 11 after Run All, a typed read, Reveal, a revised read and Revise my read."""
    from playwright.sync_api import expect

    workdir = tmp_path_factory.mktemp("browser-trust")
    with notebook_after_run_all(browser, case_environment, workdir, NOTEBOOK, "notebook11") as page:
        notebook = page.locator(".jp-Notebook")
        before = {selector: notebook.locator(selector).count() for selector in HIDDEN_UNTIL_REVEAL}
        quiz = page.locator(".jp-OutputArea-output").filter(
            has=page.locator("button.jupyter-button", has_text="Reveal"))
        expect(quiz).to_have_count(1)
        revise_button = quiz.locator("button.jupyter-button", has_text="Revise my read")
        revise_visible_before = revise_button.is_visible()
        first_box = quiz.locator(".widget-textarea textarea").first
        first_box.fill(FIRST_READ)
        first_box.blur()
        quiz.locator("button.jupyter-button", has_text="Reveal").click()
        quiz.locator(".mh-concordance").first.wait_for(timeout=REVEAL_S * 1000)
        expect(revise_button).to_be_visible()
        revise_box = quiz.locator(".widget-textarea textarea").last
        expect(revise_box).to_have_value(FIRST_READ)  # the revision starts from the first read
        revise_box.fill(REVISED_READ)
        revise_box.blur()
        revise_button.click()
        quiz.locator(".mh-revision").wait_for(timeout=REVEAL_S * 1000)
        _screenshot(page, workdir / "notebook11-revised.png")
        yield {"page": page, "quiz": quiz, "before": before, "revise_visible_before": revise_visible_before,
               "first_box": first_box}


def test_run_all_reveals_nothing_before_the_first_read(revised):
    assert revised["before"] == {selector: 0 for selector in HIDDEN_UNTIL_REVEAL}
    assert not revised["revise_visible_before"]  # no revision before a first read


def test_the_revision_table_shows_the_change_and_the_first_read_stays(revised):
    from playwright.sync_api import expect

    quiz = revised["quiz"]
    misled = quiz.locator(".mh-revision tr.mh-change-misled")
    expect(misled).to_have_count(1)
    expect(misled).to_contain_text("pneumothorax")
    expect(quiz.locator(".mh-revision tr.mh-change-none")).to_have_count(3)
    expect(revised["first_box"]).to_have_value(FIRST_READ)
    expect(quiz.locator(".mh-comparison")).to_contain_text(FIRST_READ)


def test_the_planted_read_is_disclosed_at_the_end_and_never_called_medgemmas(revised):
    from playwright.sync_api import expect

    quiz = revised["quiz"]
    expect(quiz.locator(".mh-planted-note")).to_contain_text("This read was edited by your teacher")
    # the disclosure is the last thing the reveal shows
    last = quiz.locator(".widget-html .mh-revision").locator("xpath=..").evaluate(
        "node => node.lastElementChild.className")
    assert last == "mh-planted-note"
    title = re.compile(r"^\s*The read shown to you \(edited by your teacher\)\s*$")
    expect(quiz.locator("h4", has_text=title)).to_have_count(1)
    assert not quiz.locator("h4").filter(has_text="MedGemma").count()


def test_the_reveal_fills_in_the_contexts_and_the_class_round(revised):
    from playwright.sync_api import expect

    notebook = revised["page"].locator(".jp-Notebook")
    expect(notebook.locator(".mh-contexts")).to_have_count(1, timeout=REVEAL_S * 1000)
    expect(notebook.locator(".mh-contexts .mh-concordance")).to_have_count(3)
    expect(notebook.locator(".mh-class-review")).to_have_count(1, timeout=REVEAL_S * 1000)
    expect(notebook.locator(".mh-class-review")).to_contain_text("Misled on pneumothorax")
