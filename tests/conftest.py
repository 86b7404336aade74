"""Shared fixtures: offline Hub, one torch thread, the tiny MedGemma stand-in, and test images."""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Callable
from pathlib import Path

# Before transformers or huggingface_hub are imported: they read these once, at import.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"
os.environ.setdefault("OMP_NUM_THREADS", "1")
for _name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "MEDGEMMA_MODEL_ID", "MEDGEMMA_ENDPOINT"):
    os.environ.pop(_name, None)

import csv  # noqa: E402
import hashlib  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import yaml  # noqa: E402
from PIL import Image  # noqa: E402

PROJECT_ROOT = Path(__file__).resolve().parent.parent
TESTS_DIR = Path(__file__).resolve().parent
for _path in (str(PROJECT_ROOT), str(TESTS_DIR)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

torch.set_num_threads(1)

from tiny_medgemma import build_tiny_medgemma  # noqa: E402

import medgemma_helpers as mh  # noqa: E402
from medgemma_helpers.local import MedGemma  # noqa: E402


def closed_port() -> int:
    """A local port nothing listens on: connecting to it is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def project_files() -> set[str]:
    """Every file of the project, leaving out caches git ignores (downloaded images, bytecode, virtual envs, .git)."""
    skip = {".git", "images", "__pycache__", ".venv", ".venv-oldest", ".pytest_cache", "mutants"}
    return {str(path.relative_to(PROJECT_ROOT)) for path in PROJECT_ROOT.rglob("*")
            if path.is_file() and not skip & set(path.relative_to(PROJECT_ROOT).parts)}


def shared_images_dir() -> Path | None:
    """The folder of real case images that MEDGEMMA_IMAGE_MIRROR names, or None (a fresh clone: generated images)."""
    mirror = os.environ.get("MEDGEMMA_IMAGE_MIRROR", "").strip()
    if mirror and (Path(mirror) / "case01_normal_pa.png").is_file():
        return Path(mirror)
    return None


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A freshly built tiny MedGemma stand-in saved as safetensors."""
    return build_tiny_medgemma(tmp_path_factory.mktemp("tiny-medgemma"))


@pytest.fixture(scope="session")
def tiny_model(tiny_model_dir: Path) -> MedGemma:
    """The stand-in loaded through mh.load_model, as a notebook would."""
    return mh.load_model(str(tiny_model_dir), device="cpu")


def _generated_xray(seed: int, size: tuple[int, int] = (300, 260)) -> Image.Image:
    """A grey radiograph-like test image: smooth body shape plus seeded noise."""
    rng = np.random.default_rng(seed)
    height, width = size[1], size[0]
    y, x = np.mgrid[0:height, 0:width]
    body = 200 * np.exp(-(((x - width / 2) / (0.35 * width)) ** 2 + ((y - height / 2) / (0.45 * height)) ** 2))
    lungs = 120 * np.exp(-(((np.abs(x - width / 2) - 0.18 * width) / (0.1 * width)) ** 2)) * (seed % 2)
    pixels = np.clip(body - lungs + rng.normal(0, 25, (height, width)), 0, 255).astype(np.uint8)
    return Image.fromarray(pixels, mode="L")


@pytest.fixture(scope="session")
def two_xrays() -> tuple[Image.Image, Image.Image]:
    """Two different chest radiographs: real ones when the mirror is here, generated ones otherwise."""
    folder = shared_images_dir()
    if folder is not None:
        return (mh.load_image(folder / "case01_normal_pa.png"), mh.load_image(folder / "case03_nih_00015044_000.png"))
    return mh.load_image(_generated_xray(1)), mh.load_image(_generated_xray(2))


@pytest.fixture(scope="session")
def case_environment(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment variables for running cases: the tiny model, and the real images or generated stand-ins.

    A user's fresh clone has no image mirror (and tests use no network): then copies of the case files are
    pointed at generated images, and MEDGEMMA_CASES_DIR selects them.
    """
    # Short answers keep the notebook runs quick; the code paths are the same at any length.
    environment = {"MEDGEMMA_MODEL_ID": str(tiny_model_dir), "MEDGEMMA_MAX_NEW_TOKENS": "64"}
    real = shared_images_dir()
    if real is not None:
        environment["MEDGEMMA_IMAGE_MIRROR"] = str(real)
        return environment
    generated = tmp_path_factory.mktemp("generated-cases")
    environment.update(_cases_with_generated_films(generated, lambda index: (256, 256)))
    write_drill_stand_ins(generated, Path(environment["MEDGEMMA_IMAGE_MIRROR"]))
    return environment


def _cases_with_generated_films(folder: Path, size_of: Callable[[int], tuple[int, int]]) -> dict[str, str]:
    """Copies of the case files in folder, each film a generated radiograph (size_of(case number)), sha256 pinned.

    Returns the MEDGEMMA_IMAGE_MIRROR and MEDGEMMA_CASES_DIR that select them.
    """
    mirror = folder / "mirror"
    mirror.mkdir()
    for index, source in enumerate(sorted((PROJECT_ROOT / "cases").glob("*.yaml")), 1):
        data = yaml.safe_load(source.read_text())
        if data.get("image"):
            image_path = mirror / data["image"]["file"]
            _generated_xray(index, size_of(index)).save(image_path)
            data["image"]["sha256"] = hashlib.sha256(image_path.read_bytes()).hexdigest()
        (folder / source.name).write_text(yaml.safe_dump(data, sort_keys=False))
    # The prior-current series too: the same rows, each film generated and its sha256 pinned.
    with (PROJECT_ROOT / "cases" / "longitudinal_films.csv").open(newline="") as table:
        rows = list(csv.DictReader(table))
    for index, row in enumerate(rows, 20):
        _generated_xray(index, size_of(index)).save(mirror / row["file"])
        row["sha256"] = hashlib.sha256((mirror / row["file"]).read_bytes()).hexdigest()
    with (folder / "longitudinal_films.csv").open("w", newline="") as table:
        writer = csv.DictWriter(table, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return {"MEDGEMMA_IMAGE_MIRROR": str(mirror), "MEDGEMMA_CASES_DIR": str(folder)}


# ---------------------------------------------------------------- drill films (stand-ins)

DRILL_STAND_IN_SIZE = 256  # the real films are 1024 x 1024; the boxes are scaled to the stand-ins with them
DRILL_STAND_INS_PER_KIND = 3


def write_drill_stand_ins(folder: Path, mirror: Path) -> list[str]:
    """A drill list in folder (for MEDGEMMA_CASES_DIR) whose films are generated into mirror, sha256 pinned.

    The rows are the project's own for a selection of films: up to three per finding and view with one box, three
    per view with several boxes, and every "No Finding" film; each film is a generated radiograph with its boxes
    scaled to it. Returns the films' names.
    """
    with (PROJECT_ROOT / "cases" / "drill_films.csv").open(newline="") as table:
        rows = list(csv.DictReader(table))
    by_film: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        by_film.setdefault(row["image"], []).append(row)
    taken: dict[tuple[str, str], int] = {}
    chosen: list[dict[str, str]] = []
    for index, (image, film_rows) in enumerate(by_film.items()):
        first = film_rows[0]
        kind = ("normal" if not first["finding"] else "several" if len(film_rows) > 1 else first["finding"],
                first["view"])
        if kind[0] != "normal" and taken.get(kind, 0) >= DRILL_STAND_INS_PER_KIND:
            continue
        taken[kind] = taken.get(kind, 0) + 1
        path = mirror / image
        _generated_xray(1000 + index, (DRILL_STAND_IN_SIZE, DRILL_STAND_IN_SIZE)).save(path)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        for row in film_rows:
            for column, side in (("box_x", "width"), ("box_y", "height"), ("box_w", "width"), ("box_h", "height")):
                if row[column]:
                    row[column] = f"{float(row[column]) * DRILL_STAND_IN_SIZE / int(row[side]):.2f}"
            row.update(width=str(DRILL_STAND_IN_SIZE), height=str(DRILL_STAND_IN_SIZE), sha256=digest)
            chosen.append(row)
    with (folder / "drill_films.csv").open("w", newline="") as table:
        writer = csv.DictWriter(table, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(chosen)
    return list(dict.fromkeys(row["image"] for row in chosen))


@pytest.fixture(scope="session")
def hub_cache(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model laid out exactly as huggingface_hub caches a download of google/medgemma-1.5-4b-it."""
    import shutil

    cache = tmp_path_factory.mktemp("hub-cache")
    repo = cache / "models--google--medgemma-1.5-4b-it"
    revision = "0123456789abcdef0123456789abcdef01234567"
    snapshot = repo / "snapshots" / revision
    snapshot.mkdir(parents=True)
    for path in tiny_model_dir.iterdir():
        shutil.copy(path, snapshot / path.name)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(revision)
    return cache


@pytest.fixture
def with_cases(case_environment: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Apply case_environment to this test's process."""
    for name, value in case_environment.items():
        monkeypatch.setenv(name, value)
    return case_environment


# Chest films of both orientations, none square: centred square padding changes what the model receives, so a
# path that forgot to pad shows up in its pixel_values whether or not the real (mostly square) films are here.
NONSQUARE_FILM_SIZES = ((320, 240), (240, 320))


@pytest.fixture(scope="session")
def nonsquare_case_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Copies of the case files whose chest films are generated non-square radiographs (sha256 pinned as usual)."""
    return _cases_with_generated_films(tmp_path_factory.mktemp("nonsquare-cases"),
                                       lambda index: NONSQUARE_FILM_SIZES[index % 2])


@pytest.fixture
def with_nonsquare_cases(nonsquare_case_files: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Apply nonsquare_case_files to this test's process."""
    for name, value in nonsquare_case_files.items():
        monkeypatch.setenv(name, value)
    return nonsquare_case_files


@pytest.fixture(autouse=True)
def _fresh_concordance_patterns():
    """Every test builds the concordance patterns it uses, so a test depends on how they are built.

    (They are cached across calls in normal use; without this, only the first test to check a finding would
    exercise the pattern code, and mutation testing would map the rest to nothing.)
    """
    from medgemma_helpers.concordance import _patterns_of

    _patterns_of.cache_clear()


@pytest.fixture(autouse=True)
def _fresh_read_first_sessions():
    """Every test starts in a fresh kernel's read-first state: a key seen in one test is not seen in the next."""
    from medgemma_helpers import reveal

    reveal.forget_sessions()
    yield
    reveal.forget_sessions()
