"""Shared by the benchmarks: paths, the tiny checkpoint, a full-size random MedGemma, a test image, medians."""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
TESTS_DIR = PROJECT_ROOT / "tests"
for _path in (str(PROJECT_ROOT), str(TESTS_DIR)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

# MedGemma 1.5 4B's published shapes (google/medgemma-1.5-4b-it config.json).
FULL_TEXT = dict(vocab_size=262208, hidden_size=2560, intermediate_size=10240, num_hidden_layers=34,
                 num_attention_heads=8, num_key_value_heads=4, head_dim=256, sliding_window=1024,
                 query_pre_attn_scalar=256, max_position_embeddings=131072,
                 layer_types=(["sliding_attention"] * 5 + ["full_attention"]) * 5 + ["sliding_attention"] * 4)
FULL_VISION = dict(hidden_size=1152, intermediate_size=4304, num_hidden_layers=27, num_attention_heads=16,
                   image_size=896, patch_size=14, vision_use_head=False)
FULL_TOKENS_PER_IMAGE = 256


def offline_environment() -> None:
    """No Hub access, no update checks, quiet tokenizers: before transformers is imported."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_UPDATE_CHECK", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    for name in ("MEDGEMMA_ENDPOINT", "MEDGEMMA_MODEL_ID"):
        os.environ.pop(name, None)


_STARTED = time.perf_counter()


def log(message: str) -> None:
    """Progress goes to stderr; stdout carries only the JSON."""
    print(f"[{time.perf_counter() - _STARTED:7.1f} s] {message}", file=sys.stderr, flush=True)


def median_seconds(function: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Median wall time of repeats calls, and the last result."""
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def test_image() -> Any:
    """Case 1's radiograph when MEDGEMMA_IMAGE_MIRROR holds it, else a generated radiograph-like picture."""
    import numpy as np
    from PIL import Image

    import medgemma_helpers as mh
    from medgemma_helpers.images import model_image

    real = Path(os.environ.get("MEDGEMMA_IMAGE_MIRROR", "") or "/nonexistent") / "case01_normal_pa.png"
    if real.is_file():
        return model_image(real, modality="chest radiograph")
    rng = np.random.default_rng(1)
    y, x = np.mgrid[0:512, 0:512]
    body = 200 * np.exp(-(((x - 256) / 180) ** 2 + ((y - 256) / 230) ** 2))
    return mh.load_image(Image.fromarray(np.clip(body + rng.normal(0, 25, body.shape), 0, 255).astype(np.uint8)))


def full_size_processor() -> Any:
    """A Gemma3Processor at MedGemma's image size (896 px, 256 tokens per image), with the tiny tokenizer."""
    from tiny_medgemma import CHAT_TEMPLATE, TinyImageProcessor, build_tokenizer
    from transformers import Gemma3Processor

    image_processor = TinyImageProcessor(size={"height": 896, "width": 896}, image_mean=[0.5] * 3,
                                         image_std=[0.5] * 3, do_pan_and_scan=False)
    return Gemma3Processor(image_processor=image_processor, tokenizer=build_tokenizer(), chat_template=CHAT_TEMPLATE,
                           image_seq_length=FULL_TOKENS_PER_IMAGE)


def full_size_config(tokenizer: Any) -> Any:
    """Gemma3Config with MedGemma 1.5 4B's shapes; special-token ids from the given tokenizer."""
    from transformers import Gemma3Config

    return Gemma3Config(
        text_config=dict(FULL_TEXT, pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id),
        vision_config=FULL_VISION, mm_tokens_per_image=FULL_TOKENS_PER_IMAGE, tie_word_embeddings=True,
        boi_token_index=tokenizer.convert_tokens_to_ids("<start_of_image>"),
        eoi_token_index=tokenizer.convert_tokens_to_ids("<end_of_image>"),
        image_token_index=tokenizer.convert_tokens_to_ids("<image_soft_token>"),
    )


def build_full_size_model(processor: Any, device: str = "cpu") -> Any:
    """A randomly initialised 4.3 B-parameter Gemma3ForConditionalGeneration in bfloat16 (about 8.6 GB)."""
    import torch
    from transformers import Gemma3ForConditionalGeneration, GenerationConfig

    tokenizer = processor.tokenizer
    config = full_size_config(tokenizer)
    torch.manual_seed(0)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.bfloat16)  # allocate in bf16 directly: never a float32 copy (17 GB)
    try:
        with torch.device(device):
            model = Gemma3ForConditionalGeneration(config)
    finally:
        torch.set_default_dtype(previous)
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id, pad_token_id=tokenizer.pad_token_id,
        eos_token_id=[tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids("<end_of_turn>")], do_sample=False)
    return model.eval()


def parameter_bytes(model: Any) -> int:
    """Bytes of the model's parameters (tied weights counted once)."""
    seen, total = set(), 0
    for parameter in model.parameters():
        if parameter.data_ptr() in seen:
            continue
        seen.add(parameter.data_ptr())
        total += parameter.numel() * parameter.element_size()
    return total
