#!/usr/bin/env python3
"""Score side and size on EVERY OpenI MeSH head that carries one, built-in findings and the rest alike.

Run from the project root, with the project's environment (the corpus is read from ../shared/eval at run time
and never copied into the project):

    python eval/eval_attributes_all.py                    # side and size, built-in heads and the others
    python eval/eval_attributes_all.py side --errors 20   # disagreements, gold vs checker
    python eval/eval_attributes_all.py --per-head         # one line per head, checker and naive rule
    python eval/eval_attributes_all.py --json

The item rule is the one of ../shared/eval/eval_attributes.py: one report and one MeSH head whose terms give ONE
side (or one size) for it, where a word for the finding occurs in the report's findings or impression. Each
head is handed to the checker as a teacher would write it in an answer key: a name and a few synonyms
(`ReferenceFinding(name, synonyms, "present")`). The naive baseline (nearest side or size word in the first
sentence that names the finding) is scored on the same items.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import re
import sys
from collections import Counter

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "..", "shared", "eval", "openi_reports.csv")
sys.path.insert(0, ROOT)

# The heads ../shared/eval/eval_attributes.py scores: the findings the checker knows by itself.
BUILT_IN = {
    "pleural effusion": ("pleural effusion", ["pleural effusion", "pleural effusions", "effusion", "effusions"]),
    "pneumothorax": ("pneumothorax", ["pneumothorax", "pneumothoraces"]),
    "pulmonary atelectasis": ("atelectasis", ["atelectasis", "atelectatic", "atelectases"]),
    "nodule": ("nodule", ["nodule", "nodules", "nodular opacity", "nodular density"]),
    "airspace disease": ("airspace disease", ["airspace disease", "airspace opacity", "airspace opacities",
                                              "air space disease", "consolidation"]),
    "consolidation": ("consolidation", ["consolidation", "consolidations"]),
    "infiltrate": ("infiltrate", ["infiltrate", "infiltrates", "infiltration"]),
    "opacity": ("opacity", ["opacity", "opacities", "density", "densities"]),
    "calcified granuloma": ("calcified granuloma", ["calcified granuloma", "calcified granulomas", "granuloma",
                                                    "granulomas"]),
    "cardiomegaly": ("cardiomegaly", ["cardiomegaly", "enlarged heart", "heart is enlarged", "cardiac enlargement",
                                      "enlarged cardiac silhouette", "heart size is enlarged"]),
    "pulmonary edema": ("pulmonary edema", ["edema", "oedema"]),
    "pulmonary congestion": ("pulmonary congestion", ["congestion", "vascular congestion"]),
}

# Every other head that carries a side or a size, as a teacher would name it in a key of their own.
OTHER = {
    "cicatrix": ("scarring", ["scar", "scars", "scarring", "scarred", "cicatrix"]),
    "calcinosis": ("calcification", ["calcification", "calcifications", "calcified"]),
    "diaphragm": ("elevated hemidiaphragm", ["hemidiaphragm", "hemidiaphragms", "diaphragm", "diaphragms"]),
    "density": ("density", ["density", "densities"]),
    "catheters, indwelling": ("central venous catheter", ["catheter", "catheters", "port", "PICC", "Port-A-Cath"]),
    "costophrenic angle": ("costophrenic angle blunting", ["costophrenic angle blunting", "blunting",
                                                           "blunted", "costophrenic angle", "costophrenic angles",
                                                           "costophrenic recess"]),
    "fractures, bone": ("rib fracture", ["fracture", "fractures", "fractured"]),
    "scoliosis": ("scoliosis", ["scoliosis", "scoliotic", "curvature"]),
    "deformity": ("deformity", ["deformity", "deformities", "deformed"]),
    "surgical instruments": ("surgical clips", ["clip", "clips", "surgical clips", "staples", "sutures"]),
    "lung": ("hyperinflation", ["hyperinflation", "hyperinflated", "hyperexpansion", "hyperexpanded",
                                "low lung volumes", "hypoinflation", "lung volumes"]),
    "thickening": ("pleural thickening", ["thickening", "thickened"]),
    "markings": ("interstitial markings", ["markings", "interstitial markings", "bronchovascular markings"]),
    "implanted medical device": ("pacemaker", ["pacemaker", "pacer", "defibrillator", "AICD", "ICD",
                                               "device", "stimulator", "loop recorder"]),
    "pneumonia": ("pneumonia", ["pneumonia", "pneumonias"]),
    "granuloma": ("granuloma", ["granuloma", "granulomas"]),
    "diaphragmatic eventration": ("eventration", ["eventration"]),
    "foreign bodies": ("foreign body", ["foreign body", "foreign bodies", "bullet", "fragment", "fragments"]),
    "lucency": ("lucency", ["lucency", "lucencies", "lucent"]),
    "mass": ("mass", ["mass", "masses"]),
    "shoulder": ("shoulder arthritis", ["shoulder", "shoulders", "glenohumeral joint", "acromioclavicular joint"]),
    "pulmonary fibrosis": ("fibrosis", ["fibrosis", "fibrotic"]),
    "volume loss": ("volume loss", ["volume loss", "loss of volume"]),
    "lung, hyperlucent": ("hyperlucent lung", ["hyperlucent", "hyperlucency"]),
    "heart": ("heart", ["heart"]),
    "nipple shadow": ("nipple shadow", ["nipple shadow", "nipple shadows", "nipple"]),
    "shift": ("mediastinal shift", ["shift", "shifted", "deviation", "deviated"]),
    "blister": ("bulla", ["bulla", "bullae", "bleb", "blebs", "bullous"]),
    "mastectomy": ("mastectomy", ["mastectomy", "mastectomies"]),
    "epicardial fat": ("epicardial fat pad", ["fat pad", "fat pads", "epicardial fat"]),
    "pneumonectomy": ("pneumonectomy", ["pneumonectomy", "lobectomy"]),
    "cavitation": ("cavitation", ["cavitation", "cavity", "cavitary"]),
    "sutures": ("sutures", ["suture", "sutures", "sternotomy wires"]),
    "cysts": ("cyst", ["cyst", "cysts", "cystic"]),
    "mediastinum": ("widened mediastinum", ["mediastinum", "mediastinal"]),
    "subcutaneous emphysema": ("subcutaneous emphysema", ["subcutaneous emphysema", "subcutaneous air"]),
    "medical device": ("medical device", ["device", "devices"]),
    "breast implants": ("breast implants", ["breast implant", "breast implants", "implant", "implants"]),
    "tube, inserted": ("chest tube", ["tube", "tubes"]),
    "heart atria": ("enlarged atrium", ["atrium", "atrial"]),
    "sulcus": ("sulcus", ["sulcus", "sulci"]),
    "hydropneumothorax": ("hydropneumothorax", ["hydropneumothorax"]),
    "pulmonary artery": ("enlarged pulmonary artery", ["pulmonary artery", "pulmonary arteries"]),
    "sclerosis": ("sclerosis", ["sclerosis", "sclerotic"]),
    "bullous emphysema": ("bullous emphysema", ["bullous", "bullae", "bulla"]),
    "bronchiectasis": ("bronchiectasis", ["bronchiectasis"]),
    "pulmonary emphysema": ("emphysema", ["emphysema", "emphysematous"]),
    "emphysema": ("emphysema", ["emphysema", "emphysematous"]),
    "adipose tissue": ("fat", ["fat", "lipoma"]),
    "ribs": ("rib abnormality", ["rib", "ribs"]),
    "heart ventricles": ("enlarged ventricle", ["ventricle", "ventricular"]),
    "lymph nodes": ("lymphadenopathy", ["lymph node", "lymph nodes", "lymphadenopathy", "adenopathy"]),
    "stents": ("stent", ["stent", "stents"]),
    "lung diseases, interstitial": ("interstitial lung disease", ["interstitial lung disease", "interstitial",
                                                                  "ILD"]),
    "dislocations": ("dislocation", ["dislocation", "dislocated"]),
    "osteophyte": ("osteophytes", ["osteophyte", "osteophytes", "spurring", "spurs"]),
    "arthritis": ("arthritis", ["arthritis", "arthritic", "degenerative"]),
    "pleura": ("pleural thickening", ["pleura", "pleural"]),
    "granulomatous disease": ("granulomatous disease", ["granulomatous", "granulomas", "granuloma"]),
    "hemopneumothorax": ("hemopneumothorax", ["hemopneumothorax"]),
    "hemothorax": ("hemothorax", ["hemothorax"]),
    "humerus": ("humerus", ["humerus", "humeral"]),
    "trachea": ("tracheal deviation", ["trachea", "tracheal"]),
    "thoracic vertebrae": ("thoracic spine degenerative change", ["degenerative", "degeneration", "spondylosis",
                                                                  "osteophytes", "spurring"]),
    "spine": ("degenerative disease of the spine", ["degenerative", "degeneration", "spondylosis"]),
    "aorta": ("tortuous aorta", ["tortuous", "tortuosity", "aorta", "aortic"]),
    "aorta, thoracic": ("tortuous aorta", ["tortuous", "tortuosity", "aorta", "aortic"]),
    "cardiac shadow": ("enlarged cardiac silhouette", ["cardiac silhouette", "heart size", "cardiac shadow",
                                                      "cardiomediastinal silhouette", "heart"]),
    "hernia, hiatal": ("hiatal hernia", ["hiatal hernia", "hiatus hernia", "hernia"]),
    "kyphosis": ("kyphosis", ["kyphosis", "kyphotic"]),
    "lumbar vertebrae": ("lumbar spine degenerative change", ["degenerative", "lumbar"]),
    "spondylosis": ("spondylosis", ["spondylosis", "degenerative"]),
    "atherosclerosis": ("atherosclerosis", ["atherosclerosis", "atherosclerotic", "calcified", "calcification"]),
    "heart failure": ("heart failure", ["heart failure", "CHF", "failure"]),
    "funnel chest": ("pectus excavatum", ["pectus excavatum", "pectus"]),
    "pericardial effusion": ("pericardial effusion", ["pericardial effusion", "effusion"]),
    "abdomen": ("abdomen", ["abdomen", "abdominal"]),
    "bone and bones": ("bones", ["bone", "bones", "osseous"]),
    "thorax": ("chest wall", ["thorax", "chest wall"]),
    "expansile bone lesions": ("expansile bone lesion", ["expansile", "lesion"]),
    "bronchitis": ("bronchitis", ["bronchitis"]),
    "pulmonary disease, chronic obstructive": ("COPD", ["COPD", "chronic obstructive"]),
}
HEADS = {**BUILT_IN, **OTHER}
SIDES = {"left", "right", "bilateral"}
COARSE = {"minimal": "small", "small": "small", "mild": "small", "moderate": "moderate", "large": "large",
          "severe": "large", "borderline": "borderline"}


def _occurs(term: str, text: str) -> bool:
    pattern = r"(?<![A-Za-z0-9])" + r"[\s-]+".join(re.escape(w) for w in term.split()) + r"(?![A-Za-z0-9])"
    return re.search(pattern, text, re.IGNORECASE) is not None


def items(corpus: str = CORPUS) -> list[tuple[str, str, str, str, str]]:
    """(uid, head, kind, gold, text) for every unambiguous side or size item of every head in HEADS."""
    if not os.path.exists(corpus):
        sys.exit(f"OpenI reports not found at {corpus}: the shared evaluation corpora must sit beside the project")
    out = []
    with open(corpus, newline="") as f:
        for row in csv.DictReader(f):
            text = " ".join(f"{row['findings']} {row['impression']}".split())
            sides: dict[str, set[str]] = {}
            sizes: dict[str, set[str]] = {}
            for term in row["MeSH"].split(";"):
                parts = [p.strip().lower() for p in term.split("/")]
                head = re.sub(r"\s+", " ", parts[0])
                if head not in HEADS:
                    continue
                for p in parts[1:]:
                    if p in SIDES:
                        sides.setdefault(head, set()).add(p)
                    if p in COARSE:
                        sizes.setdefault(head, set()).add(COARSE[p])
            for kind, table in (("side", sides), ("size", sizes)):
                for head, values in table.items():
                    if len(values) != 1 or not any(_occurs(t, text) for t in HEADS[head][1]):
                        continue
                    out.append((row["uid"], head, kind, next(iter(values)), text))
    return out


_SIDE_WORDS = {"right": "right", "left": "left", "bilateral": "bilateral", "both": "bilateral",
               "bibasilar": "bilateral", "biapical": "bilateral", "bibasal": "bilateral"}


def naive(text: str, head: str, kind: str) -> str:
    """Baseline: the nearest side (size) word in the first sentence that names the finding."""
    for sentence in re.split(r"(?<=[.;])\s+", text):
        hits = [m.start() for t in HEADS[head][1] for m in re.finditer(r"(?i)\b" + re.escape(t) + r"\b", sentence)]
        if not hits:
            continue
        at = min(hits)
        words = [(m.start(), m.group(0).lower()) for m in re.finditer(r"[A-Za-z]+", sentence)]
        table = _SIDE_WORDS if kind == "side" else COARSE
        found = [(abs(pos - at), table[w]) for pos, w in words if w in table]
        return min(found)[1] if found else ""
    return ""


def checker(text: str, head: str, kind: str) -> str:
    """What the project's checker says: the side (or coarse size) of the finding, "" for none."""
    import medgemma_helpers as mh
    from medgemma_helpers.cases import ReferenceFinding

    name, words = HEADS[head]
    check = mh.check_findings(text, [ReferenceFinding(name, tuple(w for w in words if w != name), "present")])[0]
    said = getattr(check, kind, "") or ""
    return COARSE.get(said, said) if kind == "size" else said


def score(kinds: list[str]) -> dict[str, dict[str, object]]:
    """Accuracy of the checker and of the naive rule, per kind, per group (built-in, other) and per head."""
    results: dict[str, dict[str, object]] = {}
    all_items = items()
    for kind in kinds:
        tally: Counter[tuple[str, str, str]] = Counter()
        errors = []
        for uid, head, _, gold, text in (it for it in all_items if it[2] == kind):
            group = "built-in" if head in BUILT_IN else "other"
            said, base = checker(text, head, kind), naive(text, head, kind)
            for where in (group, head):
                tally[where, "all", ""] += 1
                tally[where, "checker", ""] += said == gold
                tally[where, "naive", ""] += base == gold
            if said != gold:
                errors.append((uid, head, gold, said, text))
        groups = {g: {"items": tally[g, "all", ""],
                      "checker": round(tally[g, "checker", ""] / max(1, tally[g, "all", ""]), 3),
                      "naive": round(tally[g, "naive", ""] / max(1, tally[g, "all", ""]), 3)}
                  for g in ("built-in", "other")}
        heads = {h: {"items": tally[h, "all", ""], "checker": tally[h, "checker", ""], "naive": tally[h, "naive", ""]}
                 for h in sorted(HEADS) if tally[h, "all", ""]}
        results[kind] = {"groups": groups, "per_head": heads, "errors": errors}
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("kinds", nargs="*", help="side, size (default: both)")
    ap.add_argument("--errors", type=int, default=0, help="print N disagreements per kind")
    ap.add_argument("--others-only", action="store_true", help="with --errors: only heads outside the built-ins")
    ap.add_argument("--per-head", action="store_true", help="one line per head")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    kinds = args.kinds or ["side", "size"]
    if set(kinds) - {"side", "size"}:
        ap.error("kinds are side and size")
    results = score(kinds)
    if args.json:
        print(json.dumps({k: {"groups": r["groups"], "per_head": r["per_head"]} for k, r in results.items()}))
        return
    for kind, r in results.items():
        for group, g in r["groups"].items():  # type: ignore[union-attr]
            print(f"{kind} {group}: checker {g['checker']:.3f}, naive {g['naive']:.3f} on {g['items']} items")
        if args.per_head:
            for head, h in r["per_head"].items():  # type: ignore[union-attr]
                mark = "" if head in BUILT_IN else " (other)"
                print(f"    {head}{mark}: checker {h['checker']}/{h['items']}, naive {h['naive']}/{h['items']}")
        if args.errors:
            shown = [e for e in r["errors"] if not args.others_only or e[1] not in BUILT_IN]  # type: ignore[union-attr]
            print(f"--- {kind}: {min(args.errors, len(shown))} of {len(shown)} disagreements (gold vs checker)")
            for uid, head, gold, said, text in shown[: args.errors]:
                print(f"[{uid}] {head}: gold {gold!r}, checker {said!r}\n    {text[:400]}")


if __name__ == "__main__":
    main()
