"""Decode speed on a GPU against the memory-bandwidth limit, and time to first token; prints ONE JSON object.

    python bench/bench_gpu.py                         # a random full-size MedGemma built on the GPU (no download)
    python bench/bench_gpu.py --model /path/to/medgemma-1.5-4b-it     # the real weights, through mh.load_model
    python bench/bench_gpu.py --bandwidth-gbs 300     # when the GPU is not in the table below

Decoding one token reads every weight of the language model once (the vision tower runs only for the prompt),
so tokens/s can be at most bandwidth / (decoder weight bytes). The script reports measured tokens/s as a fraction
of that limit, with the default dynamic cache and with a static cache + torch.compile, and the time to first token
(image preprocessing, templating, the vision tower and the prefill) for one image through mh.analyze.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import build_full_size_model, full_size_processor, log, offline_environment, test_image  # noqa: E402

# Peak memory bandwidth in GB/s (vendor figures), matched against torch.cuda.get_device_name().
BANDWIDTH_GBS = {
    "H200": 4800, "H100 SXM": 3350, "H100 80GB HBM3": 3350, "H100 NVL": 3900, "H100 PCIe": 2000, "H100": 3350,
    "GH200": 4000, "A100-SXM4-80GB": 2039, "A100 80GB PCIe": 1935, "A100-SXM4-40GB": 1555, "A100-PCIE-40GB": 1555,
    "A100": 1555, "L40S": 864, "L40": 864, "L4": 300, "A10G": 600, "A10": 600, "T4": 320, "V100": 900,
    "RTX 4090": 1008, "RTX 3090": 936, "RTX A6000": 768, "P100": 732,
}
PROMPT = "Describe this chest X-ray."


def bandwidth_for(name: str) -> float | None:
    """The table's figure for the longest key found in the GPU's name."""
    matches = [key for key in BANDWIDTH_GBS if key.lower() in name.lower()]
    return float(BANDWIDTH_GBS[max(matches, key=len)]) if matches else None


def decoder_bytes(model: Any) -> int:
    """Bytes read per decoded token: the language model's weights (tied embedding counted once, as the lm_head)."""
    seen, total = set(), 0
    for name, parameter in model.named_parameters():
        if "vision_tower" in name or "multi_modal_projector" in name or parameter.data_ptr() in seen:
            continue
        seen.add(parameter.data_ptr())
        total += parameter.numel() * parameter.element_size()
    return total


def synchronised(function: Any) -> float:
    import torch

    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.synchronize()
    started = time.perf_counter()
    function()
    if cuda:
        torch.cuda.synchronize()
    return time.perf_counter() - started


def decode_rate(medgemma: Any, inputs: Any, tokens: int, repeats: int, static: bool) -> dict[str, Any]:
    """Tokens/s of decoding alone: (time for `tokens` new tokens - time for 1) / (tokens - 1)."""
    import torch

    options: dict[str, Any] = {"do_sample": False}
    if static:
        options["cache_implementation"] = "static"  # transformers compiles the decoding step for a static cache

    def generate(count: int) -> Any:
        with torch.inference_mode():
            # min_new_tokens: random weights must not stop early at an end-of-turn token.
            return medgemma.model.generate(**inputs, max_new_tokens=count, min_new_tokens=count, **options)

    warm_started = time.perf_counter()
    generate(tokens)  # warm-up (and, with a static cache, compilation)
    generate(1)
    warm_s = time.perf_counter() - warm_started
    one = statistics.median(synchronised(lambda: generate(1)) for _ in range(repeats))
    many = statistics.median(synchronised(lambda: generate(tokens)) for _ in range(repeats))
    rate = (tokens - 1) / (many - one)
    return {"tokens": tokens, "first_token_s": round(one, 4), "all_tokens_s": round(many, 4),
            "decode_tokens_per_s": round(rate, 2), "warmup_and_compile_s": round(warm_s, 1),
            # transformers compiles the forward for a static cache on a GPU and keeps it here
            "compiled": hasattr(medgemma.model, "_compiled_call")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="a MedGemma folder (or hub id, if cached) to load through mh.load_model; "
                                        "default: a random full-size model built on the GPU")
    parser.add_argument("--bandwidth-gbs", type=float, help="the GPU's memory bandwidth in GB/s (default: table)")
    parser.add_argument("--tokens", type=int, default=128, help="new tokens per decode measurement")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-compile", action="store_true", help="skip the static cache + torch.compile run")
    parser.add_argument("--smoke", action="store_true",
                        help="check this script's code path on the CPU with the tiny checkpoint (figures meaningless)")
    args = parser.parse_args()

    offline_environment()
    import torch

    if args.smoke:
        import tempfile

        from tiny_medgemma import build_tiny_medgemma

        args.model = str(build_tiny_medgemma(Path(tempfile.mkdtemp(prefix="bench-gpu-smoke-"))))
        args.bandwidth_gbs = args.bandwidth_gbs or 50.0
    elif not torch.cuda.is_available():
        print(json.dumps({"error": "no CUDA GPU is visible; this benchmark needs one"}))
        return 2
    import medgemma_helpers as mh
    from medgemma_helpers.asking import build_messages
    from medgemma_helpers.local import MedGemma, prepare_inputs

    name = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU (smoke test)"
    device = "cuda" if torch.cuda.is_available() else "cpu"
    bandwidth = args.bandwidth_gbs or bandwidth_for(name)
    with contextlib.redirect_stdout(sys.stderr):
        started = time.perf_counter()
        if args.model:
            medgemma = mh.load_model(args.model, device=device)
            source = f"mh.load_model({args.model!r})"
        else:
            log("building a random full-size MedGemma on the GPU…")
            processor = full_size_processor()
            model = build_full_size_model(processor, device="cuda")
            medgemma = MedGemma(model=model, processor=processor, model_id="random-full-size-medgemma",
                                device="cuda", dtype=torch.bfloat16, load_seconds=time.perf_counter() - started)
            source = "random weights, MedGemma 1.5 4B shapes"
        ready_s = time.perf_counter() - started
        image = test_image()
        weight_bytes = decoder_bytes(medgemma.model)
        inputs = prepare_inputs(medgemma, build_messages([image], PROMPT))
        log("time to first token…")
        mh.analyze(image, PROMPT, model=medgemma, max_new_tokens=1, stream=False)  # warm-up
        first = [synchronised(lambda: mh.analyze(image, PROMPT, model=medgemma, max_new_tokens=1, stream=False))
                 for _ in range(args.repeats)]
        log("decoding, dynamic cache…")
        dynamic = decode_rate(medgemma, inputs, args.tokens, args.repeats, static=False)
        static = None
        if not args.no_compile:
            log("decoding, static cache + torch.compile…")
            try:
                static = decode_rate(medgemma, inputs, args.tokens, args.repeats, static=True)
            except Exception as error:  # noqa: BLE001 - report, keep the other figures
                static = {"error": f"{type(error).__name__}: {str(error)[:300]}"}
    limit = bandwidth * 1e9 / weight_bytes if bandwidth else None

    def with_fraction(figures: dict[str, Any] | None) -> dict[str, Any] | None:
        if figures and limit and "decode_tokens_per_s" in figures:
            figures["fraction_of_bandwidth_limit"] = round(figures["decode_tokens_per_s"] / limit, 3)
        return figures

    print(json.dumps({
        "gpu": name, "torch": torch.__version__, "transformers": __import__("transformers").__version__,
        "model": source, "ready_s": round(ready_s, 1), "prompt_tokens": int(inputs["input_ids"].shape[-1]),
        "decoder_weight_bytes": weight_bytes, "bandwidth_gbs": bandwidth,
        "bandwidth_limit_tokens_per_s": round(limit, 1) if limit else None,
        "time_to_first_token_one_image_s": round(statistics.median(first), 4),
        "dynamic_cache": with_fraction(dynamic), "static_cache_compiled": with_fraction(static),
        "peak_gpu_memory_bytes": torch.cuda.max_memory_allocated() if device == "cuda" else None,
    }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
