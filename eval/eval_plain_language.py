#!/usr/bin/env python3
"""Score the plain-language measures (jargon left, findings dropped or added) on the held-out set.

Run from the project root, with the project's environment:

    python eval/eval_plain_language.py            # one line per measure, against the goals
    python eval/eval_plain_language.py --errors   # every miss and false flag, with its text
    python eval/eval_plain_language.py --set eval/plain_language_fresh.yaml   # the second, untuned set

The set is eval/plain_language_heldout.yaml (see its header). The reads of its rewrites are OpenI reports named by
uid, read from ../shared/eval/openi_reports.csv at run time, or reads written in the set. Each text goes through
check_explanation against its read, as a notebook measures a resident's explanation. A variant's flag counts as
caught only when the faithful text does not draw the same flag.
"""
from __future__ import annotations

import argparse
import csv
import os
import re
import sys
from typing import Any

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
CORPUS = os.path.join(ROOT, "..", "shared", "eval", "openi_reports.csv")
SET = os.path.join(ROOT, "eval", "plain_language_heldout.yaml")
GOALS = {"false jargon flags per patient text": ("<=", 1 / 3), "false dropped or added flags per rewrite": ("<=", 0.2),
         "inserted false finding caught, close wording": (">=", 0.9),
         "inserted false finding caught, paraphrase": (">=", 0.5), "swapped side caught": (">=", 0.9),
         "deleted finding caught": (">=", 0.95)}


def _reports(uids: set[str]) -> dict[str, str]:
    if not uids:
        return {}
    if not os.path.exists(CORPUS):
        sys.exit(f"OpenI reports not found at {CORPUS}: the shared evaluation corpora must sit beside the project")
    with open(CORPUS, newline="") as f:
        return {row["uid"]: " ".join(f"{row['findings']} {row['impression']}".split())
                for row in csv.DictReader(f) if row["uid"] in uids}


def score(path: str = SET) -> tuple[dict[str, tuple[float, int]], list[str]]:
    """(measure -> (value, items)) and a line for every miss or false flag."""
    from medgemma_helpers.lay_terms import JARGON
    from medgemma_helpers.patient import check_explanation

    with open(path) as f:
        data: dict[str, Any] = yaml.safe_load(f)
    reads = _reports({r["uid"] for r in data["rewrites"] if r.get("uid")})
    errors: list[str] = []
    false_jargon = 0
    spellings = {entry.term: {w.lower() for w in (entry.term, *entry.spellings)} for entry in JARGON}
    for text in data["education"]:
        flagged = check_explanation(text["text"], read="").jargon
        # the set names a term as the text spells it ("echocardiogram" for the term "echocardiography")
        unexplained = {w.lower() for w in text.get("unexplained", [])}
        # a flag on a word of a longer unexplained name is right ("pulmonary" in "pulmonary rehabilitation")
        wrong = [t for t in flagged if not any(re.search(rf"(?<![a-z]){re.escape(w)}(?![a-z])", phrase)
                                               for w in spellings.get(t, {t.lower()}) for phrase in unexplained)]
        false_jargon += len(wrong)
        errors += [f"jargon false alarm [{text['id']}]: {term}" for term in wrong]
    false_flags = 0
    caught = {"delete": [0, 0], "insert_close": [0, 0], "insert_paraphrase": [0, 0], "swap": [0, 0]}
    for rewrite in data["rewrites"]:
        read = reads[rewrite["uid"]] if rewrite.get("uid") else rewrite["read"]
        faithful = check_explanation(rewrite["plain"], read=read)
        wrong = [f"dropped {f}" for f in faithful.dropped] + [f"added {f}" for f in faithful.added]
        false_flags += len(wrong)
        errors += [f"false flag [{rewrite['id']}]: {w}" for w in wrong]
        for kind, tally in caught.items():
            variant = rewrite.get(kind)
            if not variant:
                continue
            measured = check_explanation(variant["text"], read=read)
            wanted = measured.added if kind.startswith("insert") else measured.dropped
            # a flag the faithful text draws as well tells nothing: it is caught only if the faithful one is clean
            already = faithful.added if kind.startswith("insert") else faithful.dropped
            tally[1] += 1
            if variant["finding"] in wanted and variant["finding"] not in already:
                tally[0] += 1
            else:
                errors.append(f"missed {kind} [{rewrite['id']}]: {variant['finding']}")
    n_text, n_rewrite = len(data["education"]), len(data["rewrites"])
    result = {"false jargon flags per patient text": (false_jargon / n_text, n_text),
              "false dropped or added flags per rewrite": (false_flags / n_rewrite, n_rewrite)}
    names = {"insert_close": "inserted false finding caught, close wording",
             "insert_paraphrase": "inserted false finding caught, paraphrase", "swap": "swapped side caught",
             "delete": "deleted finding caught"}
    for kind, (hit, total) in caught.items():
        result[names[kind]] = (hit / total if total else 0.0, total)
    return result, errors


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--errors", action="store_true", help="list every miss and false flag")
    ap.add_argument("--set", default=SET, help="the set to score (default: eval/plain_language_heldout.yaml)")
    args = ap.parse_args()
    result, errors = score(args.set)
    for measure, (value, items) in result.items():
        way, goal = GOALS[measure]
        met = value <= goal if way == "<=" else value >= goal
        print(f"{measure}: {value:.2f} on {items} (goal {way} {goal:.2f}: {'met' if met else 'MISSED'})")
    if args.errors:
        print("\n".join(errors))


if __name__ == "__main__":
    main()
