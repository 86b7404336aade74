"""A class pack: recorded once on the tiny stand-in, replayed in a fresh process with no model folder, no token
and the Hub offline; every request it does not hold refused with what differs; a damaged pack refused by name."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import subprocess
import sys

import pytest
from conftest import PROJECT_ROOT, _generated_xray, project_files

import medgemma_helpers as mh
from medgemma_helpers import access
from medgemma_helpers import pack as packs

TOKEN = "hf_" + "R" * 34  # a token-shaped secret in the recording's environment: it must never reach the pack

# One script for both sides: the answers, token counts and concordance of every case, as JSON on the last line.
RUN_CASES = """
import json, sys
import medgemma_helpers as mh
model = mh.load_model()
if len(sys.argv) > 1:
    mh.record_pack(sys.argv[1], model=model)
out = {}
for case in mh.list_cases():
    for label, prompt in (("question", None), ("structured", mh.structured_prompt(case) if case.image else None)):
        if label == "structured" and prompt is None:
            continue
        findings = mh.run_case(case, model, prompt=prompt, stream=False, show_prompt=False)
        checks = mh.check_findings(findings.text, case)
        out[f"{case.id} {label}"] = [findings.text, findings.thinking, findings.prompt_tokens, findings.new_tokens,
                                     [(c.finding, c.status) for c in checks], findings.model_name]
print(json.dumps(out))
"""


def _python(script: str, env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, "-c", script, *args], cwd=PROJECT_ROOT, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def _clean_environment(case_environment: dict[str, str]) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("MEDGEMMA_", "HF_TOKEN", "HUGGING_FACE"))}
    env.update(case_environment, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false",
               **{packs.PACE_ENV: "0"})
    return env


@pytest.fixture(scope="module")
def recorded(case_environment, tiny_model_dir, tmp_path_factory) -> dict:
    """The pack recorded by a live run of the tiny model, and that run's own answers."""
    folder = tmp_path_factory.mktemp("pack")
    path = folder / "class.pack"
    env = _clean_environment(case_environment) | {"HF_TOKEN": TOKEN}
    said = _python(RUN_CASES, env, str(path))
    live = json.loads(said.strip().splitlines()[-1])
    return {"path": path, "live": live, "env": env, "said": said}


@pytest.fixture
def replaying(recorded, case_environment, monkeypatch) -> mh.use_pack:
    for name, value in _clean_environment(case_environment).items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("MEDGEMMA_MODEL_ID", raising=False)
    packed = mh.use_pack(recorded["path"])
    yield packed
    access.forget(packed)  # only the pack: the session's tiny model stays held for later tests


def test_a_fresh_process_with_no_model_token_or_network_replays_the_live_answers(recorded, case_environment):
    env = _clean_environment(case_environment)
    env.pop("MEDGEMMA_MODEL_ID")  # no model folder at all
    env[packs.PACK_ENV] = str(recorded["path"])
    replayed = json.loads(_python(RUN_CASES, env).strip().splitlines()[-1])
    assert replayed.keys() == recorded["live"].keys() and len(replayed) == 11  # 6 questions, 5 structured reads
    for request, (text, thinking, prompt_tokens, new_tokens, checks, name) in replayed.items():
        live = recorded["live"][request]
        assert [text, thinking, prompt_tokens, new_tokens, checks] == live[:5], request
        assert name.startswith(live[5]) and "recorded on CPU on 20" in name  # says where it came from


def test_the_pack_is_sealed_json_with_no_token_and_the_recordings_facts(recorded):
    text = recorded["path"].read_text()
    assert TOKEN not in text and "hf_" not in text
    pack = json.loads(text)  # data, never pickle
    assert pack["format"] == packs.PACK_FORMAT and pack["preparation_version"] == packs.PREPARATION_VERSION
    assert pack["project_version"] == mh.__version__ and pack["device"] == "CPU" and pack["recorded_at"]
    assert {"model_id", "revision", "transformers_version"} <= set(pack)
    labels = {entry["label"] for entry in pack["entries"]}
    assert {"case 03: its question", "case 03: the structured read", "notebook 08: localisation of the right lung",
            "notebook 09: prior versus current", "notebook 07: the CT phantom"} <= labels
    assert all(set(entry) == set(packs._ENTRY_FIELDS) for entry in pack["entries"])


def test_a_replayed_answer_streams_and_serves_every_notebook_path(replaying, recorded):
    seen: list[str] = []
    room = int(recorded["env"]["MEDGEMMA_MAX_NEW_TOKENS"])  # what the recording process asked with
    findings = mh.run_case("03", replaying, max_new_tokens=room, on_text=seen.append, show_prompt=False)
    assert len(seen) > 2 and seen[-1] == findings.text  # it arrives in pieces, as a live answer does
    assert findings.text == recorded["live"]["03 question"][0]
    results = mh.run_all_cases(replaying, max_new_tokens=room)  # batched requests: the same recorded answers
    assert [r.findings.text for r in results] == [recorded["live"][f"{c.id} question"][0] for c in mh.list_cases()]
    quiz = mh.quiz("03", replaying, max_new_tokens=room)
    quiz.reveal("Large right pleural effusion. No pneumothorax.")
    assert quiz.findings.text == findings.text
    # and the skill notebooks' fixed questions
    findings, boxes = mh.localize(mh.case_image("01"), "right lung", model=replaying,
                                  max_new_tokens=room, stream=False)
    assert findings.text


@pytest.mark.parametrize(("ask", "says"), [
    (lambda m: mh.run_case("03", m, prompt="Is there a pneumothorax?", max_new_tokens=64, stream=False),
     "the question differs"),
    (lambda m: mh.run_case("03", m, max_new_tokens=17, stream=False), "max_new_tokens is 17, but the pack recorded"),
    (lambda m: mh.run_case("06", m, image=_generated_xray(9, (120, 90)), max_new_tokens=64, stream=False),
     "its image is not one the pack"),  # the resident's own image
    (lambda m: mh.analyze(None, "A question nobody recorded.", model=m, stream=False), "the question differs"),
])
def test_a_request_the_pack_does_not_hold_is_refused_never_approximated(replaying, ask, says):
    with pytest.raises(mh.MedGemmaError) as refused:
        ask(replaying)
    assert says in str(refused.value) and "needs a live model" in str(refused.value)


def _resealed(pack: dict) -> str:
    body = {key: value for key, value in pack.items() if key != "sha256"}
    return json.dumps({**body, "sha256": packs._seal(body)})


@pytest.mark.parametrize(("damage", "says"), [
    (lambda text, pack: text[: len(text) // 2], "not valid JSON"),
    (lambda text, pack: text.replace('"raw": "', '"raw": "X', 1), "does not match its own digest"),
    (lambda text, pack: _resealed({**pack, "preparation_version": 0, "project_version": "0.1"}),
     "recorded by project version 0.1, which prepares inputs differently"),
    (lambda text, pack: json.dumps({"hello": "world"}), "is not a class pack"),
    (lambda text, pack: _resealed({**pack, "entries": [{"raw": 1}]}), "malformed entries"),
])
def test_a_damaged_tampered_or_foreign_pack_is_refused_by_name(recorded, tmp_path, damage, says):
    text = recorded["path"].read_text()
    bad = tmp_path / "bad.pack"
    bad.write_text(damage(text, json.loads(text)))
    with pytest.raises(mh.MedGemmaError) as refused:
        mh.use_pack(bad)
    assert says in str(refused.value) and "bad.pack" in str(refused.value)


def test_the_pack_carries_every_film_its_notebooks_show_with_credits(recorded, with_cases):
    pack = json.loads(recorded["path"].read_text())
    cases = [case for case in mh.list_cases() if case.image is not None]
    pinned = {case.image.sha256: case.image for case in cases} | {film.image.sha256: film.image
                                                                  for film in mh.series_films()}
    assert len(pinned) == len(cases) + len(mh.series_films())
    carried = {film["sha256"]: film for film in pack["films"]}
    assert set(pinned) <= set(carried)  # every case film and the whole series (drill films when they were found)
    for sha256, image in pinned.items():
        film = carried[sha256]
        assert hashlib.sha256(base64.b64decode(film["data"])).hexdigest() == sha256
        assert (film["file"], film["url"], film["licence"], film["attribution"]) == (
            image.file, image.url, image.licence, image.attribution)
    said = recorded["said"]
    megabytes = float(re.search(rf"and {len(carried)} films \(([0-9.]+) MB\)", said).group(1))
    assert abs(megabytes - recorded["path"].stat().st_size / 1e6) < 0.06


def test_the_main_command_runs_from_a_pack_with_no_mirror_and_writes_only_under_out(recorded, case_environment,
                                                                                    tmp_path):
    env = _clean_environment(case_environment)
    env.pop("MEDGEMMA_MODEL_ID")
    env.pop("MEDGEMMA_IMAGE_MIRROR")  # the films come from the pack: no mirror, no network
    env[packs.PACK_ENV] = str(recorded["path"])
    before = project_files()
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "medgemma_helpers", "notebooks", "--out", str(out),
                           "--only", "03", "09", "10"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    page = (out / "03_acute_respiratory_distress.html").read_text()
    assert "medgemma-answer-key" in page and "recorded on CPU on" in page and "data:image/png" in page
    assert "recorded on CPU on" in (out / "09_longitudinal_comparison.html").read_text()
    assert (out / "class_review.csv").is_file()  # what notebook 10 writes lands beside its output
    assert project_files() == before  # nothing written into the project


def test_a_damaged_film_inside_a_pack_is_refused_by_name(recorded, tmp_path):
    pack = json.loads(recorded["path"].read_text())
    film = pack["films"][1]
    data = bytearray(base64.b64decode(film["data"]))
    data[len(data) // 2] ^= 0xFF
    film["data"] = base64.b64encode(bytes(data)).decode("ascii")
    bad = tmp_path / "bad.pack"
    bad.write_text(_resealed(pack))  # even resealed: each film answers to its own sha256
    with pytest.raises(mh.MedGemmaError) as refused:
        mh.use_pack(bad)
    assert f"holds a damaged film, {film['file']}" in str(refused.value) and "bad.pack" in str(refused.value)


def test_a_pack_without_images_and_a_bad_destination(with_cases, tiny_model, tmp_path, capsys):
    with pytest.raises(mh.InputError, match="is a folder; give the pack a file name"):
        mh.record_pack(tmp_path, cases=["01"], model=tiny_model)
    assert list(tmp_path.iterdir()) == []  # refused before anything was asked or written
    small = mh.record_pack(tmp_path / "small.pack", cases=["01"], model=tiny_model, images=False)
    said = capsys.readouterr().out
    assert json.loads(small.read_text())["films"] == [] and "0 films" in said
    assert "the notebooks of cases 01 run without a GPU or token; it holds no films" in said
