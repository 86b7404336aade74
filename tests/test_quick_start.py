"""Notebook 00: its plain-transformers cell runs alone, sends the MedGemma 1.5 model card's message, and agrees
with mh.analyze; an unclosed thinking trace reads as no answer yet in both."""

from __future__ import annotations

import json
import textwrap

import pytest

import medgemma_helpers as mh
from medgemma_helpers.asking import NO_ANSWER_YET, QUICK_START_MAX_NEW_TOKENS, QUICK_START_QUESTION, findings_html
from medgemma_helpers.notebooks import NOTEBOOKS_DIR


def _plain_cell() -> str:
    notebook = json.loads((NOTEBOOKS_DIR / "00_quick_start.ipynb").read_text(encoding="utf-8"))
    [cell] = ["".join(c["source"]) for c in notebook["cells"]
              if c["cell_type"] == "code" and "AutoModelForImageTextToText.from_pretrained" in "".join(c["source"])]
    return cell


def test_the_plain_cell_sends_the_model_cards_message_with_no_system_turn_and_2000_tokens():
    cell = _plain_cell()
    assert "import medgemma_helpers" not in cell and "mh." not in cell  # it borrows nothing from the helper
    assert '{"type": "image", "image": image},' in cell and f'"text": "{QUICK_START_QUESTION}"' in cell
    assert cell.index('"type": "image"') < cell.index('"type": "text"') and '"system"' not in cell
    assert f"max_new_tokens={QUICK_START_MAX_NEW_TOKENS}" in cell and "do_sample=False" in cell
    assert QUICK_START_QUESTION == "Describe this X-ray" and QUICK_START_MAX_NEW_TOKENS == 2000


def test_the_plain_cell_run_alone_on_the_tiny_checkpoint_gives_the_helpers_text(tiny_model_dir, tiny_model,
                                                                               two_xrays, monkeypatch):
    for name in ("MEDGEMMA_PACK", "MEDGEMMA_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MEDGEMMA_MODEL_ID", str(tiny_model_dir))
    image = two_xrays[0]
    namespace: dict = {"image": image}
    exec(compile(_plain_cell(), "notebook 00, plain transformers", "exec"), namespace)  # noqa: S102
    assert namespace["dtype_keyword"] in ("dtype", "torch_dtype")
    findings = mh.analyze(image, QUICK_START_QUESTION, model=tiny_model, max_new_tokens=QUICK_START_MAX_NEW_TOKENS,
                          stream=False)
    helper_answer = NO_ANSWER_YET if findings.still_thinking else findings.text
    assert namespace["plain_answer"] == helper_answer
    assert "hf_model" not in namespace  # the plain copy is freed before the helper loads its own


@pytest.mark.parametrize(("raw", "answer"), [
    ("<unused94>thought\nThe lungs look", NO_ANSWER_YET),
    ("<unused94>thought\nCheck the lungs.<unused95>The lungs are clear.", "The lungs are clear."),
    ("The lungs are clear.", "The lungs are clear."),
])
def test_an_unclosed_trace_reads_no_answer_yet_in_the_plain_cell_and_through_the_helper(raw, answer):
    cell = _plain_cell()
    start = cell.index("    thinking, closed, plain_answer")
    end = cell.index("    print(plain_answer)")
    namespace = {"raw": raw}
    exec(textwrap.dedent(cell[start:end]), namespace)  # noqa: S102 - the cell's own trace handling
    assert namespace["plain_answer"] == answer
    findings = mh.Findings(*mh.asking.split_thinking(raw), prompt="q", model_name="m", prompt_tokens=1,
                           new_tokens=5, seconds=1.0, max_new_tokens=QUICK_START_MAX_NEW_TOKENS)
    assert (NO_ANSWER_YET if findings.still_thinking else findings.text) == answer
    if answer == NO_ANSWER_YET:
        shown = findings_html(findings)
        assert "No answer yet" in shown and "Give it more room" in shown
