"""What a radiologist knows about the standard chest findings, for judging a read (pure text, no model).

A read often denies a finding without naming it ("The heart size is within normal limits" denies
cardiomegaly) or asserts it in other words ("the heart appears enlarged"). A case file should not have
to list every such phrasing, so this table holds them for the findings every chest read reports on:
cardiomegaly, widened mediastinum, consolidation (airspace opacity), pleural effusion, pneumothorax,
pulmonary oedema, fracture, nodule and mass; and for some a case names: vascular congestion ("upper lobe
venous diversion"), a lower-zone predominance ("bilateral lower zone reticulation": the zone words before a
pattern, the pattern staying its own finding), and a line or tube (where "line" alone is guarded by the
lines of anatomy and signs as look-alikes: "visceral pleural line", "Kerley B lines", "line of the heart",
and a hedge on its type still asserts a device: "possibly a VP shunt").

An answer-key finding gets an entry's knowledge when its name or a synonym contains one of the entry's
`keys` (so "rib fracture" is a fracture) and its name holds none of the entry's look-alike words (so
"pericardial effusion" is not a pleural effusion).

Each entry says:
- `positive`: other wordings that assert the finding (regular expressions, matched as whole words; a
  `(?P<neg>…)` group inside one denies it instead, as in "the heart is not enlarged", and a `(?P<hedge>…)`
  group makes it uncertain, as in "the heart is borderline enlarged").
- `normal`: normal statements that deny it without naming it. They are the weakest claim: any mention
  that asserts or hedges the finding anywhere in the read wins over them.
- `lookalikes`: words that, right before the finding's head word, make it another finding
  ("pericardial effusion", "subcutaneous emphysema", "leg oedema"); `lookalikes_after` likewise right
  after it ("mass effect").

The normal statements are deliberately narrow, as radiologists use them: "the lungs are clear" denies
consolidation but says nothing about the pleura, a pneumothorax or a nodule; "the left lung is clear"
says nothing about the right; "normal expansion" is about inspiration, not a pneumothorax. A report's
verbless shorthand counts when it ends its phrase ("Mediastinum normal."), and "no focal lesion" denies a
nodule and a mass.

Layer: cases and concordance. May import nothing from the package.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Degree words a radiologist puts before "enlarged" or "widened"; hedging degrees are in _HEDGE.
_DEGREE = (r"(?:(?:mildly|moderately|markedly|severely|slightly|significantly|massively|grossly|somewhat|very|"
           r"minimally)\s+)")
_HEDGE = r"(?:borderline|possibly|questionably|perhaps|equivocally)"
_LINKING_VERB = r"(?:is|are|was|were|appears?|appeared|seems?|seemed|looks?|remains?)(?:\s+to\s+be)?"
# The same verb in a positive phrasing, which may deny it: "is not enlarged", "does not appear widened".
_VERB_NOT = rf"(?:{_LINKING_VERB}|does|do|did)(?P<neg>\s+not)?(?:\s+(?:appear|seem|look)(?:\s+to\s+be)?)?"
# Words that may stand between the subject's verb and a normal predicate ("is again within normal limits").
_FILLER = r"(?:(?:grossly|essentially|overall|otherwise|again|still|also|relatively|largely|likely|probably|now|" \
          r"generally|stable\s+and|unchanged\s+and|bilaterally)\s+){0,2}"


def _words(*phrases: str) -> str:
    """One alternation of phrases, spaces matching any run of spaces or hyphens."""
    return "(?:" + "|".join(p.replace(" ", r"[\s-]+") for p in phrases) + ")"


def normal_statements(subjects: str, predicates: str, prefixes: str = "") -> tuple[str, ...]:
    """'SUBJECT is/appears PREDICATE', 'SUBJECT: PREDICATE' and, when given, 'PREFIX SUBJECT' ("normal heart size")."""
    # A subject may be one of a short list ("the ribs and clavicles", "the ribs, clavicles and other bony
    # structures") and carry an "of …" phrase ("the bony structures of the rib cage").
    subject = (rf"(?:{subjects})(?:\s*(?:,|and|/)\s*(?:(?:the|other)\s+)*[a-z]+(?:\s+[a-z]+)?){{0,3}}"
               r"(?:\s+of\s+the\s+[a-z]+(?:\s+[a-z]+)?)?")
    statements = [rf"{subject}\s+{_LINKING_VERB}\s+{_FILLER}(?:{predicates})",
                  rf"{subject}\s*[:\-–]\s*{_FILLER}(?:{predicates})",
                  # a report's shorthand without the verb, ending its phrase: "Mediastinum normal."
                  rf"{subject}\s+{_FILLER}(?:{predicates})(?=\s*(?:[.,;]|$))"]
    if prefixes:
        statements.append(rf"(?:{prefixes})\s+(?:{subjects})")
    return tuple(statements)


@dataclass(frozen=True)
class StandardFinding:
    """Knowledge of one standard chest finding (see the module docstring)."""

    name: str
    keys: tuple[str, ...]
    head: str = ""
    positive: tuple[str, ...] = ()
    normal: tuple[str, ...] = ()
    lookalikes: tuple[str, ...] = ()
    lookalikes_after: tuple[str, ...] = ()
    # A hedge on which one it is still claims one: "possibly a VP shunt" asserts a device (of unsure type).
    hedge_is_about_type: bool = False


# "No focal lesion" denies a nodule and a mass without naming either.
_NO_LESION = r"no\s+(?:(?:focal|discrete|suspicious|definite|new|pulmonary|lung|parenchymal)\s+){0,3}lesions?"
# The interstitial patterns whose place may follow them, each a fixed-width look-behind (Python's re needs that).
_PATTERNS_BEFORE_A_PLACE = tuple(f"{pattern} " for pattern in (
    "reticulation", "reticular opacity", "reticular opacities", "reticular markings", "reticular marking",
    "reticular pattern", "reticular changes", "reticular shadowing", "reticulonodular opacities",
    "reticulonodular pattern", "reticulonodular markings", "interstitial opacities", "interstitial markings",
    "interstitial changes", "interstitial pattern", "interstitial shadowing", "fibrosis", "fibrotic changes",
    "fibrotic change", "honeycombing"))


def _after_pattern(place: str) -> str:
    """A place phrase that counts only right after an interstitial pattern's name (which it does not include)."""
    behind = "|".join(f"(?<={re.escape(words)})" for words in _PATTERNS_BEFORE_A_PLACE)
    return f"(?:{behind}){place}"


# The pulmonary vessels as a read names them when it describes congestion ("prominent pulmonary vasculature").
_PULMONARY_VESSELS = (r"(?:pulmonary\s+(?:vascular(?:ity|\s+markings)|vasculature|vessels|veins|venous\s+markings)|"
                      r"vascular\s+markings)")

_NORMAL = r"normal|within\s+(?:the\s+)?normal\s+(?:limits|range)|unremarkable"

STANDARD_FINDINGS: tuple[StandardFinding, ...] = (
    StandardFinding(
        "cardiomegaly",
        keys=("cardiomegaly", "enlarged heart", "heart enlargement", "cardiac enlargement",
              "enlarged cardiac silhouette", "enlargement of the heart", "enlargement of the cardiac silhouette",
              "heart is enlarged"),
        positive=(
            _words("heart", "heart size", "cardiac size", "size of the heart", "cardiac silhouette", "cardiac shadow") +
            rf"\s+{_VERB_NOT}\s+(?:(?P<hedge>{_HEDGE})\s+)?{_DEGREE}?(?:to\s+{_DEGREE})?(?:enlarged|increased|large)",
            # a report's shorthand without the verb: "Heart size mildly enlarged.", "Heart: enlarged."
            _words("heart", "heart size", "cardiac size", "cardiac silhouette") +
            rf"(?:\s*[:\-–])?\s+(?:(?P<hedge>{_HEDGE})\s+)?{_DEGREE}?(?:to\s+{_DEGREE})?enlarged",
            rf"enlarged\s+{_words('heart', 'cardiac silhouette', 'cardiac shadow', 'heart shadow', 'cardiac contour')}",
            rf"{_words('cardiac', 'heart')}\s+enlargement",
            rf"enlargement\s+of\s+the\s+{_words('heart', 'cardiac silhouette')}",
            r"(?:increased|enlarged)\s+cardiothoracic\s+ratio",
            r"cardiothoracic\s+ratio\s+(?:is\s+|of\s+)?(?:increased|greater\s+than\s+0?\.5|above\s+0?\.5|>\s*0?\.5)",
        ),
        normal=normal_statements(
            _words("heart", "heart size", "cardiac size", "size of the heart", "cardiac silhouette", "cardiac shadow",
                   "cardiomediastinal silhouette", "cardiomediastinal contour", "cardiomediastinal contours",
                   "cardiothoracic ratio"),
            rf"{_NORMAL}|normal\s+in\s+size|of\s+normal\s+size|not\s+enlarged|"
            r"(?:less\s+than|below|under|<)\s*(?:0?\.5|50\s*%)",
            _words("normal", "unremarkable")),
    ),
    StandardFinding(
        "widened mediastinum",
        keys=("widened mediastinum", "mediastinal widening", "widening of the mediastinum", "wide mediastinum",
              "mediastinal enlargement"),
        positive=(
            # "superior" or "upper": "stable widening of the upper mediastinum"
            rf"(?:(?:superior|upper)\s+)?mediastinum\s+{_VERB_NOT}\s+(?:(?P<hedge>{_HEDGE})\s+)?{_DEGREE}?"
            r"(?:widened|wide|broadened)",
            r"(?:widened|wide|broadened)\s+(?:(?:superior|upper)\s+)?mediastinum",
            r"(?:widening|broadening)\s+of\s+the\s+(?:(?:superior|upper)\s+)?mediastinum",
            r"mediastinal\s+(?:widening|broadening)",
        ),
        normal=normal_statements(
            _words("mediastinum", "superior mediastinum", "mediastinal contour", "mediastinal contours",
                   "mediastinal silhouette", "mediastinal width", "width of the mediastinum", "mediastinal structures",
                   "mediastinal outline", "cardiomediastinal silhouette", "cardiomediastinal contour",
                   "cardiomediastinal contours"),
            rf"{_NORMAL}|normal\s+in\s+(?:width|contour|size|width\s+and\s+contour)|of\s+normal\s+width|not\s+widened",
            _words("normal", "unremarkable")),
    ),
    StandardFinding(
        "consolidation",
        # Not "pneumonia" or "infiltrate": those are diagnoses or loose terms, and an airspace opacity is not
        # a pneumonia. A case that counts "airspace opacity" as consolidation says so in its synonyms.
        keys=("consolidation", "consolidations", "consolidative"),
        positive=(r"consolidative\s+(?:opacit(?:y|ies)|changes?)",),
        # an interstitial infiltrate is not an airspace one (a plain wording's "infiltrate" names the airspace one)
        head="consolidation",
        lookalikes=("interstitial", "reticular", "reticulonodular"),
        # "The lungs are clear" is about the lung parenchyma: no consolidation. One lung being clear says
        # nothing about the other, so the subject is both lungs.
        normal=normal_statements(_words("lungs", "lung fields", "both lungs", "lung parenchyma"), r"clear",
                                 r"clear"),
    ),
    StandardFinding(
        "pleural effusion",
        keys=("pleural effusion", "effusion", "effusions", "hydrothorax", "pleural fluid"),
        head="effusion",
        # Blunting of a costophrenic angle is not here: scarring and pleural thickening blunt it too. A case
        # that counts it as the effusion says so in its synonyms.
        positive=(r"meniscus(?:\s+sign)?", r"fluid\s+in\s+the\s+pleural\s+(?:space|cavity)", r"pleural\s+fluid",
                  r"hydrothorax"),
        normal=normal_statements(
            _words("costophrenic angle", "costophrenic angles", "costophrenic recesses", "costophrenic sulci",
                   "CP angles", "pleural spaces", "pleural space", "pleura", "pleurae", "pleural surfaces"),
            rf"clear|sharp|sharply\s+defined|preserved|well[\s-]+defined|not\s+blunted|{_NORMAL}",
            _words("sharp", "clear", "preserved", "normal")),
        lookalikes=("pericardial", "pericardium", "joint", "knee", "hip", "shoulder", "ankle", "elbow", "wrist",
                    "middle ear", "mastoid", "sinus", "subdural", "peritoneal"),
    ),
    StandardFinding(
        "pneumothorax",
        keys=("pneumothorax", "pneumothoraces"),
        positive=(r"visceral\s+pleural\s+(?:line|edge)", r"(?:air|gas)\s+in\s+the\s+pleural\s+(?:space|cavity)",
                  r"pleural\s+air"),
        normal=normal_statements(_words("pleural spaces", "pleural space", "pleura", "pleurae", "pleural surfaces"),
                                 rf"clear|{_NORMAL}"),
    ),
    StandardFinding(
        "pulmonary oedema",
        keys=("pulmonary oedema", "oedema", "interstitial oedema", "alveolar oedema", "pulmonary edema", "edema"),
        head="o?edema",
        positive=(r"o?edema(?:tous)?", r"kerley\s*b(?:\s+lines)?", r"bat[\s-]*wing"),
        lookalikes=("soft tissue", "soft-tissue", "peripheral", "pedal", "leg", "legs", "ankle", "lower extremity",
                    "lower extremities", "lower limb", "lower limbs", "extremity", "subcutaneous", "cerebral", "brain",
                    "bowel wall", "scrotal", "periorbital", "facial", "laryngeal", "macular", "marrow", "pitting",
                    "dependent", "vasogenic", "cytotoxic"),
    ),
    StandardFinding(
        "emphysema",
        keys=("emphysema", "emphysematous"),
        head="emphysema",
        lookalikes=("subcutaneous", "surgical", "soft tissue", "soft-tissue", "mediastinal", "orbital",
                    "periorbital"),
    ),
    StandardFinding(
        "pulmonary fibrosis",
        keys=("fibrosis", "pulmonary fibrosis", "interstitial fibrosis", "fibrotic change", "fibrotic changes"),
        head="fibrosis",
        # honeycombing is established fibrosis seen on the film, not a diagnosis drawn from it
        positive=(r"honeycomb(?:ing|ed)?(?:\s+(?:pattern|change|changes|cysts?))?",),
        lookalikes=("cystic", "retroperitoneal", "myocardial", "endomyocardial", "liver", "hepatic", "bridging",
                    "submucous", "progressive massive"),
    ),
    StandardFinding(
        "fracture",
        keys=("fracture", "fractures", "fractured"),
        head="fractures?",
        # a device that has broken ("central venous catheter fracture", "pacemaker lead fracture") is no bone's
        lookalikes=("catheter", "line", "lead", "leads", "wire", "wires", "tube", "port", "device", "stent", "coil"),
        # ... nor is a broken sternotomy wire, whose name de-identification often hides ("sternotomy XXXX")
        lookalikes_after=("of sternotomy", "of the sternotomy", "of a sternotomy", "of superior sternotomy",
                          "of the superior sternotomy", "of the uppermost sternotomy", "of one of the sternotomy",
                          "of a sternal wire", "of the sternal wire", "of the catheter", "of the lead"),
        positive=(r"broken\s+(?:ribs?|bones?|clavicles?)",),
        normal=normal_statements(
            _words("bones", "bony structures", "osseous structures", "skeletal structures", "visualised bones",
                   "visualized bones", "bony thorax", "ribs", "clavicles", "rib cage"),
            rf"intact|{_NORMAL}")
        + (r"no\s+(?:(?:acute|focal|obvious|significant)\s+)?(?:bony|osseous|skeletal)\s+"
           r"(?:abnormalit(?:y|ies)|injur(?:y|ies)|lesions?)",),
    ),
    StandardFinding(
        "nodule",
        keys=("nodule", "nodules", "pulmonary nodule", "lung nodule"),
        head="nodules?",
        positive=(r"nodular\s+(?:opacit(?:y|ies)|densit(?:y|ies)|lesions?|shadows?|shadowing)",),
        lookalikes=("thyroid", "breast", "skin", "cutaneous", "subcutaneous", "liver", "hepatic", "adrenal", "renal",
                    "kidney", "prostate", "vocal cord", "rheumatoid"),
        normal=(_NO_LESION,),
    ),
    StandardFinding(
        "mass",
        keys=("mass", "masses", "lung mass", "pulmonary mass"),
        head="mass(?:es)?",
        positive=(r"mass[\s-]*like\s+(?:opacit(?:y|ies)|opacification|lesions?|densit(?:y|ies)|consolidation)",),
        lookalikes=("body", "muscle", "bone", "lean", "fat-free", "breast", "thyroid", "adrenal", "renal", "liver",
                    "hepatic", "pelvic", "adnexal", "ovarian", "abdominal", "neck"),
        lookalikes_after=("effect", "index"),
        normal=(_NO_LESION,),
    ),
    StandardFinding(
        "pulmonary vascular congestion",
        keys=("vascular congestion", "venous congestion", "pulmonary congestion"),
        positive=(
            r"upper[\s-]+(?:lobe|zone)s?\s+(?:(?:venous|vascular|vessel|blood|flow|pulmonary)\s+){0,3}"
            r"(?:diversion|redistribution|distension|distention|prominence)",
            r"(?:(?:vascular|venous|blood(?:\s+flow)?)\s+(?:re)?(?:distribution|diversion)|(?:re)?distribution\s+of\s+"
            r"(?:pulmonary\s+)?(?:blood(?:\s+flow)?|flow))\s+to\s+the\s+upper\s+(?:lobes|zones)",
            r"cephali[sz]ation",
            r"(?:engorged|distended|dilated)\s+(?:upper[\s-]+(?:lobe|zone)\s+)?(?:pulmonary\s+)?(?:vessels|veins)",
            # prominent vessels in other words, before or after them
            rf"(?:prominen(?:t|ce)|engorge(?:d|ment)|distension|distention|increased)\s+(?:of\s+(?:the\s+)?)?"
            rf"{_PULMONARY_VESSELS}",
            rf"{_PULMONARY_VESSELS}\s+{_VERB_NOT}\s+(?:(?P<hedge>{_HEDGE})\s+)?{_DEGREE}?"
            r"(?:prominent|engorged|distended|increased|congested)",
        ),
        normal=normal_statements(_words("pulmonary vasculature", "pulmonary vascularity", "pulmonary vessels"),
                                 _NORMAL, _words("normal")),
    ),
    StandardFinding(
        # a distribution: the zone words before a pattern ("bilateral lower zone reticulation") or a pattern's
        # stated predominance ("reticulation, most marked at the bases"); the pattern itself stays its own finding
        "lower-zone predominance",
        keys=("lower-zone predominance", "lower zone predominance", "basal predominance"),
        positive=(
            r"(?:lower[\s-]+(?:zones?|lobes?|lung\s+zones?)|lung\s+bases|bi-?basal|bi-?basilar|basal|basilar)"
            r"(?:[\s-]+predominant)?(?=\s+(?:[a-z-]+\s+){0,2}?(?:reticul|interstitial|fibro|honeycomb)[a-z]*)",
            r"(?:predominantly|predominant|mainly|mostly|chiefly|worst|worse|greatest|maximal|(?:most|more)\s+"
            r"(?:marked|prominent|pronounced|severe|evident|conspicuous|extensive|obvious|apparent|notable))\s+"
            r"(?:at|in|within|towards?|involving)\s+"
            r"(?:the\s+|both\s+)?(?:lung\s+)?(?:bases|lower\s+(?:lung\s+)?(?:zones|lobes|fields))",
            # ... or named as a predominance in other words ("lower lung zone predominant", "bibasilar predominance")
            r"(?:lower[\s-]+(?:lung[\s-]+)?(?:zones?|lobes?|fields?)|lower[\s-]+lung|bi-?basilar|bi-?basal|basilar|"
            r"basal)[\s-]+predominan(?:ce|t)",
            # ... or a pattern's place after it ("reticular opacities in both lower zones"): only the place is
            # matched, so the pattern stays a mention of its own finding
            _after_pattern(r"(?:in|at|within|involving|affecting|of)\s+(?:the\s+|both\s+)?(?:lung\s+)?"
                           r"(?:bases|lower\s+(?:lung\s+)?(?:zones|lobes|fields))(?:\s+bilaterally)?"),
        ),
    ),
    StandardFinding(
        # a line or tube on the film; "line" alone is short, so the lines of anatomy and signs are look-alikes
        "line or tube",
        keys=("catheter", "central line", "central venous catheter", "line or tube", "support device"),
        head="lines?",
        lookalikes=("pleural", "visceral pleural", "septal", "Kerley B", "Kerley", "B", "fissure", "fissural", "skin",
                    "skin fold", "fold", "air-fluid", "fluid", "tram", "tram-track", "hair", "junction",
                    "anterior junction", "posterior junction", "paraspinal", "paravertebral", "paratracheal",
                    "paraspinous", "azygo-oesophageal", "azygoesophageal", "Mach", "mid", "fracture", "lucent",
                    "sclerotic", "growth", "diaphragmatic", "pericardial", "cardiac", "heart", "in",
                    # a shunt of blood, not a device
                    "left-to-right", "right-to-left", "intracardiac", "portosystemic", "arteriovenous"),
        lookalikes_after=("of", "sign", "shadow", "shadows", "vascularity", "physiology", "fraction"),
        # lines by their other names: an implanted port and a PICC are central lines too
        positive=(r"port[\s-]*a[\s-]*cath", r"(?:chest|venous|implanted|infusion|central\s+venous)\s+port",
                  r"picc(?:\s+line)?", r"peripherally\s+inserted\s+central\s+(?:venous\s+)?catheter",
                  # a line by the vein it enters or by its kind ("left subclavian line", "tunneled dialysis line")
                  r"(?:subclavian|jugular|IJ|femoral|dialysis|hickman|tunnell?ed|arterial|midline)\s+"
                  r"(?:venous\s+|central\s+|access\s+)?lines?"),
        hedge_is_about_type=True,
    ),
)


def _fold(text: str) -> str:
    """Lowercase, hyphens as spaces, British oedema/haem- spellings as American, for comparing names."""
    text = re.sub(r"[\s\-‐–]+", " ", text.lower()).strip()
    return re.sub(r"[ao]e(?!r)", "e", text)


def _contains(text: str, phrase: str) -> bool:
    return re.search(rf"(?<![a-z0-9]){re.escape(_fold(phrase))}(?![a-z0-9])", _fold(text)) is not None


def standard_findings_for(name: str, synonyms: tuple[str, ...] = ()) -> tuple[StandardFinding, ...]:
    """The standard findings whose knowledge applies to an answer-key finding with this name and synonyms."""
    terms = (name, *synonyms)
    matched = []
    for entry in STANDARD_FINDINGS:
        if not any(_contains(term, key) for term in terms for key in entry.keys):
            continue
        if any(_contains(name, word) for word in entry.lookalikes + entry.lookalikes_after):
            continue  # "pericardial effusion" is another finding, though it holds the key word "effusion"
        matched.append(entry)
    return tuple(matched)
