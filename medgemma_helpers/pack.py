"""A class pack: MedGemma's reads recorded once on a GPU, replayed anywhere as a model-like object.

Decoding is greedy, so a read is fixed once the model, the prepared inputs and the room to answer are fixed. A
pack holds, per request, a digest of exactly those inputs (each image's pixels after preparation, every text
part: system prompt, intro, labels, question) and of max_new_tokens, with what MedGemma wrote, its token counts
and its time. `PackedMedGemma` answers a request only when its digest is in the pack: an edited prompt, the
resident's own image or another max_new_tokens is never answered with a near match, but refused with what
differs and what to use instead. A pack whose project version prepares inputs differently is refused too.

A pack also carries the films its notebooks show (the case films, the prior-current series, the drill's films),
each with its attribution and pinned sha256, so a class runs with no network and no mirror: the image loader
(case_images.verified_image_path) asks `pack_film_path` before it downloads. Each film is checked against its
sha256 when the pack is opened; a damaged one is refused by name.

A pack is data, never code: one JSON file (no pickle), sealed with a sha256 of its contents, so a damaged,
truncated or edited pack is refused by name. It holds no token and nothing about a person: digests, the
recording's facts (model, versions, GPU, date), the model's answers and the openly licensed films.

Layer: model access. May import: errors, files, access.
"""

from __future__ import annotations

import atexit
import base64
import binascii
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from PIL import Image

from . import access
from ._version import __version__
from .access import Backend, Completion, Messages
from .errors import InputError, MedGemmaError
from .files import write_atomically

PACK_ENV = "MEDGEMMA_PACK"
PACE_ENV = "MEDGEMMA_PACK_PACE"  # characters per second a replayed answer streams at (0: at once)
PACK_FORMAT = "medgemma-case-notebooks/pack"
PACK_FORMAT_VERSION = 1
# Bump whenever the project changes how inputs are prepared (padding, CT windows, message layout, prompts):
# a pack recorded under another preparation would no longer match what the notebooks send.
PREPARATION_VERSION = 1
DEFAULT_PACE = 400
LIVE_MODEL_ADVICE = ("Anything the pack does not hold needs a live model: MedGemma loaded on a GPU (mh.load_model() "
                     "with MEDGEMMA_PACK unset) or the class server (mh.connect('http://<server>:8000')).")


def _digest(*parts: bytes | str) -> str:
    hasher = hashlib.sha256()
    for part in parts:
        data = part.encode("utf-8") if isinstance(part, str) else part
        hasher.update(len(data).to_bytes(8, "big"))  # lengths keep ("ab", "c") apart from ("a", "bc")
        hasher.update(data)
    return hasher.hexdigest()


def _image_digest(image: Image.Image) -> str:
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    return _digest(f"{rgb.width}x{rgb.height}", rgb.tobytes())


@dataclass(frozen=True)
class Inputs:
    """The digests of one request's inputs: each part apart (to say which differs) and all together (the key)."""

    images: tuple[str, ...]
    system: str
    texts: str  # every text part other than the last (an intro, "SLICE n" labels), in order
    prompt: str  # the last text part: the question
    max_new_tokens: int

    @property
    def key(self) -> str:
        """The digest of everything that decides the answer."""
        return _digest(*self.images, self.system, self.texts, self.prompt, str(self.max_new_tokens))


def inputs_of(messages: Messages, max_new_tokens: int) -> Inputs:
    """The digests of a request, from the typed messages the model is sent."""
    images, texts, system = [], [], ""
    for message in messages:
        for part in message["content"]:
            if part["type"] == "image":
                images.append(_image_digest(part["image"]))
            elif message["role"] == "system":
                system += part["text"]
            else:
                texts.append(part["text"])
    prompt = texts.pop() if texts else ""
    return Inputs(tuple(images), _digest(system), _digest(*texts), _digest(prompt), max_new_tokens)


@dataclass(frozen=True)
class PackFilm:
    """One film a pack carries: its file name, pinned sha256 and address, whom to credit, and its bytes."""

    file: str
    sha256: str
    url: str
    licence: str
    attribution: str
    source_label: str
    data: bytes = b""

    def record(self) -> dict[str, str]:
        """The film as the pack's JSON holds it (bytes as base64)."""
        return {"file": self.file, "sha256": self.sha256, "url": self.url, "licence": self.licence,
                "attribution": self.attribution, "source_label": self.source_label,
                "data": base64.b64encode(self.data).decode("ascii")}


# ---------------------------------------------------------------- recording


class RecordingMedGemma:
    """A live model that also writes down every request and answer, for a pack (mh.record_pack uses it)."""

    def __init__(self, live: Backend):
        self.live = live
        self.name = live.name
        self.label = ""  # what is being asked now ("case 03: the case question"), for messages at replay
        self.entries: list[dict[str, Any]] = []

    def _keep(self, messages: Messages, max_new_tokens: int, completion: Completion, seconds: float) -> None:
        inputs = inputs_of(messages, max_new_tokens)
        self.entries.append({"label": self.label, "key": inputs.key, "images": list(inputs.images),
                             "system": inputs.system, "texts": inputs.texts, "prompt": inputs.prompt,
                             "max_new_tokens": max_new_tokens, "raw": completion.raw,
                             "prompt_tokens": completion.prompt_tokens, "new_tokens": completion.new_tokens,
                             "seconds": round(completion.seconds if completion.seconds is not None else seconds, 3)})

    def complete(self, messages: Messages, *, max_new_tokens: int,
                 on_text: Callable[[str], None] | None = None) -> Completion:
        """Ask the live model and record the answer."""
        started = time.perf_counter()
        completion = self.live.complete(messages, max_new_tokens=max_new_tokens, on_text=on_text)
        self._keep(messages, max_new_tokens, completion, time.perf_counter() - started)
        return completion

    def complete_many(self, conversations: list[Messages], *, max_new_tokens: int,
                      batch_size: int) -> list[Completion]:
        """Ask the live model for several answers and record each."""
        started = time.perf_counter()
        completions = self.live.complete_many(conversations, max_new_tokens=max_new_tokens, batch_size=batch_size)
        share = (time.perf_counter() - started) / max(1, len(conversations))
        for messages, completion in zip(conversations, completions):
            self._keep(messages, max_new_tokens, completion, share)
        return completions


def _recording_facts(live: Any) -> dict[str, Any]:
    """Which model, revision, versions and hardware made the recording (nothing about a person)."""
    import torch
    import transformers

    config = getattr(getattr(live, "model", None), "config", None)
    return {"model_id": str(getattr(live, "model_id", "") or getattr(live, "name", "")),
            "model_name": str(getattr(live, "name", "")),
            "revision": str(getattr(config, "_commit_hash", "") or "not recorded (a local folder)"),
            "transformers_version": transformers.__version__, "project_version": __version__,
            "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU",
            "recorded_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}


def write_pack(path: str | Path, recording: RecordingMedGemma, films: list[PackFilm] | None = None) -> Path:
    """Seal the recorded answers, and the films given, into one JSON pack file (written whole or not at all)."""
    path = Path(path)
    unique = {entry["key"]: entry for entry in recording.entries}  # a repeated request keeps one answer
    carried = {film.sha256: film for film in films or []}  # a film two notebooks show is carried once
    body = {"format": PACK_FORMAT, "format_version": PACK_FORMAT_VERSION, "preparation_version": PREPARATION_VERSION,
            **_recording_facts(recording.live), "entries": list(unique.values()),
            "films": [film.record() for film in carried.values()]}
    sealed = {**body, "sha256": _seal(body)}
    write_atomically(path, (json.dumps(sealed, indent=1, ensure_ascii=False) + "\n").encode("utf-8"))
    return path


def _seal(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


# ---------------------------------------------------------------- replaying


class PackedMedGemma:
    """MedGemma's recorded reads, answering exactly the requests they were recorded for (a Backend)."""

    def __init__(self, path: str | Path):
        self.path = Path(path).expanduser()
        self.facts, self.entries, films = _read_pack(self.path)
        self.films = {film.sha256: film for film in films}
        self.by_key = {entry["key"]: entry for entry in self.entries}
        day = self.facts.get("recorded_at", "")[:10]
        self.name = f"{self.facts.get('model_name') or 'MedGemma'} (recorded on {self.facts.get('device')} on {day})"
        self.model_id = self.facts.get("model_id", "")

    def __repr__(self) -> str:
        return (f"PackedMedGemma({str(self.path)!r}, {len(self.entries)} recorded answers, {len(self.films)} films: "
                f"{self.name})")

    def _find(self, messages: Messages, max_new_tokens: int) -> dict[str, Any]:
        inputs = inputs_of(messages, max_new_tokens)
        entry = self.by_key.get(inputs.key)
        if entry is None:
            raise MedGemmaError(f"The class pack {self.path.name} has no recorded answer for this request: "
                                f"{self._difference(inputs)} {LIVE_MODEL_ADVICE}")
        return entry

    def _difference(self, inputs: Inputs) -> str:
        """Which input differs from the nearest recorded request, in words."""
        same_images = [e for e in self.entries if tuple(e["images"]) == inputs.images]
        if not same_images:
            return ("its image is not one the pack was recorded with (your own image, or one prepared another way)."
                    if inputs.images else "the pack holds no such question without an image.")
        labels = ", ".join(sorted({e["label"] for e in same_images if e["label"]})) or "other questions"
        for entry in same_images:
            if entry["prompt"] == inputs.prompt and entry["texts"] == inputs.texts and entry["system"] == inputs.system:
                return (f"max_new_tokens is {inputs.max_new_tokens}, but the pack recorded {entry['max_new_tokens']} "
                        f"for this question ({entry['label']}); ask with max_new_tokens={entry['max_new_tokens']}.")
        if any(e["prompt"] != inputs.prompt for e in same_images):
            return (f"the question differs from the ones recorded for this image ({labels}): an edited prompt is a "
                    "new request.")
        return f"the system prompt or the text around the images differs from the ones recorded ({labels})."

    def _pace(self) -> float:
        value = os.environ.get(PACE_ENV, "").strip()
        try:
            return max(0.0, float(value)) if value else DEFAULT_PACE
        except ValueError:
            return DEFAULT_PACE

    def complete(self, messages: Messages, *, max_new_tokens: int,
                 on_text: Callable[[str], None] | None = None) -> Completion:
        """The recorded answer to exactly this request, streamed at a readable pace when someone watches."""
        entry = self._find(messages, max_new_tokens)
        raw = entry["raw"]
        pace = self._pace()
        if on_text is not None:
            step = 24
            for end in range(step, len(raw) + step, step):
                on_text(raw[:end])
                if pace:
                    time.sleep(step / pace)
        return Completion(raw, int(entry["prompt_tokens"]), int(entry["new_tokens"]), float(entry["seconds"]))

    def complete_many(self, conversations: list[Messages], *, max_new_tokens: int,
                      batch_size: int) -> list[Completion]:
        """The recorded answers to these requests, in order (each must be in the pack)."""
        return [self.complete(messages, max_new_tokens=max_new_tokens) for messages in conversations]


_ENTRY_FIELDS: dict[str, type | tuple[type, ...]] = {
    "label": str, "key": str, "images": list, "system": str, "texts": str, "prompt": str,
    "max_new_tokens": int, "raw": str, "prompt_tokens": int, "new_tokens": int, "seconds": (int, float)}


_FILM_FIELDS = ("file", "sha256", "url", "licence", "attribution", "source_label", "data")


def _films_of(path: Path, records: Any) -> list[PackFilm]:
    """The films a pack carries, each checked against its sha256; a damaged one is refused by name."""
    if not isinstance(records, list) or not all(
            isinstance(r, dict) and all(isinstance(r.get(k), str) for k in _FILM_FIELDS) for r in records):
        raise MedGemmaError(f"The class pack {path} has malformed films; record it again.")
    films = []
    for record in records:
        name = record["file"]
        if Path(name).name != name or name in ("", ".", ".."):
            raise MedGemmaError(f"The class pack {path} names a film {name[:80]!r} that is not a plain file name; "
                                "record it again.")
        try:
            data = base64.b64decode(record["data"], validate=True)
        except (binascii.Error, ValueError):
            data = b""
        actual = hashlib.sha256(data).hexdigest()
        if actual != record["sha256"]:
            raise MedGemmaError(f"The class pack {path} holds a damaged film, {name}: its sha256 is {actual}, not "
                                f"the pinned {record['sha256']}. Copy the pack again from the teacher.")
        films.append(PackFilm(**{key: record[key] for key in _FILM_FIELDS if key != "data"}, data=data))
    return films


def _read_pack(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]], list[PackFilm]]:
    """The pack's facts, entries and films, checked: format, preparation, each film, seal, fields."""
    if not path.is_file():
        raise InputError(f"The class pack {path} does not exist; check the path (or {PACK_ENV}).")
    try:
        pack = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise MedGemmaError(f"The class pack {path} is not valid JSON: it is damaged or truncated. Copy it again "
                            "from the teacher.") from None
    if not isinstance(pack, dict) or pack.get("format") != PACK_FORMAT:
        raise MedGemmaError(f"{path} is not a class pack of these notebooks.")
    if pack.get("format_version") != PACK_FORMAT_VERSION:
        raise MedGemmaError(f"The class pack {path} has format {pack.get('format_version')!r}; this version of the "
                            f"project ({__version__}) reads format {PACK_FORMAT_VERSION}. Record it again.")
    if pack.get("preparation_version") != PREPARATION_VERSION:
        raise MedGemmaError(f"The class pack {path} was recorded by project version {pack.get('project_version')}, "
                            f"which prepares inputs differently from this version {__version__}; its answers would "
                            "not match what the notebooks ask now. Record the pack again with this version.")
    films = _films_of(path, pack.get("films", []))  # before the seal, so a damaged film is named
    seal = pack.pop("sha256", None)
    if seal != _seal(pack):
        raise MedGemmaError(f"The class pack {path} does not match its own digest: it was edited or damaged after "
                            "it was recorded. Copy it again from the teacher.")
    entries = pack.pop("entries", None)
    if not isinstance(entries, list) or not all(
            isinstance(e, dict) and all(isinstance(e.get(k), kind) for k, kind in _ENTRY_FIELDS.items())
            for e in entries):
        raise MedGemmaError(f"The class pack {path} has malformed entries; record it again.")
    pack.pop("films", None)
    return pack, entries, films


# Packs opened in this process, by resolved path and modification time (a pack recorded again is read again).
_opened: dict[tuple[str, int], PackedMedGemma] = {}


def _open(path: str | Path) -> PackedMedGemma:
    """The pack at path, read and checked once per process."""
    resolved = Path(path).expanduser().resolve()
    stamp = (str(resolved), resolved.stat().st_mtime_ns if resolved.is_file() else 0)
    if stamp not in _opened:
        _opened[stamp] = PackedMedGemma(path)
    return _opened[stamp]


def use_pack(path: str | Path | None = None) -> PackedMedGemma:
    """Replay a class pack (MEDGEMMA_PACK when no path is given) wherever a loaded model is used."""
    if path is None:
        path = os.environ.get(PACK_ENV, "").strip()
        if not path:
            raise InputError(f"No pack given: pass mh.use_pack('class.pack') or set {PACK_ENV}.")
    key = ("pack", str(Path(path).expanduser().resolve()))
    held = access.held(key)
    if isinstance(held, PackedMedGemma):
        return held
    packed = _open(path)
    access.remember(key, packed)
    films = f" and {len(packed.films)} films" if packed.films else ""
    print(f"Replaying {len(packed.entries)} recorded answers{films} from {packed.path.name}: {packed.name}.")
    return packed


# ---------------------------------------------------------------- films


_film_folder: list[Path] = []  # where this process writes the films it takes from a pack (removed at exit)


def _packs_in_use() -> list[PackedMedGemma]:
    """The pack MEDGEMMA_PACK names, then those mh.use_pack replays now, newest first."""
    named = os.environ.get(PACK_ENV, "").strip()
    packs = [_open(named)] if named else []
    return packs + [packed for packed in reversed(list(_opened.values()))
                    if access.holds(packed) and packed not in packs]


def pack_film_path(sha256: str) -> Path | None:
    """A file holding the film with this sha256, from the class pack in use; None when no pack carries it."""
    for packed in _packs_in_use():
        film = packed.films.get(sha256)
        if film is None:
            continue
        if not _film_folder:
            _film_folder.append(Path(tempfile.mkdtemp(prefix="medgemma-pack-films-")))
            atexit.register(shutil.rmtree, _film_folder[0], ignore_errors=True)
        path = _film_folder[0] / sha256[:16] / film.file  # the film keeps its own name, for what shows it
        if not path.is_file():
            write_atomically(path, film.data)
        return path
    return None
