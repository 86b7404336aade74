"""Command line: `python -m medgemma_helpers notebooks|run|summary|analyze|pack|make-notebooks`.

Layer: apps. May import anything below it.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ._version import __version__
from .asking import analyze
from .auth import ACCESS_STEPS, MODEL_ID_ENV, default_model_id, find_token, is_local_model, looks_like_folder
from .case_view import show_case
from .cases import cases_dir, load_case
from .errors import CaseError, MedGemmaError
from .images import load_image, model_image
from .notebooks import case_notebooks, execute_notebooks, set_repo_url, write_notebooks
from .pack import PACK_ENV
from .quizzes import show_answer_key
from .recording import record_pack
from .render import DISCLAIMER
from .summary import run_all_cases, show_summary, write_summary
from .walkthrough import run_case


def _in_hub_cache(model_id: str) -> bool:
    """True when a download of model_id is already in the Hugging Face cache (no token needed to use it)."""
    from huggingface_hub import try_to_load_from_cache

    try:
        return isinstance(try_to_load_from_cache(model_id, "config.json"), str)
    except Exception:  # noqa: BLE001 - an odd id or cache layout only means "not cached"
        return False


def _preflight(allow_cpu: bool) -> str | None:
    """What is missing to run MedGemma from the Hub here, with how to fix it; None when ready."""
    model_id = default_model_id()
    if is_local_model(model_id):
        return None
    if os.environ.get("MEDGEMMA_ENDPOINT") or os.environ.get("MEDGEMMA_PACK"):
        return None
    if looks_like_folder(model_id):
        return (f"- {MODEL_ID_ENV} names the model folder {model_id}, which does not exist: check the path, or "
                "unset it to download MedGemma from the Hub.")
    problems = []
    if find_token() is None and not _in_hub_cache(model_id):
        problems.append("No Hugging Face token: MedGemma is gated. " + ACCESS_STEPS + " Then run this command again.")
    import torch

    if not torch.cuda.is_available() and not allow_cpu:
        problems.append("No CUDA GPU is visible: MedGemma 1.5 4B needs a GPU with about 10 GB (a T4 is enough) to "
                        "answer in seconds rather than minutes. Without one: replay a class pack a teacher recorded "
                        f"on a GPU ({PACK_ENV}=class.pack; no GPU, token or network needed), or use a class server "
                        "(MEDGEMMA_ENDPOINT=http://<server>:8000); or use Colab or Kaggle with a GPU; or pass "
                        "--allow-cpu to run on this CPU anyway (minutes per answer).")
    return "\n".join(f"- {problem}" for problem in problems) or None


def _not_ready(args: argparse.Namespace, doing: str) -> bool:
    """Print what is missing (token, GPU) and how to fix it; True when the command cannot go on."""
    missing = _preflight(args.allow_cpu)
    if missing:
        print(f"Cannot {doing} yet:\n{missing}", file=sys.stderr)
    return bool(missing)


def _cmd_notebooks(args: argparse.Namespace) -> int:
    if _not_ready(args, "run the walkthroughs"):
        return 2
    selected = case_notebooks()
    if args.only:
        selected = [path for path in selected if path.name[:2] in {item.zfill(2) for item in args.only}]
        if not selected:
            known = [p.name[:2] for p in case_notebooks()]
            print(f"No notebook matches {args.only}; ids are {known}.", file=sys.stderr)
            return 2
    results = execute_notebooks(Path(args.out), selected, timeout=args.timeout)
    failed = [result for result in results if result["error"]]
    print(f"{len(results) - len(failed)} of {len(results)} notebooks ran; executed notebooks and HTML are in "
          f"{args.out}.")
    for result in failed:
        print(f"  {result['notebook']} failed: {result['error']}", file=sys.stderr)
    return 1 if failed else 0


def _cmd_run(args: argparse.Namespace) -> int:
    try:
        case = load_case(args.case)
    except CaseError:
        notebook = next((p.name for p in case_notebooks() if p.name[:2] == str(args.case).zfill(2)), None)
        if notebook is None:
            raise
        print(f"{notebook} is a skill notebook, not a case: run it with "
              f"`python -m medgemma_helpers notebooks --only {notebook[:2]}`.", file=sys.stderr)
        return 2
    if _not_ready(args, "run the case"):
        return 2
    show_case(case)
    print()
    findings = run_case(case, image=args.image, modality=args.modality, max_new_tokens=args.max_new_tokens)
    print()
    show_answer_key(case, findings)
    return 0


def _cmd_analyze(args: argparse.Namespace) -> int:
    if _not_ready(args, "ask MedGemma"):
        return 2
    images = [model_image(path, modality="chest radiograph") if args.pad else load_image(path) for path in args.images]
    findings = analyze(images or None, args.prompt, system=args.system, max_new_tokens=args.max_new_tokens)
    if findings.thinking:
        print(f"[thinking trace of {len(findings.thinking)} characters not shown]")
    print(f"\n{findings.new_tokens} tokens in {findings.seconds:.1f} s. {DISCLAIMER}")
    return 0


def _cmd_summary(args: argparse.Namespace) -> int:
    if _not_ready(args, "run the cases"):
        return 2
    out = Path(args.out)
    results = run_all_cases(max_new_tokens=args.max_new_tokens, handouts=out / "handouts")
    show_summary(results)
    for path in write_summary(results, out):
        print(path)
    print(f"Handouts: {out / 'handouts'}")
    return 0


def _cmd_pack(args: argparse.Namespace) -> int:
    if os.environ.get(PACK_ENV, "").strip():
        print(f"{PACK_ENV} is set: recording needs the live model, not a pack. Unset it and run again.",
              file=sys.stderr)
        return 2
    if _not_ready(args, "record a class pack"):
        return 2
    record_pack(args.out, cases=args.only or None, images=not args.no_images)
    return 0


def _cmd_make_notebooks(args: argparse.Namespace) -> int:
    # A fork's address is recorded where the badges and setup cell read it, so later builds and tests agree.
    repo_url = set_repo_url(args.repo_url) if args.repo_url else None
    blind = args.blind  # None: the template's own BLIND (True: the differential waits for the read)
    written = (write_notebooks(Path(args.out), cases_dir(), blind=blind, repo_url=repo_url) if args.out
               else write_notebooks(blind=blind, repo_url=repo_url))
    for path in written:
        print(path)
    return 0


TOKENS_HELP = "the most tokens MedGemma may write, thinking included"


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run one command; returns the exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m medgemma_helpers",
        description="MedGemma case notebooks. Educational use only; not a diagnostic tool.")
    parser.add_argument("--version", action="version", version=f"medgemma-case-notebooks {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    said = ("run every notebook (the cases and the skills) headless: executed .ipynb and HTML, and whatever the "
            "notebooks write, go under --out")
    notebooks = commands.add_parser("notebooks", help=said, description=said[0].upper() + said[1:] + ".")
    notebooks.add_argument("--out", default="output", help="output folder (default: output)")
    notebooks.add_argument("--only", nargs="*", help="notebook ids to run, e.g. 01 03 (default: all)")
    notebooks.add_argument("--timeout", type=int, default=3600, help="seconds allowed per cell (default 3600)")
    notebooks.add_argument("--allow-cpu", action="store_true", help="run MedGemma on the CPU (very slow)")
    notebooks.set_defaults(handler=_cmd_notebooks)

    run = commands.add_parser("run", help="read one case in the terminal: history, streamed findings, answer key")
    run.add_argument("case", help="case id or slug, e.g. 01 or standard-chest-xray")
    run.add_argument("--image", help="your own image (for case 06, or to replace the case image)")
    run.add_argument("--modality", help="what --image is (ultrasound, MRI), so the key scores its signs")
    run.add_argument("--max-new-tokens", type=int, default=None, help=TOKENS_HELP + " (default: the case decides)")
    run.add_argument("--allow-cpu", action="store_true", help="run MedGemma on the CPU (very slow)")
    run.set_defaults(handler=_cmd_run)

    ask = commands.add_parser("analyze", help="ask MedGemma about one or more images (or none)")
    ask.add_argument("images", nargs="*", help="image paths, URLs or DICOM files")
    ask.add_argument("--prompt", required=True, help="the question for MedGemma, in quotes")
    ask.add_argument("--system", default="You are an expert radiologist.",
                     help="the system instruction (default: 'You are an expert radiologist.')")
    ask.add_argument("--pad", action="store_true", help="pad each image to a centred square (chest X-rays)")
    ask.add_argument("--max-new-tokens", type=int, default=1024, help=TOKENS_HELP + " (default 1024)")
    ask.add_argument("--allow-cpu", action="store_true", help="run MedGemma on the CPU (very slow)")
    ask.set_defaults(handler=_cmd_analyze)

    summary = commands.add_parser("summary", help="run all six cases with one model: table, chart and handouts")
    summary.add_argument("--out", default="output", help="output folder (default: output)")
    summary.add_argument("--max-new-tokens", type=int, default=1024, help=TOKENS_HELP + " (default 1024)")
    summary.add_argument("--allow-cpu", action="store_true", help="run MedGemma on the CPU (very slow)")
    summary.set_defaults(handler=_cmd_summary)

    pack = commands.add_parser("pack", help="record MedGemma's reads of the notebooks' questions, and the films they "
                                            "show, into a class pack")
    pack.add_argument("--out", default="class.pack", help="the pack file to write (default: class.pack)")
    pack.add_argument("--only", nargs="*", help="case ids to record, e.g. 01 03 (default: every case and skill "
                                                "notebook)")
    pack.add_argument("--no-images", action="store_true", help="leave the films out (a smaller pack; each computer "
                                                               "then fetches them, or reads MEDGEMMA_IMAGE_MIRROR)")
    pack.add_argument("--allow-cpu", action="store_true", help="run MedGemma on the CPU (very slow)")
    pack.set_defaults(handler=_cmd_pack)

    make = commands.add_parser("make-notebooks", help="write the notebooks from notebooks/templates and the cases")
    make.add_argument("--out", help="write into this folder, with the cases of MEDGEMMA_CASES_DIR (a teacher's own); "
                                    "its notebooks find this project from there; default: the project's notebooks/ "
                                    "from its cases/")
    make.add_argument("--repo-url", help="your fork's GitHub address (https://github.com/OWNER/NAME): recorded in "
                                         "notebooks/templates/repository.txt, then used for the badges and setup cell")
    make.add_argument("--blind", action=argparse.BooleanOptionalAction, default=None,
                      help="--blind (the default, as BLIND = True at the top of case.md) holds each case's "
                           "differential back until after the reveal; --no-blind gives the walkthroughs' original "
                           "order, the differential before the read")
    make.set_defaults(handler=_cmd_make_notebooks)

    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except MedGemmaError as error:
        print(f"Error: {error}", file=sys.stderr)
        return 2
