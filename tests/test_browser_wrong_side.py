"""A wrong side in a real browser: JupyterLab runs case 03's notebook, a resident reads its right effusion as left.

The page must say "wrong side" in the resident's table, never ✓, and the score must not count it. The JupyterLab
and Playwright helpers are test_browser.py's (Debian's chromium; skipped off CI without it).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from test_browser import _screenshot, browser, notebook_after_run_all  # noqa: F401 - a fixture

from medgemma_helpers.cases import load_case
from medgemma_helpers.notebooks import notebook_name

# The key's effusion is on the right; everything else in this read agrees with the key.
LEFT_READ = ("Large left pleural effusion with a meniscus. No pneumothorax. "
             "A central venous catheter projects over the right hemithorax.")
REVEAL_S = 120


@pytest.fixture(scope="module")
def resident_table(browser, case_environment, tmp_path_factory) -> Iterator[object]:  # noqa: F811
    """Case 03's notebook after Run All, the left-sided read typed and revealed: the resident's concordance table."""
    from playwright.sync_api import expect

    notebook = f"notebooks/{notebook_name(load_case('03'))}"
    workdir = tmp_path_factory.mktemp("browser-wrong-side")
    with notebook_after_run_all(browser, case_environment, workdir, notebook, "notebook03") as page:
        quiz = page.locator(".jp-OutputArea-output").filter(
            has=page.locator("button.jupyter-button", has_text="Reveal"))
        expect(quiz).to_have_count(1)
        textarea = quiz.locator(".widget-textarea textarea").first
        textarea.fill(LEFT_READ)
        textarea.blur()
        quiz.locator("button.jupyter-button", has_text="Reveal").click()
        keep = quiz.locator("button.jupyter-button", has_text="Keep my read")  # stage 1, then the key
        keep.wait_for(timeout=REVEAL_S * 1000)
        keep.click()
        quiz.locator(".mh-concordance").first.wait_for(timeout=REVEAL_S * 1000)
        table = quiz.locator(".mh-concordance").first  # the resident's read comes first
        table.scroll_into_view_if_needed()
        _screenshot(page, workdir / "notebook03-wrong-side.png")
        yield table


def test_a_left_effusion_read_of_case_03_shows_wrong_side_on_the_page(resident_table):
    from playwright.sync_api import expect

    effusion = resident_table.locator("tr", has_text="pleural effusion").first
    expect(effusion).to_contain_text("wrong side: read left, key right")
    expect(effusion).not_to_contain_text("✓")
    assert "mh-wrong_side" in (effusion.get_attribute("class") or "")


def test_the_wrong_side_is_not_counted_in_the_score_or_the_tally(resident_table):
    text = resident_table.inner_text()
    score = re.search(r"Score: (\d+) / (\d+)", text)
    assert score, text
    agreeing, total = int(score.group(1)), int(score.group(2))
    assert agreeing < total
    assert re.search(r"wrong side 1\b", text), text
