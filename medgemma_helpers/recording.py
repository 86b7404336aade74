"""Recording a class pack: the notebooks' questions asked once of a live MedGemma, every request as sent.

The recorder stands in for the model while the same functions the notebooks call run (run_case, localize,
compare_studies, analyze_volume), so each recorded request is exactly what a notebook sends at replay. The films
the notebooks show go into the pack too (unless images=False), with their attributions, so a class needs neither
network nor mirror.

Layer: apps. May import anything below it.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from .asking import QUICK_START_MAX_NEW_TOKENS, QUICK_START_QUESTION, analyze
from .case_images import case_image_path, films_resolved, verified_image_path
from .case_view import case_image
from .cases import Case, CaseImage, list_cases, load_case
from .comparison import IDENTITY_PAIR, compare_studies, series_films, series_image
from .ct_volume import NOTEBOOK_QUESTION, analyze_volume
from .demo_data import write_demo_ct_series, write_thin_slice_ct_series
from .dicom import load_ct_series
from .drills import ask_medgemma, notebook_films
from .errors import ImageError, InputError
from .localisation import NOTEBOOK_STRUCTURES, localize
from .model import default_model
from .pack import PackFilm, RecordingMedGemma, write_pack
from .patient import PATIENT_NOTEBOOK_CASES, explain_for_patient
from .reports import structured_prompt
from .trust import TRUST_CASE, compare_contexts
from .walkthrough import run_case


def record_pack(path: str | Path, cases: list[Case | str | int] | None = None, model: Any = None, *,
                images: bool = True) -> Path:
    """Ask the live model every question the notebooks ask (or only these cases'), and write the class pack.

    Per case: its question, and for a case with an image the structured-read prompt too (cases 03 and 04 also
    their key's read explained for the patient, as notebook 12 asks); with no cases given,
    also the quick start's question and the skill notebooks' fixed ones (localisation, prior versus current, the
    CT phantom, and notebook 11's film asked with its history, without it and with a misleading one). The class
    review asks the cases' own questions, so it replays from the pack as well. With images (the default) the pack
    also carries the films those notebooks show: the cases', the prior-current series' and the drill films recorded.
    """
    path = Path(path).expanduser()
    if path.is_dir():  # said now, not after an hour of recording
        raise InputError(f"{path} is a folder; give the pack a file name, such as {path / 'class.pack'}.")
    recorder = RecordingMedGemma(model if model is not None else default_model())
    chosen = [load_case(case) for case in cases] if cases is not None else list_cases()
    with films_resolved() as films:
        drill = _record(recorder, chosen, everything=cases is None)
        if images:  # every film the notebooks show, asked about or not (notebook 09 shows the whole series)
            for case in chosen:
                if case.image is not None:
                    case_image_path(case)
            if cases is None:
                for film in series_films():
                    verified_image_path(film.image)
    carried = [_pack_film(image, file) for image, file in films.values()] if images else []
    written = write_pack(path, recorder, carried)
    size = os.path.getsize(written) / 1e6
    print(f"Wrote {len(recorder.entries)} recorded answers and {len(carried)} films ({size:.1f} MB) to {written}.")
    but = "" if drill else " but the drill (13), whose films could not be fetched,"
    which = (f"the notebooks of cases {', '.join(case.id for case in chosen)} run" if cases is not None
             else f"every notebook{but} runs")
    if images:
        print(f"Hand it to the class: with MEDGEMMA_PACK={written.name} (or mh.use_pack), {which} without a "
              "GPU, token, network or image mirror. The films keep their attributions (images/SOURCES.md).")
    else:
        print(f"Hand it to the class: with MEDGEMMA_PACK={written.name} (or mh.use_pack), {which} without a "
              "GPU or token; it holds no films, so each computer fetches them once (network) or reads them from "
              "MEDGEMMA_IMAGE_MIRROR.")
    return written


def _pack_film(image: CaseImage, file: Path) -> PackFilm:
    """A resolved film with its credits, as a pack carries it."""
    return PackFilm(image.file, image.sha256, image.url, image.licence, image.attribution, image.source_label,
                    file.read_bytes())


def _record(recorder: RecordingMedGemma, chosen: list[Case], *, everything: bool) -> bool:
    """Ask every recorded question of the chosen cases, and with everything the skill notebooks' too.

    False when the drill's films could not be fetched, so the pack holds no drill answers.
    """
    asked = 0
    for case in chosen:
        requests: list[tuple[str, str | None]] = [(f"case {case.id}: its question", None)]
        if case.image is not None:
            requests.append((f"case {case.id}: the structured read", structured_prompt(case)))
        for label, prompt in requests:
            asked += 1
            print(f"[{asked}] {label}", flush=True)
            recorder.label = label
            run_case(case, recorder, prompt=prompt, stream=False, show_prompt=False)
        if case.id in PATIENT_NOTEBOOK_CASES and case.model_report:  # notebook 12: the report, for the patient
            asked += 1
            print(f"[{asked}] case {case.id}: its read explained for the patient", flush=True)
            recorder.label = f"notebook 12: case {case.id} explained for the patient"
            explain_for_patient(case.model_report.findings_and_impression, case, model=recorder, stream=False)
    if not everything:
        return True
    print(f"[{asked + 1}] the quick start's, the skill notebooks' and the class review's questions", flush=True)
    recorder.label = "notebook 00: the quick start"
    analyze(case_image("01"), QUICK_START_QUESTION, model=recorder, max_new_tokens=QUICK_START_MAX_NEW_TOKENS,
            stream=False)
    for structure in NOTEBOOK_STRUCTURES:
        recorder.label = f"notebook 08: localisation of the {structure}"
        localize(case_image("01"), structure, model=recorder, stream=False)
    recorder.label = "notebook 09: prior versus current"
    films = series_films()
    compare_studies(series_image(films[-2]), series_image(films[-1]), model=recorder, stream=False)
    recorder.label = "notebook 09: two patients' films compared as one patient's"
    film_a, film_b = (case_image(case) for case in IDENTITY_PAIR)
    compare_studies(film_a, film_b, model=recorder, stream=False)
    recorder.label = "notebook 07: the CT phantom"
    with tempfile.TemporaryDirectory() as folder:
        analyze_volume(load_ct_series(write_demo_ct_series(folder)), NOTEBOOK_QUESTION, model=recorder,
                       stream=False)
    recorder.label = "notebook 07: the thin-slice CT phantom"
    with tempfile.TemporaryDirectory() as folder:
        analyze_volume(load_ct_series(write_thin_slice_ct_series(folder)), NOTEBOOK_QUESTION, model=recorder,
                       stream=False)
    recorder.label = "notebook 11: one film, three contexts"
    compare_contexts(TRUST_CASE, model=recorder)
    # The drill (notebook 13): MedGemma's answer for every film of the notebook's draw, and its box for the
    # finding it names, asked exactly as the drill asks them.
    try:
        for drill_film in notebook_films():
            recorder.label = f"notebook 13: drill film {drill_film.image}"
            ask_medgemma(drill_film, recorder)
    except ImageError as error:  # no network and no mirror: the rest of the pack is still worth writing
        print(f"The drill's films could not be fetched, so the pack holds no drill answers: {error}", flush=True)
        return False
    return True
