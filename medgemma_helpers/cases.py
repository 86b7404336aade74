"""Case files: one YAML file per case in cases/, validated into a `Case` on load.

Layer: cases and concordance. May import: errors.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from .attributes import SIDES, SIZES
from .errors import CaseError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CASES_DIR = PROJECT_ROOT / "cases"
IMAGES_DIR = PROJECT_ROOT / "images"

EXPECTATIONS = ("present", "absent")
# What a key item is: a finding the image (or history) shows, the impression a read should reach, or a next step
# (a test) it should name. Impressions and next steps are checked like findings but scored apart from them.
KINDS = ("finding", "impression", "next step")
# The modalities a user's own image may be declared as, with the other words people use for each.
MODALITY_ALIASES = {
    "ultrasound": ("ultrasound", "us", "sonography", "ultrasonography", "sonogram"),
    "mri": ("mri", "mr", "magnetic resonance"),
    "ct": ("ct", "computed tomography"),
    "radiograph": ("radiograph", "x-ray", "xray", "cxr", "plain film"),
}


def canonical_modality(name: str) -> str | None:
    """The canonical modality ("ultrasound", "mri", "ct", "radiograph") for a name a user gives, or None."""
    wanted = " ".join(str(name).lower().replace("_", " ").split())
    return next((modality for modality, aliases in MODALITY_ALIASES.items() if wanted in aliases), None)
SHA256_PATTERN = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class ReferenceFinding:
    """One answer-key finding: its name, the words that mean it, and whether the image shows it."""

    name: str
    synonyms: tuple[str, ...]
    expected: str  # "present" or "absent"
    # Normal descriptions that deny the finding without naming it ("heart size is normal" for cardiomegaly).
    absent_when: tuple[str, ...] = ()
    # An absent finding a careful read states ("no pneumothorax" when the question asks about one). A read that
    # never mentions a non-pertinent absent finding is neither right nor wrong; a present finding always counts.
    pertinent: bool = True
    # Modalities of a user's own image on which this finding is read ("ultrasound", "mri"): such a finding is
    # scored only when the user brings an image of one of them, and the case's other findings are not.
    shown_on: tuple[str, ...] = ()
    # Where and how big, where the image shows it: side (right, left, bilateral), size (minimal ... borderline)
    # and site (zone or lobe words); "" where the key does not say.
    side: str = ""
    size: str = ""
    site: str = ""
    # A finding the key itself calls subtle: a hedged read ("possible mild oedema") agrees.
    subtle: bool = False
    # Where the film shows a present finding: boxes (x0, y0, x1, y1) in the film's own pixels, one per side for a
    # bilateral finding; drawn on the film when the key is revealed.
    regions: tuple[tuple[int, int, int, int], ...] = ()
    kind: str = "finding"  # one of KINDS

    @property
    def terms(self) -> tuple[str, ...]:
        """The name and every synonym, the name first."""
        return (self.name, *self.synonyms)


@dataclass(frozen=True)
class AnswerKey:
    """What the image shows and what the case is, for the reveal step."""

    findings: tuple[ReferenceFinding, ...]
    diagnosis: str
    certainty: str


@dataclass(frozen=True)
class CaseImage:
    """Where a case's image comes from, how to verify it, and whom to credit."""

    file: str
    url: str
    sha256: str
    size_bytes: int
    licence: str
    attribution: str
    source_label: str
    # The film's width and height in pixels, as the case file declares them: regions are checked against it.
    size_px: tuple[int, int] | None = None

    @property
    def local_path(self) -> Path:
        """Where the verified download lives inside images/."""
        return IMAGES_DIR / self.file


@dataclass(frozen=True)
class Patient:
    """The patient of the teaching scenario (not of the image source)."""

    age: int | None
    sex: str | None


DIFFICULTIES = ("introductory", "intermediate", "advanced")


@dataclass(frozen=True)
class ModelReport:
    """A model report for report-writing practice: findings, impression, recommendation."""

    findings: str
    impression: str
    recommendation: str

    @property
    def findings_and_impression(self) -> str:
        """The report a patient has explained to them: its findings, then its impression."""
        return f"{' '.join(self.findings.split())} {' '.join(self.impression.split())}"


@dataclass(frozen=True)
class Reference:
    """A page for further reading: its title and its https address."""

    title: str
    url: str


@dataclass(frozen=True)
class Case:
    """One validated teaching case."""

    id: str
    slug: str
    title: str
    modality: str
    view: str
    patient: Patient
    presenting_complaint: str
    history: str
    red_flags: tuple[str, ...]
    differential: tuple[str, ...]
    review_checklist: tuple[str, ...]
    question: str
    system_prompt: str | None
    own_image_question: str | None  # asked instead of `question` when a user brings an image
    answer_key: AnswerKey
    teaching_points: tuple[str, ...]
    image: CaseImage | None
    source_file: Path = field(compare=False)
    # The teaching layer: optional, so a teacher's own case file works without it; the notebook falls back to
    # generic objectives and questions.
    difficulty: str | None = None
    objectives: tuple[str, ...] = ()
    discussion_questions: tuple[str, ...] = ()
    model_report: ModelReport | None = None
    references: tuple[Reference, ...] = ()


# ---------------------------------------------------------------- validation


class _Reader:
    """Reads typed fields from one case file, raising CaseError that names file and field."""

    def __init__(self, path: Path):
        self.path = path

    def fail(self, field_name: str, problem: str) -> CaseError:
        return CaseError(f"Case file {self.path.name}: field '{field_name}' {problem}. Fix it in {self.path}.")

    def get(self, data: Any, key: str, kind: type | tuple[type, ...], prefix: str = "", optional: bool = False):
        name = f"{prefix}{key}"
        if not isinstance(data, dict):
            raise self.fail(prefix.rstrip(".") or "(top level)", "must be a mapping of fields")
        if key not in data or data[key] is None:
            if optional:
                return None
            raise self.fail(name, "is missing")
        value = data[key]
        # bool is an int subclass; a yes/no where a number belongs is a typo, not a number.
        if isinstance(value, bool) and kind in (int, (int,)):
            raise self.fail(name, f"must be {_kind_name(kind)}, not {type(value).__name__}")
        if not isinstance(value, kind):
            raise self.fail(name, f"must be {_kind_name(kind)}, not {type(value).__name__}")
        if isinstance(value, str) and not value.strip():
            raise self.fail(name, "is empty")
        return value

    def text_list(self, data: Any, key: str, prefix: str = "") -> tuple[str, ...]:
        values = self.get(data, key, list, prefix)
        for index, item in enumerate(values):
            if not isinstance(item, str) or not item.strip():
                raise self.fail(f"{prefix}{key}[{index}]", "must be a non-empty text")
        return tuple(values)


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {str: "text", int: "a whole number", list: "a list", dict: "a mapping"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _safe_image_file(reader: _Reader, name: str) -> str:
    """Refuse image names that would resolve outside images/ (absolute paths, '..', folders)."""
    pure = PurePosixPath(name.replace("\\", "/"))
    if pure.is_absolute() or len(pure.parts) != 1 or pure.name in ("", ".", "..") or ":" in name:
        raise reader.fail("image.file", f"'{name}' must be a plain file name inside images/")
    if not (IMAGES_DIR / pure.name).resolve().is_relative_to(IMAGES_DIR.resolve()):
        raise reader.fail("image.file", f"'{name}' would leave images/")
    return pure.name


def _folded_term(term: str) -> str:
    """A term as the matcher sees it: case, hyphens and spaces do not count ("Air-space" = "airspace")."""
    return "".join(re.findall(r"[a-z0-9]+", term.lower()))


def _scored_together(first: ReferenceFinding, second: ReferenceFinding) -> bool:
    """Two findings are scored on the same read when neither needs an image, or both on a shared modality."""
    if not first.shown_on and not second.shown_on:
        return True
    return bool(set(first.shown_on) & set(second.shown_on))


def _refuse_shared_terms(reader: _Reader, findings: list[ReferenceFinding]) -> None:
    """A term that two findings scored on the same read both claim would make one mention count for both."""
    owner: list[dict[str, str]] = [{} for _ in findings]
    for index, finding in enumerate(findings):
        for term in finding.terms:
            owner[index].setdefault(_folded_term(term), term)
    for second in range(len(findings)):
        for first in range(second):
            if not _scored_together(findings[first], findings[second]):
                continue
            for folded, term in owner[second].items():
                if folded in owner[first]:
                    part = "name" if folded == _folded_term(findings[second].name) else "synonyms"
                    raise reader.fail(
                        f"answer_key.findings[{second}].{part}",
                        f"gives '{term}', which finding '{findings[first].name}' (answer_key.findings[{first}]) "
                        f"also has as '{owner[first][folded]}'; findings '{findings[first].name}' and "
                        f"'{findings[second].name}' are scored on the same read, so one mention would count for "
                        "both. Keep the term in the one finding it means (or give the two findings shown_on "
                        "modalities that do not overlap)")


def _parse_case(path: Path, data: Any) -> Case:
    r = _Reader(path)
    if not isinstance(data, dict):
        raise CaseError(f"Case file {path.name} must hold a YAML mapping of fields; fix {path}.")
    case_id = r.get(data, "id", str)
    if not re.fullmatch(r"\d{2}", case_id):
        raise r.fail("id", f"'{case_id}' must be two digits, quoted, such as \"01\"")
    slug = r.get(data, "slug", str)
    if not re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", slug):
        raise r.fail("slug", f"'{slug}' must be lowercase words joined by hyphens")

    patient_data = r.get(data, "patient", dict)
    patient = Patient(
        age=r.get(patient_data, "age", int, "patient.", optional=True),
        sex=r.get(patient_data, "sex", str, "patient.", optional=True),
    )

    image = _parse_image(r, data)
    key_data = r.get(data, "answer_key", dict)
    findings = []
    for index, item in enumerate(r.get(key_data, "findings", list, "answer_key.")):
        prefix = f"answer_key.findings[{index}]."
        expected = r.get(item, "expected", str, prefix)
        if expected not in EXPECTATIONS:
            raise r.fail(f"{prefix}expected", f"must be one of {', '.join(EXPECTATIONS)}, not '{expected}'")
        pertinent = item.get("pertinent", True)
        if not isinstance(pertinent, bool):
            raise r.fail(f"{prefix}pertinent", f"must be true or false, not {pertinent!r}")
        if not pertinent and expected == "present":
            raise r.fail(f"{prefix}pertinent", "is false on a present finding; a present finding always counts, "
                                               "so mark only absent findings as not pertinent")
        shown_on = []
        for name in r.text_list(item, "shown_on", prefix) if item.get("shown_on") is not None else ():
            modality = canonical_modality(name)
            if modality is None:
                raise r.fail(f"{prefix}shown_on", f"names '{name}', not a modality; use {', '.join(MODALITY_ALIASES)}")
            shown_on.append(modality)
        name = r.get(item, "name", str, prefix)
        side = (r.get(item, "side", str, prefix, optional=True) or "").strip().lower()
        if side and side not in SIDES:
            raise r.fail(f"{prefix}side", f"of finding '{name}' is '{side}', not a side; use one of {', '.join(SIDES)}")
        size = (r.get(item, "size", str, prefix, optional=True) or "").strip().lower()
        if size and size not in SIZES:
            raise r.fail(f"{prefix}size", f"of finding '{name}' is '{size}', not a size; use one of {', '.join(SIZES)}")
        subtle = item.get("subtle", False)
        if not isinstance(subtle, bool):
            raise r.fail(f"{prefix}subtle", f"must be true or false, not {subtle!r}")
        kind = (r.get(item, "kind", str, prefix, optional=True) or "finding").strip().lower()
        if kind not in KINDS:
            raise r.fail(f"{prefix}kind", f"of finding '{name}' is '{kind}'; use one of {', '.join(KINDS)}")
        if (side or size or subtle) and expected != "present":
            raise r.fail(f"{prefix}expected", "is absent, but side, size or subtle describe a finding the image "
                                              "shows; give them only to present findings")
        findings.append(
            ReferenceFinding(
                name=name,
                synonyms=r.text_list(item, "synonyms", prefix),
                expected=expected,
                absent_when=r.text_list(item, "absent_when", prefix) if item.get("absent_when") is not None else (),
                pertinent=pertinent,
                shown_on=tuple(shown_on),
                side=side,
                size=size,
                site=(r.get(item, "site", str, prefix, optional=True) or "").strip(),
                subtle=subtle,
                regions=_parse_regions(r, item, prefix, name, expected, side, image),
                kind=kind,
            )
        )
    if not findings:
        raise r.fail("answer_key.findings", "must list at least one finding")
    _refuse_shared_terms(r, findings)
    answer_key = AnswerKey(
        findings=tuple(findings),
        diagnosis=r.get(key_data, "diagnosis", str, "answer_key."),
        certainty=r.get(key_data, "certainty", str, "answer_key."),
    )

    return Case(
        id=case_id,
        slug=slug,
        title=r.get(data, "title", str),
        modality=r.get(data, "modality", str),
        view=r.get(data, "view", str),
        patient=patient,
        presenting_complaint=r.get(data, "presenting_complaint", str),
        history=r.get(data, "history", str),
        red_flags=r.text_list(data, "red_flags"),
        differential=r.text_list(data, "differential"),
        review_checklist=r.text_list(data, "review_checklist"),
        question=r.get(data, "question", str),
        system_prompt=r.get(data, "system_prompt", str, optional=True),
        own_image_question=r.get(data, "own_image_question", str, optional=True),
        answer_key=answer_key,
        teaching_points=r.text_list(data, "teaching_points"),
        image=image,
        source_file=path,
        **_teaching_layer(r, data),
    )


def _parse_image(r: _Reader, data: dict[str, Any]) -> CaseImage | None:
    """The case's pinned film, or None for a case without one."""
    image_data = r.get(data, "image", dict, optional=True)
    if image_data is None:
        return None
    sha256 = r.get(image_data, "sha256", str, "image.").lower()
    if not SHA256_PATTERN.fullmatch(sha256):
        raise r.fail("image.sha256", "must be 64 hexadecimal digits")
    url = r.get(image_data, "url", str, "image.")
    if not url.startswith("https://"):
        raise r.fail("image.url", "must be an https:// address pinned to a fixed version")
    size_px = None
    if image_data.get("size_px") is not None:
        size = image_data["size_px"]
        if (not isinstance(size, list) or len(size) != 2
                or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size)):
            raise r.fail("image.size_px", f"is {size!r}; give the film's [width, height] in pixels, two whole numbers")
        size_px = (size[0], size[1])
    return CaseImage(
        file=_safe_image_file(r, r.get(image_data, "file", str, "image.")),
        url=url,
        sha256=sha256,
        size_bytes=r.get(image_data, "size_bytes", int, "image."),
        licence=r.get(image_data, "licence", str, "image."),
        attribution=r.get(image_data, "attribution", str, "image."),
        source_label=r.get(image_data, "source_label", str, "image."),
        size_px=size_px,
    )


def _box_side(box: tuple[int, int, int, int], width: int) -> str:
    """The patient's side a box lies on: the viewer's left half of a frontal film is the patient's right."""
    if box[2] <= width / 2:
        return "right"
    if box[0] >= width / 2:
        return "left"
    return "both"


def _parse_regions(r: _Reader, item: dict[str, Any], prefix: str, name: str, expected: str, side: str,
                   image: CaseImage | None) -> tuple[tuple[int, int, int, int], ...]:
    """A finding's region: one box [x0, y0, x1, y1] or a list of them, on the film and on the key's side."""
    value = item.get("region")
    if value is None:
        return ()
    field_name = f"{prefix}region"
    where = f"of finding '{name}'"
    if expected != "present":
        raise r.fail(field_name, f"{where} marks a finding the key calls absent; give regions only to present findings")
    if image is None or image.size_px is None:
        raise r.fail(field_name, f"{where} needs the film's size: add image.size_px: [width, height]")
    width, height = image.size_px
    items = value if isinstance(value, list) and value and all(isinstance(v, list) for v in value) else [value]
    boxes = []
    for box in items:
        if (not isinstance(box, list) or len(box) != 4
                or not all(isinstance(v, int) and not isinstance(v, bool) for v in box)):
            raise r.fail(field_name, f"{where} is {box!r}; give [x0, y0, x1, y1] in the film's pixels (whole "
                                     "numbers), or a list of such boxes")
        x0, y0, x1, y1 = box
        if x0 >= x1 or y0 >= y1:
            raise r.fail(field_name, f"{where} is {box!r}: x0 must be less than x1 and y0 less than y1")
        if x0 < 0 or y0 < 0 or x1 > width or y1 > height:
            raise r.fail(field_name, f"{where} is {box!r}, off the {width} x {height} film; keep every box "
                                     f"within 0..{width} across and 0..{height} down")
        boxes.append((x0, y0, x1, y1))
    sides = [_box_side(box, width) for box in boxes]
    if side in ("right", "left"):
        for box, box_side in zip(boxes, sides):
            if box_side != side:
                raise r.fail(field_name, f"{where} has {list(box)!r}, which is not wholly on the patient's {side} "
                                         f"(the viewer's {'left' if side == 'right' else 'right'} half, x "
                                         f"{'up to' if side == 'right' else 'from'} {width // 2}); the key says "
                                         f"{side}: move the box or correct the side")
    elif side == "bilateral" and ("both" in sides or set(sides) != {"right", "left"}):
        raise r.fail(field_name, f"{where} is bilateral: give one box wholly on each side of the midline "
                                 f"(x = {width // 2}), not {[list(b) for b in boxes]!r}")
    return tuple(boxes)


def _optional_texts(reader: _Reader, data: dict[str, Any], key: str) -> tuple[str, ...]:
    return reader.text_list(data, key) if data.get(key) is not None else ()


def _teaching_layer(r: _Reader, data: dict[str, Any]) -> dict[str, Any]:
    """The case's teaching layer (difficulty, objectives, questions, model report, references), each optional."""
    difficulty = r.get(data, "difficulty", str, optional=True)
    if difficulty is not None and difficulty not in DIFFICULTIES:
        raise r.fail("difficulty", f"is '{difficulty}'; use one of {', '.join(DIFFICULTIES)}")
    questions = _optional_texts(r, data, "discussion_questions")
    if len(questions) == 1:
        raise r.fail("discussion_questions", "lists one question; give two or three, or leave the field out")
    report = None
    report_data = r.get(data, "model_report", dict, optional=True)
    if report_data is not None:
        report = ModelReport(*(r.get(report_data, part, str, "model_report.")
                               for part in ("findings", "impression", "recommendation")))
    references = []
    for index, item in enumerate(r.get(data, "references", list, optional=True) or ()):
        prefix = f"references[{index}]."
        url = r.get(item, "url", str, prefix).strip()
        if not re.fullmatch(r"https://[^\s/]+\.[^\s/]+(/\S*)?", url):
            raise r.fail(f"{prefix}url", f"'{url}' must be one https:// address, such as a Radiopaedia page")
        references.append(Reference(title=r.get(item, "title", str, prefix), url=url))
    return {"difficulty": difficulty, "objectives": _optional_texts(r, data, "objectives"),
            "discussion_questions": questions, "model_report": report, "references": tuple(references)}


def read_case_file(path: str | Path) -> Case:
    """Read and validate one case file."""
    path = Path(path)
    if not path.is_file():
        raise CaseError(f"Case file {path} does not exist or is not a file; check the path.")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise CaseError(f"Case file {path.name} is not valid YAML ({error}); fix {path}.") from None
    case = _parse_case(path, data)
    if not path.stem.startswith(f"{case.id}_"):
        raise CaseError(f"Case file {path.name}: field 'id' is '{case.id}' but the file name starts otherwise; "
                        f"name the file {case.id}_{case.slug}.yaml.")
    return case


CASES_DIR_ENV = "MEDGEMMA_CASES_DIR"


def cases_dir() -> Path:
    """The case folder: MEDGEMMA_CASES_DIR when set (a teacher's own cases), else the project's cases/."""
    value = os.environ.get(CASES_DIR_ENV, "").strip()
    return Path(value).expanduser() if value else CASES_DIR


def list_cases(folder: str | Path | None = None) -> list[Case]:
    """Every case in the case folder, validated, in id order."""
    folder = Path(folder) if folder else cases_dir()
    if not folder.is_dir():
        raise CaseError(f"Case folder {folder} does not exist; check {CASES_DIR_ENV} or the path given.")
    cases = [read_case_file(path) for path in sorted(folder.glob("*.yaml"))]
    seen: dict[str, Path] = {}
    for case in cases:
        for key in (case.id, case.slug):
            if key in seen:
                raise CaseError(f"Case files {seen[key].name} and {case.source_file.name} share the id or slug "
                                f"'{key}'; give each case its own.")
            seen[key] = case.source_file
    return cases


def load_case(id_or_slug: Case | str | int, folder: str | Path | None = None) -> Case:
    """One case by id ("01", 1) or slug ("standard-chest-xray"); a Case is returned as it is."""
    if isinstance(id_or_slug, Case):
        return id_or_slug
    if isinstance(id_or_slug, bool) or not isinstance(id_or_slug, (str, int)):
        raise CaseError(f"Case id {id_or_slug!r} must be text such as \"01\" or a slug; "
                        f"got {type(id_or_slug).__name__}.")
    wanted = str(id_or_slug).strip().lower()
    if wanted.isdigit():
        wanted = wanted.zfill(2)
    cases = list_cases(folder)
    for case in cases:
        if wanted in (case.id, case.slug):
            return case
    known = ", ".join(f"{c.id} ({c.slug})" for c in cases) or "none found"
    raise CaseError(f"Unknown case id or slug {str(id_or_slug)[:80]!r}; known cases: {known}.")


def case_prompt(case: Case | str | int, *, own_image: bool = False) -> str:
    """The question put to MedGemma for this case (the own-image variant when the user brings an image)."""
    case = load_case(case)
    return case.own_image_question if own_image and case.own_image_question else case.question
