"""The command line: the README's main command, one case in a terminal, any image, the all-cases summary."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import PROJECT_ROOT, project_files

import medgemma_helpers as mh


def _run(arguments: list[str], environment: dict[str, str], timeout: int = 300) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MEDGEMMA", "HF_TOKEN", "HUGGING_FACE"))}
    env.update(environment, HF_HUB_OFFLINE="1", PYTHONPATH=str(PROJECT_ROOT))
    return subprocess.run([sys.executable, "-m", "medgemma_helpers", *arguments], env=env, capture_output=True,
                          text=True, timeout=timeout, cwd=PROJECT_ROOT)


def test_main_command_without_token_or_gpu_says_what_is_missing(tmp_path):
    result = _run(["notebooks", "--out", str(tmp_path / "out")], {"HF_HOME": str(tmp_path)})
    assert result.returncode == 2
    assert "HF_TOKEN" in result.stderr and "accept" in result.stderr and "GPU" in result.stderr
    # Without a GPU: the ways that need none, and the switch to go on anyway.
    assert "class pack" in result.stderr and "MEDGEMMA_PACK=class.pack" in result.stderr
    assert "class server" in result.stderr and "--allow-cpu" in result.stderr
    assert not (tmp_path / "out").exists()


def test_run_one_case_in_the_terminal(case_environment):
    result = _run(["run", "03"], case_environment)
    assert result.returncode == 0, result.stderr
    case = mh.load_case("03")
    out = result.stdout
    assert case.history[:60] in out and "Prompt:" in out and "Answer key, case 03" in out
    # The loaded model's own size, not MedGemma's wait, for the tiny stand-in on the CPU.
    assert "M-parameter model is small enough" in out and "minutes per answer" not in out
    assert out.index("Prompt:") < out.index("Answer key") and "not a diagnostic tool" in out


def test_analyze_any_image_from_the_command_line(case_environment, tmp_path):
    from PIL import Image

    Image.new("L", (40, 60), 100).save(tmp_path / "film.png")
    result = _run(["analyze", str(tmp_path / "film.png"), "--prompt", "Describe this X-ray.", "--pad",
                   "--max-new-tokens", "6"], case_environment)
    assert result.returncode == 0, result.stderr
    assert "6 tokens" in result.stdout and "not a diagnostic tool" in result.stdout
    missing = _run(["analyze", str(tmp_path / "nope.png"), "--prompt", "x"], case_environment)
    assert missing.returncode == 2 and "nope.png" in missing.stderr and "does not exist" in missing.stderr


def test_summary_command_writes_table_chart_and_handouts_only_under_out(case_environment, tmp_path):
    before = project_files()
    result = _run(["summary", "--out", str(tmp_path), "--max-new-tokens", "4"], case_environment)
    assert result.returncode == 0, result.stderr
    assert {"summary.csv", "summary.png", "summary.html", "handouts"} <= {p.name for p in tmp_path.iterdir()}
    assert len(list((tmp_path / "handouts").glob("*.html"))) == 6
    assert project_files() == before
    # One batch figure, said the same way when asking and in the summary.
    assert "6 cases, 6 at a time" in result.stdout and "6 cases in 1 batch of up to 6" in result.stdout


@pytest.mark.parametrize("arguments", [["run", "42"], ["notebooks", "--only", "77"]])
def test_bad_arguments_are_clear(case_environment, tmp_path, arguments):
    result = _run(arguments + (["--out", str(tmp_path)] if arguments[0] == "notebooks" else []), case_environment)
    assert result.returncode == 2 and ("known cases" in result.stderr or "No notebook matches" in result.stderr)


def test_main_command_offline_from_the_hub_cache_needs_no_token(case_environment, hub_cache, tmp_path):
    environment = {k: v for k, v in case_environment.items() if k != "MEDGEMMA_MODEL_ID"}
    environment.update(HF_HUB_CACHE=str(hub_cache), HF_HOME=str(tmp_path / "home"))
    result = _run(["notebooks", "--out", str(tmp_path / "out"), "--only", "06", "--allow-cpu"], environment)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 of 1 notebooks ran" in result.stdout
    # The kernel's own note that local TCP is unencrypted is noise to a teacher: it stays out.
    assert "without encryption" not in result.stdout + result.stderr
    assert (tmp_path / "out" / "06_heavy_menstrual_bleeding.html").is_file()


def test_the_notebooks_help_says_it_runs_every_notebook():
    help_text = " ".join(_run(["notebooks", "--help"], {}).stdout.split())
    assert "Run every notebook (the cases and the skills)" in help_text and "--allow-cpu" in help_text
