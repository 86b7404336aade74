"""The README a teacher reads: short, both commands near the top, every notebook one click from Colab and Kaggle,
every page under docs/ linked, every relative link resolving, and the disclaimer kept."""

from __future__ import annotations

import re

from conftest import PROJECT_ROOT

from medgemma_helpers import notebooks

README = PROJECT_ROOT / "README.md"


def _lines() -> list[str]:
    return README.read_text(encoding="utf-8").splitlines()


def test_the_readme_is_short_with_both_commands_in_its_first_80_lines():
    lines = _lines()
    assert len(lines) <= 200
    for marker in ("<!-- main-command -->", "<!-- test-command -->"):
        at = lines.index(marker)
        # .ci/run reads the command two lines below its marker: an indented code line
        assert at + 2 < 80 and lines[at + 1] == "" and lines[at + 2].startswith("    pip install"), marker
    test_command = lines[lines.index("<!-- test-command -->") + 2]
    # A CPU machine must not pull a CUDA build of torch; the suite itself runs offline.
    assert "pip install torch --index-url https://download.pytorch.org/whl/cpu" in test_command
    assert "pytest" in test_command and "--allow-cpu" in README.read_text()
    assert "not a diagnostic tool" in README.read_text()


def test_every_notebook_opens_in_colab_and_kaggle_from_the_readme():
    text = README.read_text(encoding="utf-8")
    path = notebooks.REPO_URL.removeprefix("https://github.com/")
    for notebook in notebooks.case_notebooks():
        row = next((line for line in text.splitlines() if f"](notebooks/{notebook.name})" in line), "")
        assert f"https://colab.research.google.com/github/{path}/blob/main/notebooks/{notebook.name}" in row, (
            f"{notebook.name}: no Colab link to {notebooks.REPO_URL} (notebooks/templates/repository.txt)")
        assert f"https://kaggle.com/kernels/welcome?src={notebooks.REPO_URL}/blob/main/notebooks/{notebook.name}" \
            in row, notebook.name


def test_every_docs_page_is_linked_and_every_relative_link_resolves():
    text = README.read_text(encoding="utf-8")
    pages = sorted((PROJECT_ROOT / "docs").glob("*.md"))
    assert pages
    for page in pages:
        assert f"](docs/{page.name}" in text, f"README does not link docs/{page.name}"
    for document in (README, *pages):
        for target in re.findall(r"\]\(([^)\s]+)\)", document.read_text(encoding="utf-8")):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue
            assert (document.parent / target.split("#")[0]).exists(), f"{document.name} links {target}"
