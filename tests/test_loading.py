"""Loading on real hardware, without it: a GPU short of memory (offloaded layers, out of memory at load), a T4's
emulated bfloat16, and local folders that the installed transformers cannot read, each told plainly.

The real load_model runs on the tiny stand-in; only what a GPU would do differently is imitated, in transformers'
own loader (a placement map as accelerate writes it, an out-of-memory error) or in torch.cuda's queries.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import AutoModelForImageTextToText

import medgemma_helpers as mh
from medgemma_helpers import access
from medgemma_helpers import model as model_module

# What accelerate's device_map="auto" writes on a GPU too small for the model: the vision tower and the first
# decoder layers on GPU 0, the rest on the CPU, the last layers and the head on the disk.
SHORT_GPU_MAP = {"model.vision_tower": 0, "model.multi_modal_projector": 0, "model.language_model.embed_tokens": 0,
                 "model.language_model.layers.0": 0, "model.language_model.layers.1": "cpu",
                 "model.language_model.norm": "disk", "lm_head": "disk"}


@pytest.fixture
def own_folder(tiny_model_dir, tmp_path, monkeypatch) -> Path:
    """A copy of the tiny model in a folder of its own (a fresh load, not the cached one); forgotten afterwards."""
    folder = tmp_path / "tiny-copy"
    shutil.copytree(tiny_model_dir, folder)
    monkeypatch.setattr(access, "_held", dict(access._held))  # this test's loads stay its own
    return folder


def _loader_that(monkeypatch, after: Any = None, fail: BaseException | None = None) -> None:
    """Make transformers' loader behave as it does on a GPU: fail, or load for real and then adjust the model."""
    real = AutoModelForImageTextToText.from_pretrained

    def from_pretrained(*args: Any, **kwargs: Any) -> Any:
        if fail is not None:
            raise fail
        loaded = real(*args, **kwargs)
        if after is not None:
            after(loaded)
        return loaded

    monkeypatch.setattr(AutoModelForImageTextToText, "from_pretrained", from_pretrained)


def test_layers_offloaded_by_a_short_gpu_are_reported_plainly(own_folder, monkeypatch, capsys):
    _loader_that(monkeypatch, after=lambda loaded: setattr(loaded, "hf_device_map", dict(SHORT_GPU_MAP)))
    loaded = mh.load_model(str(own_folder), device="cpu")
    printed = capsys.readouterr().out
    assert loaded.model.hf_device_map == SHORT_GPU_MAP
    warning = next(line for line in printed.splitlines() if line.startswith("Warning"))
    assert "3 of 7 parts" in warning and "the CPU and the disk" in warning
    assert "crawl" in warning and "quantize='4bit'" in warning and "more memory" in warning


def test_a_model_wholly_on_the_cpu_of_a_gpu_runtime_is_reported(tiny_model, monkeypatch):
    monkeypatch.setattr(tiny_model.model, "hf_device_map", {"": "cpu"}, raising=False)
    warning = model_module._offload_warning(tiny_model.model, "cuda")  # asked for the GPU, got the CPU
    assert warning and "1 of 1 parts" in warning and "the CPU" in warning and "disk" not in warning


def test_a_model_wholly_on_its_gpu_or_asked_for_on_the_cpu_gets_no_warning(own_folder, monkeypatch, capsys,
                                                                            tiny_model):
    mh.load_model(str(own_folder), device="cpu")  # the real map, {"": "cpu"}: the CPU was asked for
    assert "Warning" not in capsys.readouterr().out
    monkeypatch.setattr(tiny_model.model, "hf_device_map", {"model": 0, "lm_head": "cuda:0"}, raising=False)
    assert model_module._offload_warning(tiny_model.model, "cuda") is None


def test_out_of_memory_while_loading_becomes_advice(own_folder, monkeypatch):
    _loader_that(monkeypatch, fail=torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 1.00 GiB"))
    with pytest.raises(mh.MedGemmaError) as caught:
        mh.load_model(str(own_folder), device="cpu")
    message = str(caught.value)
    assert "ran out of memory loading" in message and str(own_folder) in message
    assert "quantize='4bit'" in message and "restart the runtime" in message and "L4, A100" in message


@pytest.mark.parametrize("name, capability, note", [
    ("Tesla T4", (7, 5), "Tesla T4 (compute capability 7.5) emulates bfloat16"),
    ("Tesla V100-SXM2-16GB", (7, 0), "emulates bfloat16"),
    ("NVIDIA L4", (8, 9), None),
    ("NVIDIA A100-SXM4-40GB", (8, 0), None),
])
def test_the_t4_bfloat16_note(monkeypatch, name, capability, note):
    # torch.cuda answers as on that GPU; is_bf16_supported() would say True on all four.
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: name)
    said = model_module._precision_note("cuda", torch.bfloat16)
    if note is None:
        assert said is None
    else:
        assert note in said and "correct but slower" in said
    assert model_module._precision_note("cuda", torch.float32) is None  # float32 is native everywhere


# ---------------------------------------------------------------- local folders transformers cannot read


def test_a_folder_missing_its_weights_names_the_real_cause_even_offline(own_folder, monkeypatch):
    assert mh.auth.hub_offline()  # as in the tests, and on a Kaggle notebook with Internet off
    for weights in own_folder.glob("*.safetensors"):
        weights.unlink()
    with pytest.raises(mh.MedGemmaError) as caught:
        mh.load_model(str(own_folder), device="cpu")
    message = str(caught.value)
    assert "not in the local cache" not in message and "cannot be reached" not in message
    assert str(own_folder) in message and "could not be loaded by transformers" in message
    assert ".safetensors" in message  # transformers' own words about the missing file are kept


def test_a_folder_saved_by_a_newer_transformers_says_upgrade(own_folder, monkeypatch):
    config_path = own_folder / "config.json"
    config = json.loads(config_path.read_text())
    config.update(transformers_version="99.1.0", model_type="gemma99")  # an architecture this version lacks
    config_path.write_text(json.dumps(config))
    with pytest.raises(mh.MedGemmaError) as caught:
        mh.load_model(str(own_folder), device="cpu")
    message = str(caught.value)
    assert "not in the local cache" not in message
    assert "saved by transformers 99.1.0" in message and 'pip install -U "transformers>=99.1.0"' in message
    assert "gemma99" in message  # the real cause, in transformers' words
