"""MedGemma case notebooks: the one import every notebook uses (`import medgemma_helpers as mh`).

Educational use only: MedGemma is not a diagnostic tool, and its output needs clinical judgment.
"""

from ._version import __version__
from .auth import DEFAULT_MODEL_ID, authenticate
from .batch import Request, analyze_many
from .cases import Case, list_cases, load_case
from .errors import AccessError, CaseError, ImageError, InputError, MedGemmaError
from .generate import Findings, analyze, build_messages, split_thinking
from .images import load_image, pad_square
from .model import MedGemma, clear_model_cache, load_model
from .remote import RemoteMedGemma, connect
from .render import DISCLAIMER, show_findings
from .concordance import FindingCheck, check_findings, concordance_score
from .class_reads import class_review, save_read
from .teaching import (REPORT_SECTIONS, export_handout, parse_report, quiz, run_all_cases, show_answer_key,
                       show_report, show_summary, structured_prompt, write_summary)
from .walkthrough import case_image, case_prompt, run_case, show_case, upload_image
from .boxes import LOCALISATION_PROMPT, Box, draw_boxes, parse_boxes
from .dicom import WINDOW_PRESETS, CTVolume, ct_windows, load_ct_series, montage, mri_windows, slice_browser
from .skills import (COMPARISON_PROMPT, Change, analyze_volume, compare_studies, localize, parse_changes, show_boxes,
                     show_pair, show_volume, volume_request, write_demo_ct_series)

__all__ = [
    "AccessError", "Case", "CaseError", "InputError", "DEFAULT_MODEL_ID", "DISCLAIMER", "Findings", "ImageError", "MedGemma",
    "MedGemmaError", "analyze", "authenticate", "build_messages", "clear_model_cache", "list_cases", "load_case",
    "load_image", "load_model", "pad_square", "show_findings", "split_thinking", "case_prompt", "run_case",
    "show_answer_key", "show_case", "FindingCheck", "check_findings", "concordance_score", "REPORT_SECTIONS",
    "export_handout", "parse_report", "quiz", "run_all_cases", "show_report", "show_summary", "structured_prompt",
    "write_summary", "LOCALISATION_PROMPT", "Box", "draw_boxes", "parse_boxes", "WINDOW_PRESETS", "CTVolume",
    "ct_windows", "load_ct_series", "montage", "mri_windows", "slice_browser", "COMPARISON_PROMPT", "Change",
    "analyze_volume", "compare_studies", "localize", "parse_changes", "show_boxes", "show_pair", "show_volume",
    "volume_request", "write_demo_ct_series", "case_image", "upload_image", "Request", "analyze_many",
    "RemoteMedGemma", "connect", "class_review", "save_read", "__version__",
]
