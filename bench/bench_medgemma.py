"""Where the time goes, measured side by side in one run on this machine; prints ONE JSON object.

    python bench/bench_medgemma.py                 # tiny checkpoint: helper vs quick-start, cached load,
                                                   # batched vs sequential, served vs local
    python bench/bench_medgemma.py --full-size     # also: load a random 4.3 B-parameter MedGemma-shaped
                                                   # checkpoint on the CPU (needs ~10 GB disk and ~12 GB RAM)

Not a test: the goals (ratio <= 1.05, cached load < 10 ms, peak RSS <= 1.1 x weights) are reported, not asserted.
Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    build_full_size_model,
    full_size_processor,
    log,
    median_seconds,
    offline_environment,
    parameter_bytes,
    test_image,
)

PROMPT = "Describe this chest X-ray."
SYSTEM = "You are an expert radiologist."


# ---------------------------------------------------------------- tiny checkpoint figures


def quick_start_answer(model: Any, processor: Any, image: Any, max_new_tokens: int) -> str:
    """The model card's quick-start code, as a user would paste it."""
    import torch

    messages = [
        {"role": "system", "content": [{"type": "text", "text": SYSTEM}]},
        {"role": "user", "content": [{"type": "image", "image": image}, {"type": "text", "text": PROMPT}]},
    ]
    inputs = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True,
                                           return_tensors="pt").to(model.device, dtype=torch.bfloat16)
    input_len = inputs["input_ids"].shape[-1]
    with torch.inference_mode():
        generation = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)[0][input_len:]
    return processor.decode(generation, skip_special_tokens=True)


def helper_vs_quick_start(folder: Path, image: Any, repeats: int, max_new_tokens: int) -> dict[str, Any]:
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    import medgemma_helpers as mh

    medgemma = mh.load_model(str(folder), device="cpu")
    processor = AutoProcessor.from_pretrained(folder)
    plain = AutoModelForImageTextToText.from_pretrained(folder, dtype=torch.bfloat16)

    def helper() -> str:
        return mh.analyze(image, PROMPT, system=SYSTEM, model=medgemma, max_new_tokens=max_new_tokens,
                          stream=False).text

    def helper_streamed() -> str:
        return mh.analyze(image, PROMPT, system=SYSTEM, model=medgemma, max_new_tokens=max_new_tokens,
                          on_text=lambda text: None).text

    def quick_start() -> str:
        return quick_start_answer(plain, processor, image, max_new_tokens).strip()

    for function in (helper, helper_streamed, quick_start):  # warm-up
        function()
    samples: dict[str, list[float]] = {"helper": [], "helper_streamed": [], "quick_start": []}
    answers = {}
    for _ in range(repeats):  # interleaved, so drift in machine speed hits all three alike
        for name, function in (("helper", helper), ("helper_streamed", helper_streamed), ("quick_start", quick_start)):
            started = time.perf_counter()
            answers[name] = function()
            samples[name].append(time.perf_counter() - started)
    medians = {name: statistics.median(values) for name, values in samples.items()}
    return {
        "max_new_tokens": max_new_tokens, "repeats": repeats,
        "helper_analyze_s": round(medians["helper"], 5),
        "helper_analyze_streamed_s": round(medians["helper_streamed"], 5),
        "quick_start_s": round(medians["quick_start"], 5),
        "ratio_helper_over_quick_start": round(medians["helper"] / medians["quick_start"], 4),
        "ratio_streamed_over_quick_start": round(medians["helper_streamed"] / medians["quick_start"], 4),
        "goal_ratio": 1.05,
        "same_answer": answers["helper"] == answers["quick_start"] == answers["helper_streamed"],
    }


def cached_load(folder: Path, repeats: int = 50) -> dict[str, Any]:
    import medgemma_helpers as mh

    first_started = time.perf_counter()
    mh.clear_model_cache()
    first = mh.load_model(str(folder), device="cpu")
    first_s = time.perf_counter() - first_started
    seconds, again = median_seconds(lambda: mh.load_model(str(folder), device="cpu"), repeats)
    return {"first_load_s": round(first_s, 4), "cached_second_load_ms": round(seconds * 1000, 4),
            "same_object": again is first, "goal_ms": 10}


def six_case_requests(image: Any) -> list[Any]:
    """The six cases' questions, each with its case image (or the test image when the mirror is absent)."""
    import medgemma_helpers as mh
    from medgemma_helpers.walkthrough import case_request

    requests = []
    for case in mh.list_cases():
        try:
            request = case_request(case)  # exactly what a case notebook asks, its film padded to a square
            picture = request.picture
        except mh.MedGemmaError:  # no mirror and no network: the test image stands in
            picture = image
        requests.append(mh.Request(picture, mh.case_prompt(case), case.system_prompt))
    return requests


def batched_vs_sequential(folder: Path, image: Any, repeats: int, max_new_tokens: int) -> dict[str, Any]:
    import medgemma_helpers as mh

    medgemma = mh.load_model(str(folder), device="cpu")
    requests = six_case_requests(image)

    def sequential() -> list[Any]:
        return [mh.analyze(r.images, r.prompt, system=r.system, model=medgemma, max_new_tokens=max_new_tokens,
                           stream=False) for r in requests]

    def batched() -> list[Any]:
        return mh_analyze_many(requests, model=medgemma, max_new_tokens=max_new_tokens, batch_size=len(requests))

    sequential(), batched()  # warm-up
    sequential_s, one_by_one = median_seconds(sequential, repeats)
    batched_s, together = median_seconds(batched, repeats)
    tokens = sum(f.new_tokens for f in together)
    # bfloat16 rounding differs between a padded and an unpadded row (see medgemma_helpers/batch.py); float32 not.
    import torch

    exact = mh.load_model(str(folder), device="cpu", dtype=torch.float32)
    exact_batched = mh_analyze_many(requests, model=exact, max_new_tokens=max_new_tokens, batch_size=len(requests))
    exact_single = [mh.analyze(r.images, r.prompt, system=r.system, model=exact, max_new_tokens=max_new_tokens,
                               stream=False) for r in requests]
    return {
        "cases": len(requests), "images": sum(f.image_count for f in together), "max_new_tokens": max_new_tokens,
        "sequential_s": round(sequential_s, 4), "batched_s": round(batched_s, 4),
        "sequential_tokens_per_s": round(tokens / sequential_s, 1),
        "batched_tokens_per_s": round(tokens / batched_s, 1),
        "speedup": round(sequential_s / batched_s, 3),
        "same_answers_bf16": sum(a.text == b.text for a, b in zip(together, one_by_one)),
        "same_answers_float32": sum(a.text == b.text for a, b in zip(exact_batched, exact_single)),
    }


def mh_analyze_many(*args: Any, **kwargs: Any) -> Any:
    from medgemma_helpers.asking import analyze_many

    return analyze_many(*args, **kwargs)


def served_vs_local(folder: Path, image: Any, repeats: int, max_new_tokens: int, workdir: Path) -> dict[str, Any]:
    from served import TransformersServe, serve_unavailable_reason

    import medgemma_helpers as mh
    from medgemma_helpers.remote import connect

    reason = serve_unavailable_reason()
    if reason is not None:
        return {"skipped": reason}
    started = time.perf_counter()
    server = TransformersServe(folder, log=workdir / "serve.log")
    try:
        ready_s = server.wait_ready(timeout=120)
        local = mh.load_model(str(folder), device="cpu")
        remote = connect(server.url)
        connect_s = time.perf_counter() - started

        def ask(model: Any, stream: bool) -> Any:
            return mh.analyze(image, PROMPT, system=SYSTEM, model=model, max_new_tokens=max_new_tokens,
                              stream=stream, on_text=(lambda text: None) if stream else None)

        for model in (local, remote):
            ask(model, False)
        local_s, local_answer = median_seconds(lambda: ask(local, False), repeats)
        remote_s, remote_answer = median_seconds(lambda: ask(remote, False), repeats)
        remote_stream_s, streamed = median_seconds(lambda: ask(remote, True), repeats)
        requests = six_case_requests(image)
        sequential_s, _ = median_seconds(lambda: [mh.analyze(r.images, r.prompt, system=r.system, model=remote,
                                                             stream=False, max_new_tokens=max_new_tokens)
                                                  for r in requests], 1)
        concurrent_s, _ = median_seconds(lambda: mh_analyze_many(requests, model=remote, max_new_tokens=max_new_tokens,
                                                                  batch_size=6), 1)
        remote.close()
        return {
            "server": "transformers serve (CPU, bfloat16, 127.0.0.1)", "server_ready_s": round(ready_s, 2),
            "start_to_connected_s": round(connect_s, 2), "max_new_tokens": max_new_tokens,
            "local_s": round(local_s, 4), "remote_s": round(remote_s, 4),
            "remote_streamed_s": round(remote_stream_s, 4),
            "ratio_remote_over_local": round(remote_s / local_s, 3),
            "same_answer_as_local": remote_answer.text == local_answer.text == streamed.text,
            "six_cases_remote_sequential_s": round(sequential_s, 3),
            "six_cases_remote_concurrent_s": round(concurrent_s, 3),
        }
    finally:
        server.stop()


# ---------------------------------------------------------------- full size (subprocesses)


def _rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kilobytes on Linux


def _status_bytes(field: str) -> int:
    """A memory figure from /proc/self/status (RssAnon: private memory; RssFile: mapped file pages)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def _touch_every_page(model: Any) -> None:
    """Read one value in every 4 KiB page of every weight, as the first forward pass does."""
    import torch

    with torch.inference_mode():
        for parameter in model.parameters():
            flat = parameter.detach().reshape(-1)
            flat[:: max(1, 4096 // flat.element_size())].float().sum()


def child_build(folder: Path) -> dict[str, Any]:
    """In its own process: build the random full-size model and save it as safetensors."""
    started = time.perf_counter()
    processor = full_size_processor()
    model = build_full_size_model(processor)
    built_s = time.perf_counter() - started
    parameters = sum(p.numel() for p in model.parameters())
    weight_bytes = parameter_bytes(model)
    model.save_pretrained(folder, safe_serialization=True, max_shard_size="2GB")
    processor.save_pretrained(folder)
    return {"parameters": parameters, "weight_bytes": weight_bytes, "build_s": round(built_s, 1),
            "save_s": round(time.perf_counter() - started - built_s, 1), "builder_peak_rss_bytes": _peak_rss_bytes()}


def child_load(folder: Path) -> dict[str, Any]:
    """In its own process: load through mh.load_model on the CPU; peak RSS of this process."""
    import torch  # noqa: F401 - imported before the baseline, as a notebook would have it
    import transformers  # noqa: F401

    import medgemma_helpers as mh

    baseline = _peak_rss_bytes()
    started = time.perf_counter()
    medgemma = mh.load_model(str(folder), device="cpu")
    seconds = time.perf_counter() - started
    second_started = time.perf_counter()
    again = mh.load_model(str(folder), device="cpu")
    second_ms = (time.perf_counter() - second_started) * 1000
    after_load = {"peak_rss_bytes": _peak_rss_bytes(), "rss_anon_bytes": _status_bytes("RssAnon"),
                  "rss_file_bytes": _status_bytes("RssFile")}
    # Weights memory-mapped from safetensors are read from disk when first used: touch them all, then measure.
    touch_started = time.perf_counter()
    _touch_every_page(medgemma.model)
    touch_s = time.perf_counter() - touch_started
    return {"load_s": round(seconds, 2), "cached_second_load_ms": round(second_ms, 4), "same_object": again is medgemma,
            "touch_all_weights_s": round(touch_s, 2), "baseline_rss_bytes": baseline, "after_load": after_load,
            "peak_rss_bytes": _peak_rss_bytes(), "rss_anon_bytes": _status_bytes("RssAnon"),
            "rss_file_bytes": _status_bytes("RssFile"), "loaded_weight_bytes": parameter_bytes(medgemma.model)}


def _run_child(mode: str, folder: Path, timeout: int) -> dict[str, Any]:
    command = [sys.executable, str(Path(__file__).resolve()), mode, str(folder)]
    environment = dict(os.environ, OMP_NUM_THREADS=str(os.cpu_count() or 1))
    completed = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=environment)
    if completed.returncode != 0:
        raise RuntimeError(f"{mode} failed ({completed.returncode}):\n{completed.stderr[-3000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def _memory_available_bytes() -> int:
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 0


def full_size(workdir: Path, keep: bool) -> dict[str, Any]:
    needed = 10 * 10**9
    free_disk = shutil.disk_usage(workdir).free
    free_ram = _memory_available_bytes()
    if free_disk < needed + 2 * 10**9 or free_ram < needed + 2 * 10**9:
        return {"skipped": f"needs ~12 GB free disk and RAM; {free_disk / 1e9:.1f} GB disk and "
                           f"{free_ram / 1e9:.1f} GB RAM are free"}
    folder = workdir / "medgemma-full-size-random"
    try:
        log("full size: building and saving a random 4.3 B-parameter checkpoint…")
        built = _run_child("--_build-full-size", folder, timeout=3600)
        files = sorted(folder.glob("*.safetensors"))
        on_disk = sum(path.stat().st_size for path in files)
        log("full size: loading it through mh.load_model in a fresh process…")
        loaded = _run_child("--_load-full-size", folder, timeout=3600)
        weights = loaded["loaded_weight_bytes"]
        return {
            "parameters": built["parameters"], "weight_bytes": weights, "safetensors_bytes": on_disk,
            "safetensors_files": len(files), "build_s": built["build_s"], "save_s": built["save_s"],
            "load_s": loaded["load_s"], "touch_all_weights_s": loaded["touch_all_weights_s"],
            "cached_second_load_ms": loaded["cached_second_load_ms"],
            "peak_rss_after_load_only_bytes": loaded["after_load"]["peak_rss_bytes"],
            "peak_rss_bytes": loaded["peak_rss_bytes"],
            "peak_rss_over_weights": round(loaded["peak_rss_bytes"] / weights, 3),
            "peak_rss_minus_import_baseline_over_weights": round(
                (loaded["peak_rss_bytes"] - loaded["baseline_rss_bytes"]) / weights, 3),
            "baseline_rss_after_imports_bytes": loaded["baseline_rss_bytes"],
            "rss_anon_bytes_after_touch": loaded["rss_anon_bytes"],
            "rss_file_bytes_after_touch": loaded["rss_file_bytes"],
            "goal_rss_over_weights": 1.1,
            "note": ("peak RSS is measured after every weight page was read (as the first forward pass reads them); "
                     "the weights stay memory-mapped from the safetensors files (RssFile: clean page cache the kernel "
                     "can drop), so there is no second, private copy (RssAnon). The files were just written, so "
                     "they came from the page cache: a warm-cache load time."),
        }
    finally:
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)


# ---------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7, help="repeats per figure (median reported)")
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--full-size", action="store_true", help="also measure loading a full-size random checkpoint")
    parser.add_argument("--keep", action="store_true", help="keep the full-size checkpoint folder")
    parser.add_argument("--workdir", type=Path, default=None, help="where checkpoints go (default: a temp folder)")
    parser.add_argument("--no-serve", action="store_true", help="skip the transformers serve comparison")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads for the tiny-model figures (1: steady on a small shared machine)")
    args = parser.parse_args()

    offline_environment()
    os.environ["OMP_NUM_THREADS"] = str(args.threads)  # the served model's process too
    import torch

    torch.set_num_threads(args.threads)

    from tiny_medgemma import build_tiny_medgemma

    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="medgemma-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    figures: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                    "python": platform.python_version(),
                    "torch": torch.__version__, "transformers": __import__("transformers").__version__,
                    "cuda": torch.cuda.is_available(), "load_average_at_start": os.getloadavg()[0]},
    }
    with contextlib.redirect_stdout(sys.stderr):  # the helper's own messages must not mix with the JSON
        folder = build_tiny_medgemma(workdir / "tiny-medgemma")
        image = test_image()
        log("helper vs quick-start…")
        figures["helper_vs_quick_start"] = helper_vs_quick_start(folder, image, args.repeats, args.max_new_tokens)
        log("cached load…")
        figures["cached_load"] = cached_load(folder)
        log("batched vs sequential…")
        figures["batched_vs_sequential_six_cases"] = batched_vs_sequential(folder, image, args.repeats,
                                                                           args.max_new_tokens)
        if not args.no_serve:
            log("served vs local…")
            figures["served_vs_local"] = served_vs_local(folder, image, args.repeats, args.max_new_tokens, workdir)
        if args.full_size:
            figures["full_size_cpu_load"] = full_size(workdir, args.keep)
    if args.workdir is None and not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] in ("--_build-full-size", "--_load-full-size"):
        offline_environment()
        target = Path(sys.argv[2])
        with contextlib.redirect_stdout(sys.stderr):
            result = child_build(target) if sys.argv[1] == "--_build-full-size" else child_load(target)
        print(json.dumps(result))
        sys.exit(0)
    sys.exit(main())
