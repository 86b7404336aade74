"""End to end in a real browser: JupyterLab runs notebook 01, a resident types a read and presses Reveal.

Debian's chromium driven by Playwright (never `playwright install`: no browser downloads). Without
/usr/bin/chromium or the playwright package the test skips on a user's machine and fails in CI (CI=true);
`.ci/install_browser.sh` installs the browser.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import PROJECT_ROOT

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
NOTEBOOK = "notebooks/01_standard_chest_xray.ipynb"
# Angle brackets and an ampersand: the echo must show them as text, never as markup.
RESIDENT_READ = ("No pneumothorax. No pleural effusion. Heart size normal. No focal consolidation. "
                 "Lines <i>and</i> tubes & devices: none.")

# What shows MedGemma's read or the answer key: the read's rendering, the key, and the concordance tables.
REVEALED_SELECTORS = (".medgemma-findings", ".medgemma-answer-key", ".mh-concordance")

SERVER_START_S = 60
KERNEL_IDLE_S = 60
RUN_ALL_S = 180
REVEAL_S = 60


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Debian's chromium under Playwright; skipped off CI when either is missing, a failure in CI."""
    missing = []
    if not CHROMIUM.is_file():
        missing.append(f"{CHROMIUM} (apt-get install chromium, or .ci/install_browser.sh)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing.append("the playwright package (pip install -r requirements-dev.txt)")
    if missing:
        reason = "browser test needs " + " and ".join(missing)
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS)
        try:
            yield chromium
        finally:
            chromium.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _request(url: str, token: str, method: str = "GET", timeout: float = 5) -> int:
    request = urllib.request.Request(url, method=method, headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.status


def _stop(process: subprocess.Popen, base_url: str | None, token: str) -> None:
    """Ask the server to shut down (it stops its kernels), then end it and its process group by PID."""
    if process.poll() is None and base_url is not None:
        try:
            _request(f"{base_url}/api/shutdown", token, method="POST")
        except (OSError, urllib.error.URLError):
            pass
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
    # A kernel orphaned by a killed server is still in the server's own process group.
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


@contextmanager
def jupyter_lab(root: Path, environment: dict[str, str], workdir: Path) -> Iterator[tuple[str, str]]:
    """JupyterLab serving `root` on 127.0.0.1; yields (base URL, token) once /api/status answers 200."""
    token = secrets.token_hex(24)
    dirs = {name: workdir / name.lower() for name in
            ("JUPYTER_CONFIG_DIR", "JUPYTER_RUNTIME_DIR", "JUPYTER_DATA_DIR",
             "JUPYTERLAB_SETTINGS_DIR", "JUPYTERLAB_WORKSPACES_DIR")}
    for folder in dirs.values():
        folder.mkdir(parents=True, exist_ok=True)
    settings = {
        # Every cell attached to the DOM: locators and waits then see the whole notebook, scrolled or not.
        "notebook-extension/tracker": {"windowingMode": "none"},
        # No "get notified about Jupyter news?" toast over the outputs, and no request for it.
        "apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
        # The server serves the repository: never save outputs into a committed notebook.
        "docmanager-extension/plugin": {"autosave": False},
    }
    for plugin, values in settings.items():
        path = dirs["JUPYTERLAB_SETTINGS_DIR"] / "@jupyterlab" / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    env = {**os.environ, **environment, **{name: str(path) for name, path in dirs.items()},
           "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    command = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root", "--ip=127.0.0.1",
               f"--port={_free_port()}", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
               "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
               # window.jupyterapp: Run All through the app's own command registry.
               "--LabApp.expose_app_in_browser=True",
               # Lab checkpoints a notebook when it opens it: into the temporary folder, not the repository.
               f"--FileCheckpoints.checkpoint_dir={workdir / 'checkpoints'}"]
    log_path = workdir / "jupyter-lab.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    base_url = None
    try:
        # The port it really bound (another process may have taken ours): from its runtime file.
        deadline = time.monotonic() + SERVER_START_S
        while base_url is None:
            if process.poll() is not None:
                raise RuntimeError(f"jupyter lab exited with {process.returncode}:\n{log_path.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"jupyter lab not ready in {SERVER_START_S} s:\n{log_path.read_text()[-3000:]}")
            runtime = dirs["JUPYTER_RUNTIME_DIR"] / f"jpserver-{process.pid}.json"
            if runtime.is_file():
                try:
                    info = json.loads(runtime.read_text())
                    url = f"http://127.0.0.1:{info['port']}{info['base_url'].rstrip('/')}"
                    if _request(f"{url}/api/status?token={token}", token) == 200:
                        base_url = url
                except (ValueError, KeyError, OSError, urllib.error.URLError):
                    pass
            time.sleep(0.2)
        yield base_url, token
    finally:
        _stop(process, base_url, token)
        print(f"\njupyter lab log: {log_path}")


# Run All stops at a failing cell and leaves the cells after it unrun, so a failure must end the wait at once.
# Errors come from the notebook model (in the DOM an error looks like any stderr output); the prompts show
# what ran: a notebook is done when every code cell shows [n] (none [ ] or [*]) and the kernel is idle.
_RUN_STATE_JS = r"""(path) => {
    const panel = [...window.jupyterapp.shell.widgets('main')].find(w => w.context && w.context.path === path);
    const errors = [];
    const cells = panel.content.model.cells;
    for (let i = 0; i < cells.length; i++) {
        const cell = cells.get(i);
        if (cell.type !== 'code') continue;
        for (let j = 0; j < cell.outputs.length; j++) {
            const output = cell.outputs.get(j).toJSON();
            if (output.output_type === 'error') {
                errors.push(`cell ${i}: ${output.ename}: ${output.evalue}\n` +
                            (output.traceback || []).join('\n').replace(/\x1b\[[0-9;]*m/g, ''));
            }
        }
    }
    const prompts = [...panel.content.node.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]
        .map(p => p.textContent.trim());
    const status = document.querySelector('#jp-main-statusbar')?.innerText ?? '';
    const idle = /\|\s*Idle/.test(status);
    const done = prompts.length > 0 && prompts.every(p => /^\[\d+\]:$/.test(p)) && idle;
    return {prompts, errors, idle, done};
}"""


def open_notebook_and_run_all(page, base_url: str, token: str, notebook: str) -> None:
    """Open `notebook` in JupyterLab, wait for its kernel, Run All, and wait until every cell ran and it is idle."""
    from playwright.sync_api import expect

    page.goto(f"{base_url}/lab/tree/{notebook}?token={token}", wait_until="domcontentloaded")
    page.locator(".jp-Notebook .jp-CodeCell").first.wait_for(timeout=SERVER_START_S * 1000)
    # The status bar's kernel item ("Python 3 (ipykernel) | Idle"): the toolbar's indicator is idle too early.
    statusbar = page.locator("#jp-main-statusbar")
    expect(statusbar).to_contain_text(re.compile(r"\|\s*Idle"), timeout=KERNEL_IDLE_S * 1000)
    page.wait_for_function("() => window.jupyterapp && window.jupyterapp.commands.isEnabled('runmenu:run-all')",
                           timeout=10_000)
    page.evaluate("() => window.jupyterapp.commands.execute('runmenu:run-all')")
    deadline = time.monotonic() + RUN_ALL_S
    while True:
        state = page.evaluate(_RUN_STATE_JS, notebook)
        assert not state["errors"], "a cell failed under Run All:\n" + "\n\n".join(state["errors"])
        if state["done"]:
            return
        assert time.monotonic() < deadline, f"Run All not finished in {RUN_ALL_S} s: {state}"
        page.wait_for_timeout(250)


def _screenshot(target, path: Path) -> None:
    """A screenshot of a page or an element, for a person to look at; its path is printed."""
    try:
        target.screenshot(path=str(path))
        print(f"\nscreenshot: {path}")
    except Exception as error:  # noqa: BLE001 - a screenshot must never hide the real failure
        print(f"\nscreenshot failed: {error}")


@contextmanager
def notebook_after_run_all(browser, environment: dict[str, str], workdir: Path, notebook: str, name: str,
                           height: int = 1800) -> Iterator[object]:
    """A page with `notebook` open in JupyterLab after Run All; a screenshot of a failure inside; afterwards, the
    committed notebook checked still clean."""
    with jupyter_lab(PROJECT_ROOT, environment, workdir) as (base_url, token):
        page = browser.new_page(viewport={"width": 1400, "height": height})
        try:
            open_notebook_and_run_all(page, base_url, token, notebook)
            yield page
        except BaseException:
            _screenshot(page, workdir / f"{name}-failure.png")
            raise
        finally:
            page.close()
    # The server served the repository itself; the committed notebook must still be clean (autosave is off).
    cells = json.loads((PROJECT_ROOT / notebook).read_text())["cells"]
    assert not [cell for cell in cells if cell.get("outputs") or cell.get("execution_count")], \
        "the browser session saved outputs into the committed notebook"


def _heading(comparison, text: str):
    return comparison.locator(":is(h1, h2, h3, h4, h5, h6)", has_text=re.compile(rf"^\s*{text}\s*$")).first


@pytest.fixture(scope="module")
def revealed(browser, case_environment, tmp_path_factory) -> Iterator[dict]:
    """Notebook 01 after Run All, a typed read and Reveal: the page, the quiz's output and the comparison in it."""
    from playwright.sync_api import expect

    workdir = tmp_path_factory.mktemp("browser")
    # The headless notebook run's environment: the tiny model, and real case images or generated stand-ins.
    with notebook_after_run_all(browser, case_environment, workdir, NOTEBOOK, "notebook01") as page:
        # Read first: after Run All, with nothing typed, neither MedGemma's read nor the key is anywhere.
        notebook = page.locator(".jp-Notebook")
        before = {selector: notebook.locator(selector).count() for selector in REVEALED_SELECTORS}
        hidden_notices = notebook.locator(".mh-hidden").count()
        _screenshot(page, workdir / "notebook01-before-reveal.png")
        # The "Your read" cell's output: the one whose widgets include the Reveal button.
        quiz = page.locator(".jp-OutputArea-output").filter(
            has=page.locator("button.jupyter-button", has_text="Reveal"))
        expect(quiz).to_have_count(1)
        textarea = quiz.locator(".widget-textarea textarea")
        textarea.fill(RESIDENT_READ)
        textarea.blur()  # syncs the value even when the widget only updates on change
        quiz.locator("button.jupyter-button", has_text="Reveal").click()
        # Stage 1: the read shown, unscored; Keep my read brings the key and the scores.
        keep = quiz.locator("button.jupyter-button", has_text="Keep my read")
        keep.wait_for(timeout=REVEAL_S * 1000)
        expect(quiz.locator(".mh-first-look")).to_have_count(1, timeout=REVEAL_S * 1000)
        keep.click()
        # While MedGemma streams, the result shows its progress; the tables come with the final comparison.
        quiz.locator(":is(.widget-output, .widget-html) .mh-concordance").first.wait_for(timeout=REVEAL_S * 1000)
        comparison = quiz.locator(":is(.widget-output, .widget-html)").filter(
            has=page.locator(".mh-concordance")).last
        comparison.scroll_into_view_if_needed()
        _screenshot(page, workdir / "notebook01-your-read.png")
        yield {"page": page, "quiz": quiz, "comparison": comparison, "before": before,
               "hidden_notices": hidden_notices}


def test_reveal_shows_the_residents_read_and_medgemmas_scored_against_the_key(revealed):
    from playwright.sync_api import expect

    comparison = revealed["comparison"]
    expect(comparison.locator(".mh-concordance")).to_have_count(2)  # one table per read
    for heading in ("Your read", "MedGemma"):
        expect(_heading(comparison, heading)).to_be_visible()
    # Echoed escaped: the brackets show as text, and no <i> element came from the resident's words.
    expect(comparison).to_contain_text(RESIDENT_READ)
    expect(comparison.locator("i", has_text=re.compile(r"^and$"))).to_have_count(0)


# Elements of the comparison that reach past the output area's right edge, or whose content overflows them.
_OVERFLOWING_JS = r"""comparison => {
    const right = comparison.closest('.jp-OutputArea-output').getBoundingClientRect().right + 1;
    return [...comparison.querySelectorAll('*')]
        // A few pixels over (a table's borders) are invisible; a column of cut-off text is not.
        .filter(e => e.getBoundingClientRect().right > right ||
                     (e.clientWidth > 0 && e.scrollWidth > e.clientWidth + 8))
        .map(e => `<${e.tagName.toLowerCase()} class="${e.className}">: ${e.scrollWidth} px of content in ` +
                  `${e.clientWidth} px, right edge at ${Math.round(e.getBoundingClientRect().right)} ` +
                  `(the output area ends at ${Math.round(right - 1)}): ${JSON.stringify(e.textContent.slice(0, 60))}`)
        .slice(0, 6);
}"""


def test_the_comparison_fits_the_notebook_width(revealed):
    # Side by side, nothing cut off: a long unbroken run of text (random tiny-model tokens, a URL, a pasted
    # identifier) must wrap, not widen its column and push MedGemma's read off to the right.
    area = revealed["quiz"].bounding_box()
    for heading in ("Your read", "MedGemma"):
        box = _heading(revealed["comparison"], heading).bounding_box()
        assert box is not None and area["x"] <= box["x"] < area["x"] + area["width"] - 100, (
            f"the {heading!r} heading starts at x={box and round(box['x'])}, outside the output area "
            f"x={round(area['x'])}..{round(area['x'] + area['width'])}")
    overflowing = revealed["comparison"].evaluate(_OVERFLOWING_JS)
    assert not overflowing, "the comparison overflows the notebook width:\n" + "\n".join(overflowing)


def test_run_all_reveals_nothing_before_a_read_is_committed(revealed):
    assert revealed["before"] == {selector: 0 for selector in REVEALED_SELECTORS}
    assert revealed["hidden_notices"] == 2  # the Ask cell and the answer-key cell say how to reveal them


def test_the_reveal_fills_in_the_ask_and_answer_key_cells(revealed):
    from playwright.sync_api import expect

    notebook = revealed["page"].locator(".jp-Notebook")
    # outside the quiz: MedGemma's read in the Ask cell, and the key (with the resident's read) in the last cell
    outside_quiz = notebook.locator(".jp-OutputArea-output").filter(
        has_not=revealed["page"].locator("button.jupyter-button", has_text="Reveal"))
    expect(outside_quiz.locator(".medgemma-answer-key")).to_have_count(1, timeout=REVEAL_S * 1000)
    expect(notebook.locator(".mh-hidden")).to_have_count(0)
    key_cell = outside_quiz.filter(has=revealed["page"].locator(".medgemma-answer-key"))
    expect(key_cell).to_contain_text(RESIDENT_READ)
