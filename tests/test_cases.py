"""Case files validate; case images come only from verified bytes (mirror, local copy or pinned download)."""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import json
import re
import threading
from pathlib import Path

import pytest
import yaml
from PIL import Image

import medgemma_helpers as mh
from medgemma_helpers import case_images, cases
from conftest import PROJECT_ROOT, shared_images_dir


def test_six_cases_validate_in_order():
    all_cases = mh.list_cases()
    assert [case.id for case in all_cases] == ["01", "02", "03", "04", "05", "06"]
    for case in all_cases:
        assert case.question.strip() and case.answer_key.findings and case.teaching_points
        assert (case.image is None) == (case.id == "06")
    assert mh.load_case(3).slug == mh.load_case("03").slug == "acute-respiratory-distress"
    assert mh.load_case("acute-respiratory-distress").id == "03"


def test_unknown_case_lists_the_known_ones():
    with pytest.raises(mh.CaseError, match="known cases: 01"):
        mh.load_case("99")
    with pytest.raises(mh.CaseError):
        mh.load_case(["01"])


def _sources_md_hashes() -> dict[str, str]:
    text = (PROJECT_ROOT / "images" / "SOURCES.md").read_text()
    return {name: digest for name, digest in re.findall(r"(case0\d_[\w.]+\.png)[^\n]*?([0-9a-f]{64})", text)}


def test_pinned_hashes_match_the_sources():
    pinned = {case.image.file: case.image.sha256 for case in mh.list_cases() if case.image}
    assert len(pinned) == 5
    assert _sources_md_hashes() == pinned
    folder = shared_images_dir()
    if folder is not None and (folder / "SOURCES.json").is_file():
        sources = {entry["file"]: entry for entry in json.loads((folder / "SOURCES.json").read_text())}
        for case in mh.list_cases():
            if case.image:
                entry = sources[case.image.file]
                assert (case.image.sha256, case.image.url, case.image.size_bytes) == \
                       (entry["sha256"], entry["raw_url"], entry["file_size_bytes"])


def _write_case(folder: Path, data: dict, name: str = "01_test-case.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture
def valid_case_data() -> dict:
    return yaml.safe_load((PROJECT_ROOT / "cases" / "03_acute-respiratory-distress.yaml").read_text()) | {
        "id": "01", "slug": "test-case"}


@pytest.mark.parametrize("change, field", [
    (lambda d: d.pop("history"), "history"),
    (lambda d: d.update(title=["not", "text"]), "title"),
    (lambda d: d["patient"].update(age="sixty"), "patient.age"),
    (lambda d: d["patient"].update(age=True), "patient.age"),
    (lambda d: d.update(red_flags="one string"), "red_flags"),
    (lambda d: d["answer_key"]["findings"][0].update(expected="maybe"), "answer_key.findings[0].expected"),
    (lambda d: d["answer_key"]["findings"][1].pop("synonyms"), "answer_key.findings[1].synonyms"),
    (lambda d: d["image"].update(file="../../etc/passwd"), "image.file"),
    (lambda d: d["image"].update(file="/etc/passwd"), "image.file"),
    (lambda d: d["image"].update(file="sub/dir.png"), "image.file"),
    (lambda d: d["image"].update(sha256="abc"), "image.sha256"),
    (lambda d: d["image"].update(url="http://example.org/x.png"), "image.url"),
    (lambda d: d.update(id=1), "id"),
    (lambda d: d.update(slug="Has Spaces"), "slug"),
])
def test_invalid_case_files_name_file_and_field(tmp_path, valid_case_data, change, field):
    change(valid_case_data)
    path = _write_case(tmp_path, valid_case_data)
    with pytest.raises(mh.CaseError) as caught:
        mh.list_cases(tmp_path)
    assert path.name in str(caught.value) and f"'{field}'" in str(caught.value)


def test_not_yaml_and_wrong_top_level(tmp_path):
    (tmp_path / "01_bad.yaml").write_text("id: [unclosed\n")
    with pytest.raises(mh.CaseError, match="01_bad.yaml"):
        mh.list_cases(tmp_path)
    (tmp_path / "01_bad.yaml").write_text("- a list\n")
    with pytest.raises(mh.CaseError, match="mapping"):
        mh.list_cases(tmp_path)


def test_cases_folder_from_environment(tmp_path, valid_case_data, monkeypatch):
    _write_case(tmp_path, valid_case_data)
    monkeypatch.setenv("MEDGEMMA_CASES_DIR", str(tmp_path))
    assert [case.slug for case in mh.list_cases()] == ["test-case"]


# ---------------------------------------------------------------- image sources


def _png_bytes(shade: int) -> bytes:
    import io

    buffer = io.BytesIO()
    Image.new("L", (64, 48), shade).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def generated_case(tmp_path, monkeypatch):
    """Case 01 re-pointed at a generated image, with images/ moved to a temporary folder."""
    data = _png_bytes(90)
    image = dataclasses.replace(mh.load_case("01").image, file="generated.png",
                                sha256=hashlib.sha256(data).hexdigest(), size_bytes=len(data))
    monkeypatch.setattr(cases, "IMAGES_DIR", tmp_path / "images")
    monkeypatch.delenv("MEDGEMMA_IMAGE_MIRROR", raising=False)
    return dataclasses.replace(mh.load_case("01"), image=image), data


def test_mirror_file_is_used_when_it_verifies(generated_case, tmp_path, monkeypatch):
    case, data = generated_case
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "generated.png").write_bytes(data)
    monkeypatch.setenv("MEDGEMMA_IMAGE_MIRROR", str(mirror))
    assert case_images.case_image_path(case) == mirror / "generated.png"
    assert case_images.load_case_image(case).size == (64, 48)


def test_corrupt_or_wrong_mirror_file_is_refused(generated_case, tmp_path, monkeypatch):
    case, data = generated_case
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    monkeypatch.setenv("MEDGEMMA_IMAGE_MIRROR", str(mirror))
    for bad in (data[:-10], _png_bytes(200)):  # truncated; a different valid image under the same name
        (mirror / "generated.png").write_bytes(bad)
        with pytest.raises(mh.ImageError, match="sha256"):
            case_images.case_image_path(case)


def test_real_mirror_images_verify():
    folder = shared_images_dir()
    if folder is None:
        pytest.skip("the real case images are not on this machine; generated-image tests cover the logic")
    for case in mh.list_cases():
        if case.image:
            assert case_images.sha256_of(folder / case.image.file) == case.image.sha256


class _Serve(http.server.BaseHTTPRequestHandler):
    body = b""
    declared_length: int | None = None

    def do_GET(self) -> None:  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Length", str(self.declared_length or len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def image_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Serve)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def _leftovers(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir()) if folder.exists() else []


def test_download_is_verified_and_written_atomically(generated_case, image_server):
    case, data = generated_case
    _Serve.body, _Serve.declared_length = data, None
    url = f"http://127.0.0.1:{image_server.server_address[1]}/generated.png"
    case = dataclasses.replace(case, image=dataclasses.replace(case.image, url=url))
    path = case_images.case_image_path(case)
    assert path.read_bytes() == data and _leftovers(path.parent) == ["generated.png"]
    # A corrupted local copy is replaced by a fresh, verified download.
    path.write_bytes(b"garbage")
    assert case_images.case_image_path(case).read_bytes() == data


def test_wrong_or_interrupted_download_leaves_nothing(generated_case, image_server):
    case, data = generated_case
    url = f"http://127.0.0.1:{image_server.server_address[1]}/generated.png"
    case = dataclasses.replace(case, image=dataclasses.replace(case.image, url=url))
    images_dir = cases.IMAGES_DIR
    _Serve.body, _Serve.declared_length = _png_bytes(10), None  # the wrong file
    with pytest.raises(mh.ImageError, match="sha256"):
        case_images.case_image_path(case)
    assert _leftovers(images_dir) == []
    _Serve.body, _Serve.declared_length = data[: len(data) // 2], len(data)  # the connection ends early
    with pytest.raises(mh.ImageError, match="interrupted"):
        case_images.case_image_path(case)
    assert _leftovers(images_dir) == []
    _Serve.body, _Serve.declared_length = data, None  # the next run starts clean and succeeds
    assert case_images.case_image_path(case).read_bytes() == data
