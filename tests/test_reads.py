"""How a read is shown: structured-report headings as MedGemma writes them, and a trace cut off by the budget."""

from __future__ import annotations

import re

import medgemma_helpers as mh
from medgemma_helpers import asking, reports, walkthrough

# Written for this test in the shape of MedGemma 1.5's markdown reads: headings of its own choosing.
MEDGEMMA_STYLE = """Here is my read.

**Overall Impression:**

An abnormal chest radiograph.

**Specific Findings:**

*   **Heart Size:** The heart size appears mildly enlarged.
*   **Heart/Mediastinum:** The mediastinal contours are normal.
*   **Right Lung:** Patchy opacity in the lower zone.
*   **Pleura:** Small right effusion.
*   **Support Devices:** A central venous catheter, tip in the SVC.
*   **Osseous Structures:** Intact.

**Potential Issues/Observations:**

*   The film is rotated.

**Disclaimer:** I am an AI model; a radiologist must review this.

**Recommendation:**

Follow-up radiograph after treatment.
The heart is enlarged: see above.
"""


def test_real_headings_land_in_their_sections_and_unknown_ones_stand_alone():
    report = reports.parse_report(MEDGEMMA_STYLE)
    assert list(report)[:len(reports.REPORT_SECTIONS)] == list(reports.REPORT_SECTIONS)
    assert report["Heart and mediastinum"] == ("The heart size appears mildly enlarged. "
                                               "The mediastinal contours are normal.")
    assert report["Lungs and pleura"] == "Patchy opacity in the lower zone. Small right effusion."
    assert report["Lines and devices"] == "A central venous catheter, tip in the SVC."
    assert report["Bones and soft tissues"] == "Intact."
    # an unknown heading ends the section before it, instead of being swallowed by it
    assert report["Impression"] == "An abnormal chest radiograph."
    assert report["Potential Issues/Observations"] == "*   The film is rotated."
    assert report["Disclaimer"] == "I am an AI model; a radiologist must review this."
    # a sentence with a colon is not a heading
    assert report["Recommendation"] == "Follow-up radiograph after treatment.\nThe heart is enlarged: see above."
    assert "Specific Findings" not in report  # a heading with nothing under it adds nothing


def test_unknown_headings_are_shown_and_escaped_in_the_report_table():
    report = reports.parse_report("**Lungs:** Clear.\n**Disclaimer:** <script>alert(1)</script>")
    markup = reports.report_html(report)
    assert "Disclaimer" in markup and "<script>" not in markup and "&lt;script&gt;" in markup


def _cut_off(raw: str, budget: int) -> mh.Findings:
    answer, thinking = mh.split_thinking(raw)
    return mh.Findings(text=answer, thinking=thinking, prompt="q", model_name="m", prompt_tokens=3,
                       new_tokens=budget, seconds=1.0, max_new_tokens=budget)


def test_a_trace_cut_off_by_the_budget_says_so_and_how_to_give_more_room(capsys):
    findings = _cut_off("<unused94>thought\nThe heart looks large; the costophrenic angles", 1024)
    assert findings.still_thinking and findings.text == ""
    page = mh.asking.findings_html(findings)
    assert "still thinking" in page and "max_new_tokens=" in page and "(empty answer)" not in page
    assert "The heart looks large" in page  # the reasoning so far stays readable in the trace
    mh.show_findings(findings)  # a terminal gets the same advice
    printed = capsys.readouterr().out
    assert "still thinking when it reached its limit of 1024 new tokens" in printed
    assert int(re.search(r"max_new_tokens=(\d+)", printed).group(1)) > 1024
    finished = _cut_off("<unused94>thought\nreasoning<unused95>Normal chest.", 1024)
    assert not finished.still_thinking and "still thinking" not in mh.asking.findings_html(finished)


def test_a_question_without_an_image_gets_room_to_think(tiny_model, monkeypatch):
    asked: list[int] = []
    real_generate = tiny_model.model.generate

    def spy(*args, **kwargs):
        asked.append(kwargs["max_new_tokens"])
        return real_generate(*args, **kwargs)

    monkeypatch.setattr(tiny_model.model, "generate", spy)
    monkeypatch.setattr(walkthrough, "THINKING_MAX_NEW_TOKENS", 9)
    monkeypatch.setattr(walkthrough, "DEFAULT_MAX_NEW_TOKENS", 5)
    mh.run_case("06", tiny_model, stream=False, prompt="What is the most likely diagnosis? (room test)")
    assert asked == [9]
    assert asking.thinking_likely("You are an expert radiologist.", 1) is False
    assert asking.thinking_likely("SYSTEM_INSTRUCTION: think silently if needed.", 1) is True
    assert asking.thinking_likely(None, 0) is True
