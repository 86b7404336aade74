"""End to end in a real browser: JupyterLab runs notebook 11 with a teacher's round file; a resident reads, reveals,
sees the read shown with nothing scored and no key anywhere on the page, revises, and only then sees the key, every
read scored, the change per finding and the disclosure at the end.

Uses the JupyterLab and Playwright helpers of test_browser.py (skipped or failed the same way without a browser).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from test_browser import (  # noqa: F401 - browser is a fixture
    _OVERFLOWING_JS,
    REVEAL_S,
    REVEALED_SELECTORS,
    _screenshot,
    browser,
    notebook_after_run_all,
)

from medgemma_helpers import load_case, revisions

NOTEBOOK = "notebooks/11_when_to_trust_medgemma.ipynb"
FIRST_READ = "Moderate right pleural effusion with a meniscus. No pneumothorax. A catheter over the right chest."
REVISED_READ = ("Moderate right pleural effusion with a meniscus. Small right apical pneumothorax. A catheter over the "
                "right chest.")
# The teacher's round: the film's findings, and one invented (a pneumothorax).
PLANTED = ("Moderate right pleural effusion. A catheter projects over the right chest. Small right apical "
           "pneumothorax along the visceral pleural line.")
# What shows the key, a score or the round's disclosure: none may be on the page before the decision.
KEY_OR_VERDICT = (*REVEALED_SELECTORS, ".mh-contexts", ".mh-class-review", ".mh-revision", ".mh-planted-note")
VERDICT_WORDS = re.compile(r"✓|✗|\b(agrees?|disagrees?|wrong side|missed|misled|corrected|over-called|edited|"
                           r"teacher|answer key vs|Score)\b", re.IGNORECASE)
# The outputs' text, where a verdict would show (the notebook's own markdown explains the words, so it is left out).
_OUTPUTS_TEXT_JS = "() => [...document.querySelectorAll('.jp-OutputArea-output')].map(o => o.innerText).join('\\n')"


@pytest.fixture(scope="module")
def stages(browser, case_environment, tmp_path_factory) -> Iterator[dict]:  # noqa: F811
    """Notebook 11 after Run All with a round file: the page before Reveal, at stage 1, and after Revise my read."""
    from playwright.sync_api import expect

    workdir = tmp_path_factory.mktemp("browser-trust")
    round_file = workdir / "round.yaml"
    round_file.write_text(f"'03': |\n  {PLANTED}\n")
    environment = {**case_environment, revisions.ROUND_ENV: str(round_file)}
    with notebook_after_run_all(browser, environment, workdir, NOTEBOOK, "notebook11") as page:
        notebook = page.locator(".jp-Notebook")
        seen: dict = {"page": page}
        seen["before"] = {selector: notebook.locator(selector).count() for selector in KEY_OR_VERDICT}
        quiz = page.locator(".jp-OutputArea-output").filter(
            has=page.locator("button.jupyter-button", has_text="Reveal"))
        expect(quiz).to_have_count(1)
        seen["quiz"] = quiz
        revise_button = quiz.locator("button.jupyter-button", has_text="Revise my read")
        seen["decide_visible_before"] = revise_button.is_visible()
        first_box = quiz.locator(".widget-textarea textarea").first
        first_box.fill(FIRST_READ)
        first_box.blur()
        quiz.locator("button.jupyter-button", has_text="Reveal").click()
        quiz.locator(".mh-first-look").wait_for(timeout=REVEAL_S * 1000)
        expect(revise_button).to_be_visible()
        page.wait_for_timeout(1500)  # anything the reveal wrongly filled in would be on the page by now
        seen["stage1"] = {selector: notebook.locator(selector).count() for selector in KEY_OR_VERDICT}
        seen["stage1_words"] = VERDICT_WORDS.findall(page.evaluate(_OUTPUTS_TEXT_JS))
        seen["stage1_text"] = quiz.locator(".mh-first-look").inner_text()
        seen["stage1_headings"] = quiz.locator(".mh-first-look h4").all_inner_texts()
        _screenshot(page, workdir / "notebook11-stage1.png")
        revise_box = quiz.locator(".widget-textarea textarea").last
        expect(revise_box).to_have_value(FIRST_READ)  # the revision starts from the first read
        revise_box.fill(REVISED_READ)
        revise_box.blur()
        revise_button.click()
        quiz.locator(".mh-revision").wait_for(timeout=REVEAL_S * 1000)
        _screenshot(page, workdir / "notebook11-revised.png")
        seen["first_box"] = first_box
        yield seen


def test_run_all_reveals_nothing_before_the_first_read(stages):
    assert stages["before"] == {selector: 0 for selector in KEY_OR_VERDICT}
    assert not stages["decide_visible_before"]  # no decision before a first read


def test_after_reveal_the_page_shows_the_read_shown_and_neither_key_nor_verdict(stages):
    assert stages["stage1"] == {selector: 0 for selector in KEY_OR_VERDICT}
    assert stages["stage1_words"] == []
    assert FIRST_READ in stages["stage1_text"] and "visceral pleural line" in stages["stage1_text"]
    assert stages["stage1_headings"] == ["Your read", "The read shown to you"]  # the same title as MedGemma's own


def test_after_revise_the_key_and_every_read_scored_are_on_the_page(stages):
    from playwright.sync_api import expect

    quiz = stages["quiz"]
    expect(quiz.locator(".medgemma-answer-key")).to_have_count(1)
    expect(quiz.locator(".mh-concordance")).to_have_count(3)  # first read, revised read, the read shown
    misled = quiz.locator(".mh-revision tr.mh-change-misled")
    expect(misled).to_have_count(1)
    expect(misled).to_contain_text("pneumothorax")
    unchanged = len(load_case("03").answer_key.findings) - 1  # every finding but the misled one kept its verdict
    expect(quiz.locator(".mh-revision tr.mh-change-none")).to_have_count(unchanged)
    expect(stages["first_box"]).to_have_value(FIRST_READ)
    expect(quiz.locator(".mh-comparison")).to_contain_text(FIRST_READ)
    expect(quiz.locator("button.jupyter-button", has_text="Revise my read")).to_have_count(0)  # decided: no more
    # three reads, each with its table: none spills over another or past the notebook's edge
    overflowing = quiz.locator(".mh-comparison").evaluate(_OVERFLOWING_JS)
    assert not overflowing, "the comparison overflows the notebook width:\n" + "\n".join(overflowing)


def test_the_round_is_disclosed_at_the_end_naming_the_change_and_never_called_medgemmas(stages):
    from playwright.sync_api import expect

    quiz = stages["quiz"]
    note = quiz.locator(".mh-planted-note")
    expect(note).to_contain_text("This read was edited by your teacher")
    expect(note).to_contain_text("What your teacher changed: pneumothorax")
    last = quiz.locator(".widget-html .mh-revision").locator("xpath=..").evaluate(
        "node => node.lastElementChild.className")
    assert last == "mh-planted-note"  # the disclosure is the last thing the key shows
    title = re.compile(r"^\s*The read shown to you \(edited by your teacher\)\s*$")
    expect(quiz.locator("h4", has_text=title)).to_have_count(1)
    assert not quiz.locator("h4").filter(has_text="MedGemma").count()


def test_the_decision_fills_in_the_contexts_and_the_class_round(stages):
    from playwright.sync_api import expect

    notebook = stages["page"].locator(".jp-Notebook")
    expect(notebook.locator(".mh-contexts")).to_have_count(1, timeout=REVEAL_S * 1000)
    expect(notebook.locator(".mh-contexts .mh-concordance")).to_have_count(3)
    expect(notebook.locator(".mh-class-review")).to_have_count(1, timeout=REVEAL_S * 1000)
    expect(notebook.locator(".mh-class-review")).to_contain_text("Misled on pneumothorax")
