"""MedGemma case notebooks: the one import every notebook uses, `import medgemma_helpers as mh`.

Educational use only: MedGemma is not a diagnostic tool, and its output needs clinical judgment.

What a notebook or a teacher calls (everything else lives in its module, layer by layer):

    Reaching MedGemma   authenticate, load_model, connect, use_pack, record_pack, clear_model_cache
    Asking              analyze, analyze_many, Request, Findings, show_findings, split_thinking
    Cases               list_cases, load_case, case_prompt, case_image, load_image, upload_image
    Patients            explain_for_patient, check_explanation, PatientExplanation, show_explanations
    Teaching            show_case, quiz, run_case, show_answer_key, structured_prompt, show_report,
                        check_findings, concordance_score, FindingCheck, export_handout,
                        run_all_cases, show_summary, write_summary, save_read, class_review
    Trust               compare_contexts, use_round (a teacher's round file; quiz.keep, quiz.revise)
    Skills              load_ct_series, ct_windows, volume_request, analyze_volume, show_volume, montage,
                        localize, parse_boxes, Box, show_boxes, compare_studies, show_pair,
                        series_films, series_image
    Drills              drill, drill_review
    Errors              MedGemmaError, AccessError, CaseError, ImageError, InputError

The modules, from the bottom up (each imports only those below it; import-linter checks this):
errors, files, render, secret -> pixels, dicom, images, figures (image input) -> access, auth, local, remote,
pack, model (model access) -> asking -> attributes, cases, chest_findings, concordance, case_images, reports,
impressions (case content and how a read is judged) -> reveal, revisions, case_view, walkthrough, lay_terms,
patient, class_reads, quizzes, handouts, summary (the teaching flow) -> ct_volume, localisation, comparison,
demo_data, trust, drills (skills) -> notebooks, recording, hosted_setup, cli (apps).
"""

from ._version import __version__
from .asking import Findings, Request, analyze, analyze_many, show_findings, split_thinking
from .auth import authenticate
from .case_view import case_image, show_case, upload_image
from .cases import Case, case_prompt, list_cases, load_case
from .class_reads import class_review, drill_review, save_read
from .comparison import compare_studies, series_films, series_image, show_pair
from .concordance import FindingCheck, check_findings, concordance_score
from .ct_volume import analyze_volume, show_volume, volume_request
from .dicom import ct_windows, load_ct_series
from .drills import drill
from .errors import AccessError, CaseError, ImageError, InputError, MedGemmaError
from .figures import montage
from .handouts import export_handout
from .images import load_image
from .localisation import Box, localize, parse_boxes, show_boxes
from .model import clear_model_cache, load_model
from .pack import use_pack
from .patient import PatientExplanation, check_explanation, explain_for_patient, show_explanations
from .quizzes import quiz, show_answer_key
from .recording import record_pack
from .remote import connect
from .reports import show_report, structured_prompt
from .revisions import use_round
from .summary import run_all_cases, show_summary, write_summary
from .trust import compare_contexts
from .walkthrough import run_case

__all__ = [
    "__version__",
    "authenticate", "load_model", "connect", "use_pack", "record_pack", "clear_model_cache",
    "analyze", "analyze_many", "Request", "Findings", "show_findings", "split_thinking",
    "list_cases", "load_case", "Case", "case_prompt", "case_image", "load_image", "upload_image",
    "show_case", "quiz", "run_case", "show_answer_key", "structured_prompt", "show_report",
    "check_findings", "concordance_score", "FindingCheck", "export_handout",
    "run_all_cases", "show_summary", "write_summary", "save_read", "class_review",
    "explain_for_patient", "check_explanation", "PatientExplanation", "show_explanations",
    "load_ct_series", "ct_windows", "volume_request", "analyze_volume", "show_volume", "montage",
    "localize", "parse_boxes", "Box", "show_boxes", "compare_studies", "show_pair", "series_films", "series_image",
    "MedGemmaError", "AccessError", "CaseError", "ImageError", "InputError",
    "drill", "drill_review",
    "compare_contexts", "use_round",
]
