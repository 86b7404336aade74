"""First run, tried as a new user would: every message names the real problem and the next step, in the words
that fit where the user is (a notebook or a shell), and files come out readable by others."""

from __future__ import annotations

import html
import os
import stat
import subprocess
import sys

import pytest
from conftest import PROJECT_ROOT

import medgemma_helpers as mh


def _cli(arguments: list[str], environment: dict[str, str], timeout: int = 300) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MEDGEMMA", "HF_TOKEN", "HUGGING_FACE"))}
    env.update(environment, HF_HUB_OFFLINE="1")
    return subprocess.run([sys.executable, "-m", "medgemma_helpers", *arguments], env=env, capture_output=True,
                          text=True, timeout=timeout, cwd=PROJECT_ROOT)


def test_a_missing_model_folder_is_named_as_missing_not_as_a_missing_token(tmp_path, monkeypatch, capsys):
    missing = str(tmp_path / "medgemma-copy")
    monkeypatch.setenv("MEDGEMMA_MODEL_ID", missing)
    assert mh.authenticate() is False
    said = capsys.readouterr().out
    assert missing in said and "does not exist" in said and "gated" not in said
    with pytest.raises(mh.MedGemmaError, match="does not exist"):
        mh.load_model()
    result = _cli(["notebooks", "--out", str(tmp_path / "out")], {"MEDGEMMA_MODEL_ID": missing})
    assert result.returncode == 2 and missing in result.stderr and "does not exist" in result.stderr
    assert "token" not in result.stderr.lower()


def test_the_command_line_says_run_the_command_again_not_mh_authenticate(tmp_path):
    result = _cli(["notebooks", "--out", str(tmp_path / "out")], {"HF_HOME": str(tmp_path)})
    assert result.returncode == 2 and "run this command again" in result.stderr
    assert "mh.authenticate" not in result.stderr


def test_a_skill_notebook_number_given_to_run_points_to_the_notebooks_command(case_environment):
    result = _cli(["run", "07"], case_environment)
    assert result.returncode == 2 and "notebooks --only 07" in result.stderr


def test_version_and_help_text(case_environment):
    version = _cli(["--version"], case_environment)
    assert version.returncode == 0 and mh.__version__ in version.stdout
    help_text = _cli(["analyze", "--help"], case_environment).stdout
    for option, words in (("--prompt", "question"), ("--system", "system instruction"),
                          ("--max-new-tokens", "most tokens")):
        assert option in help_text and words in help_text


def test_a_missing_mirror_folder_is_named_not_blamed_on_the_network(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDGEMMA_IMAGE_MIRROR", str(tmp_path / "no-such-mirror"))
    with pytest.raises(mh.ImageError) as refused:
        mh.case_image("01")
    assert "no-such-mirror" in str(refused.value) and "does not exist" in str(refused.value)
    assert "network" not in str(refused.value)


def test_summary_files_are_readable_by_others_and_say_how_the_run_went(with_cases, tiny_model, tmp_path):
    results = mh.run_all_cases(tiny_model, max_new_tokens=4, batch_size=4)
    assert results[0].run.startswith("6 cases in 2 batches of up to 4:") and "share of its batch" in results[0].run
    previous = os.umask(0o022)
    try:
        paths = mh.write_summary(results, tmp_path)
    finally:
        os.umask(previous)
    assert [stat.S_IMODE(path.stat().st_mode) for path in paths] == [0o644] * 3
    assert html.escape(results[0].run) in paths[2].read_text()


def test_the_cpu_note_names_the_size_loaded_and_promises_no_wait_it_cannot_keep():
    from medgemma_helpers.model import _cpu_note

    big = _cpu_note(4_300_000_000, "4.30 B")
    assert "4.30 B-parameter model takes minutes per answer" in big and "class pack" in big
    small = _cpu_note(2_100_000, "2.10 M")
    assert "2.10 M-parameter model" in small and "minutes" not in small
