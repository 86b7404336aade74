"""Where and how big: the side, size and site a read attaches to a finding, and how they compare with a key.

A radiologist is marked on where and how big a finding is, not only on what it is: a right effusion reported
as left is a wrong-side error, a classic serious one. This module holds the words for side, size and site, the
comparison of what a read says with what the key says, and (for `concordance`) the reading of those words
around one mention of a finding.

Sides are the patient's: "right", "left" or "bilateral". Sizes: "minimal", "small", "mild", "moderate",
"large", "severe", "borderline"; compared on a coarse scale (minimal, small and mild are one step; large and
severe another), because "mild" and "small" are the same claim about an effusion. Sites are zone and lobe
words ("lower zone", "right upper lobe", "perihilar", "apex", "costophrenic angle"), compared by the zones they
name.

How a read's words are read (`read_attributes`, all tested in tests/test_attributes.py):

- Side: "right", "left", "right-sided", "R"; the image's side, which is the patient's other one ("on the left
  side of the image", "the viewer's right"); "bilateral", "bilaterally", "both lungs", "bibasilar", "biapical";
  "right greater than left", "R > L" and "larger on the right" (a comparison of two sides) are bilateral; a
  plural place with no side ("at the bases", "in the lower lobes", "throughout the lungs"), "basal" or
  "basilar" alone, and a plural effusion or pneumothorax are bilateral. Not a side: a direction ("shift to the
  left", "deviated towards the right"), a heart chamber ("left ventricular"), a view ("left lateral
  decubitus"), a verb ("left in place").
- Size: "trace", "tiny", "minimal" (minimal); "small"; "mild", "slight", "mildly" (mild); "moderate"; "large",
  "extensive"; "severe", "marked", "massive" (severe); "borderline", "upper limits of normal". A range reports
  its larger end ("small to moderate" is moderate), as OpenI's indexers code it and as a resident is fairly
  judged against a key. "Most marked at the bases" is a place, not a size.
- Site: lobe and zone phrases, lingula, apex, base, perihilar and hilar, costophrenic angle, retrocardiac.
- A finding in or on a structure (rib, clavicle, shoulder, hemidiaphragm, breast) is on the structure's side:
  "fracture through the right 8th rib", "eventration of the left hemidiaphragm", "the right 5th rib is
  fractured"; two structures on two sides ("healed right 4th and left 7th rib fractures") or the plural of a
  paired one ("the hemidiaphragms are flattened", "the diaphragm" with no side) make it bilateral. A curve's
  side: "dextroconvex", "levoscoliosis", "rightward". "The image on the left" (which of two films) is no side.
- A range without "to" between two size adjectives ("moderate severe") is a range; an adverb on one ("slightly
  large") is not. "Very low" (lung volumes) is severe; "exaggerated" is severe. A size before a body part and a
  finding ("mild thoracic spine degenerative change", "small T-spine osteophytes") is the finding's.
- Which finding a word describes: each phrase belongs to one head, a finding or a structure with its own side
  (the heart, a hemidiaphragm, a rib): the head it directly precedes ("small right | effusion"), else the
  nearest head before it ("effusion | on the right"), else the first head after it ("In the right lower lobe,
  there is | consolidation"). So "small right effusion and left pneumothorax" gives each its own.
- A finding with no side or site of its own borrows them from another name for the same thing: an
  alternative ("scarring or atelectasis at the left base"), the observation it interprets ("opacity at the
  left base, likely atelectasis"), what it lies beside or comes with ("right effusion with adjacent
  atelectasis"), another item of its list ("left lower lobe consolidation and effusion"), a landmark it lies
  on ("nodule overlying the right 6th rib"), the head whose phrase it is a word of ("calcified | left hilar |
  node"), or the sentence before when it points back ("This may represent atelectasis.", "Adjacent pleural
  thickening."). Only an alternative or an interpretation lends a size.

`concordance` reads these in the mentions that decided a finding's status and combines them with
`combine_attributes`: "No left effusion. Moderate right effusion." is right and moderate; a right and a
left mention make bilateral.

Layer: cases and concordance. May import nothing from the package.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import NamedTuple

__all__ = ["SIDES", "SIZES", "Attributes", "coarse_size", "site_zones", "same_site", "read_attributes",
           "combine_sides", "combine_attributes", "place_before"]

SIDES = ("right", "left", "bilateral")
SIZES = ("minimal", "small", "mild", "moderate", "large", "severe", "borderline")
_COARSE = {"minimal": "small", "small": "small", "mild": "small", "moderate": "moderate", "large": "large",
           "severe": "large", "borderline": "borderline"}

# Site words and the zones they name: a lobe is read as the zone it mostly projects over on a frontal film.
_SITE_ZONES: tuple[tuple[str, frozenset[str]], ...] = (
    (r"apex|apices|apical|biapical", frozenset({"upper"})),
    (r"upper\s+(?:lung\s+)?(?:zones?|lobes?|lungs?|fields?|chest|hemithorax)", frozenset({"upper"})),
    (r"(?:mid|middle)[\s-]*(?:zones?|lungs?)|middle\s+lobe|lingula|lingular", frozenset({"middle"})),
    (r"lower\s+(?:lung\s+)?(?:zones?|lobes?|lungs?|fields?|chest|hemithorax)|bases?|basal|basilar|bibasilar|bibasal|"
     r"costophrenic|"
     r"infrahilar", frozenset({"lower"})),
    (r"perihilar|parahilar|hilar|hila|hilum", frozenset({"hilar"})),
    (r"retrocardiac", frozenset({"lower"})),
)


def coarse_size(size: str) -> str:
    """The size on the coarse scale used to compare sizes: small, moderate, large or borderline ("" for none)."""
    return _COARSE.get(size.strip().lower(), "")


def site_zones(site: str) -> frozenset[str]:
    """The zones (upper, middle, lower, hilar) a site phrase names; empty when it names none."""
    zones: set[str] = set()
    for pattern, named in _SITE_ZONES:
        if re.search(rf"\b(?:{pattern})\b", site, re.IGNORECASE):
            zones |= named
    return frozenset(zones)


def same_site(key_site: str, read_site: str) -> bool:
    """Do a key's site and a read's site name a zone in common (or either name none we can compare)?"""
    key_zones, read_zones = site_zones(key_site), site_zones(read_site)
    if not key_zones or not read_zones:
        return True
    return bool(key_zones & read_zones)


# ---------------------------------------------------------------- reading them around one mention


class Attributes(NamedTuple):
    """What a read attaches to one mention of a finding: side, size and site ("" where it says nothing)."""

    side: str = ""
    size: str = ""
    site: str = ""


_ORDER = {"minimal": 0, "small": 1, "mild": 2, "moderate": 3, "large": 4, "severe": 5}
# Words for a size, and the size they claim. "minor" is left out ("minor fissure"), and so is "significant"
# (mostly "no significant ..."); "grossly" means "broadly" in a report ("grossly clear").
_SIZE_WORDS = {
    "minimal": "minimal", "minimally": "minimal", "trace": "minimal", "tiny": "minimal", "minute": "minimal",
    "small": "small",
    "mild": "mild", "mildly": "mild", "slight": "mild", "slightly": "mild",
    "moderate": "moderate", "moderately": "moderate",
    "large": "large", "big": "large", "extensive": "large", "sizeable": "large", "sizable": "large",
    "substantial": "large", "huge": "large",
    "severe": "severe", "severely": "severe", "marked": "severe", "markedly": "severe", "massive": "severe",
    "massively": "severe",
    "borderline": "borderline",
    # an exaggerated curve, a heavily calcified aorta: indexers and examiners read these as severe
    "exaggerated": "severe", "heavily": "severe", "somewhat": "mild",
}
_SIZE_WORD = "|".join(sorted(_SIZE_WORDS, key=len, reverse=True))
_SIZE_ADJECTIVE = "|".join(sorted((w for w in _SIZE_WORDS if not w.endswith("ly") and w not in ("somewhat", "heavily")),
                                  key=len, reverse=True))
_SIDE = r"(?:right|left)"
# Plural sites name both sides when no side word says otherwise: "at the bases", "in the lower lobes"; so does
# "basal" or "basilar" with no side ("basilar atelectasis" is at both bases).
_PLURAL_SITES = r"lungs|bases|apices|hila|hemithoraces|lobes|zones|fields|angles|sides|recesses|sulci"

# (pattern, kind, value): value "" means the matched words themselves (a site), or a function of the match.
_ITEM_TABLE: tuple[tuple[str, str, str, int], ...] = (
    # "right greater than left", "R > L", "larger on the right than the left": both sides
    (rf"\b{_SIDE}(?:[\s-]+(?:sided|side|lung|base|hemithorax))?\s*(?:(?:much|slightly|somewhat|far)\s+)?"
     r"(?:>|greater\s+than|more\s+than|more\s+so\s+than|larger\s+than|bigger\s+than|worse\s+than|"
     rf"more\s+(?:prominent|extensive|marked|pronounced)\s+than)\s*(?:on\s+)?(?:the\s+)?{_SIDE}\b",
     "side", "bilateral", re.IGNORECASE),
    (rf"\bon\s+the\s+{_SIDE}\s+than\s+(?:on\s+)?the\s+{_SIDE}\b", "side", "bilateral", re.IGNORECASE),
    (r"(?<![A-Za-z0-9./])[RL]\s*>\s*[RL](?![A-Za-z0-9])", "side", "bilateral", 0),
    (r"\b(?:bilateral(?:ly)?|bibasilar|bibasal(?:ly)?|bi-?apical(?:ly)?|bilat|symmetric(?:al)?(?:ly)?)\b", "side",
     "bilateral", re.IGNORECASE),
    (rf"\bboth(?=\s+(?:[a-z-]+\s+){{0,2}}(?:{_PLURAL_SITES}|XXXX)\b|\s+lung\b)|"
     r"\b(?:in|of|within|throughout|across|over|involving)\s+(?:the\s+|both\s+)?lungs\b|"
     r"\b(?:throughout|diffusely)\b(?!\s+(?:the\s+)?(?:right|left|upper|lower|mid|middle))", "side", "bilateral",
     re.IGNORECASE),
    # the image's side is the patient's other side: "on the left side of the image" is in the right lung
    (rf"\b{_SIDE}(?:[\s-]+(?:hand\s+)?side)?\s+of\s+the\s+(?:image|film|radiograph|picture|screen|x-?ray)\b|"
     rf"\b(?:the\s+)?(?:viewer|reader|image|film|screen)(?:['’]s)?\s+{_SIDE}\b", "side", "image", re.IGNORECASE),
    # "larger on the right" compares the two sides: there is something on both
    (rf"\b(?:larger|greater|bigger|worse|more\s+[a-z]+)\s+on\s+the\s+{_SIDE}\b", "side", "bilateral", re.IGNORECASE),
    # a side, but not a verb ("the catheter was left in place"); a heart chamber's side ("left ventricular") goes
    # to the chamber, a head of its own, and so to a finding of the chamber or in it ("tip in the right atrium")
    (rf"\b{_SIDE}(?:[\s-]*sided)?\b"
     r"(?![\s-]*(?:heart\s+failure|in\s+(?:place|situ)|behind|alone|open|"
     r"(?:lateral\s+|anterior\s+|posterior\s+)?(?:decubitus|oblique|view|film|projection|image)))",
     "side", "word", re.IGNORECASE),
    (r"(?<![A-Za-z0-9./])[RL](?=(?:\s+|\s*-\s*)[a-z]{3,})", "side", "letter", 0),  # "R base", not "Large"
    # a curve's or a shift's side: "dextroconvex scoliosis", "levoscoliosis", "rightward deviation"
    (r"\b(?:dextro|levo)(?:[\s-]?(?:convex(?:ity)?|scoliosis|scoliotic|curvature|curve|rotoscoliosis))?\b|"
     r"\b(?:right|left)wards?\b", "side", "turn", re.IGNORECASE),
    # sizes: a range reports its larger end ("small to moderate" is moderate), as indexers code it
    (rf"\b(?:{_SIZE_WORD})(?:[\s-]*(?:to|-|/|or)[\s-]*)(?:{_SIZE_WORD})\b", "size", "range", re.IGNORECASE),
    # ... and without "to" between two adjectives ("moderate severe"), not an adverb on one ("slightly large")
    (rf"\b(?:{_SIZE_ADJECTIVE})\s+(?:{_SIZE_ADJECTIVE})\b", "size", "range", re.IGNORECASE),
    # which of two films, not which side: "the image on the left", "the film on the right"
    (rf"\b(?:image|film|radiograph|picture|panel|x-?ray)\s+on\s+the\s+{_SIDE}\b", "side", "none", re.IGNORECASE),
    (r"\b(?:upper\s+limits?\s+of\s+normal|top[\s-]+(?:of\s+)?normal|high[\s-]+normal)\b", "size", "borderline",
     re.IGNORECASE),
    # "most marked at the bases" says where, not how big
    (rf"(?<!\bmost\s)(?<!\bmore\s)(?<!\bless\s)\b(?:{_SIZE_WORD})\b", "size", "word", re.IGNORECASE),
    # "very low lung volumes": an intensifier on a word that is no size of its own
    (r"\b(?:very|extremely|severely|significantly)\s+(?=(?:low|reduced|diminished|decreased)\b)", "size",
     "severe", re.IGNORECASE),
    # sites: lobes, zones, and the named places of a frontal film
    (r"\b(?:upper|middle|lower|mid)\s+(?:and\s+(?:upper|middle|lower)\s+)?lobes?\b", "site", "", re.IGNORECASE),
    (r"\b(?:upper|middle|lower|mid)[\s-]*(?:lungs?\s+)?(?:zones?|fields?|lungs?|hemithora(?:x|ces)|chest)\b|"
     r"\bmid[\s-]?lung\b|\bmidzone\b", "site", "", re.IGNORECASE),
    (r"\blingula(?:r)?\b", "site", "", re.IGNORECASE),
    (r"\b(?:lung\s+)?bases?\b|\b(?:bi)?basa(?:l|lly)\b|\b(?:bi)?basilar(?:ly)?\b", "site", "", re.IGNORECASE),
    (r"\bapex\b|\bapices\b|\b(?:bi-?)?apical(?:ly)?\b", "site", "", re.IGNORECASE),
    (r"\b(?:peri|para|infra|supra)?hil(?:ar|um|a|us)\b", "site", "", re.IGNORECASE),
    (r"\bcostophrenic(?:\s+(?:angles?|recess(?:es)?|sulc(?:us|i)|XXXX))?\b", "site", "", re.IGNORECASE),
    (r"\bretrocardiac\b", "site", "", re.IGNORECASE),
)
_ITEMS = tuple((re.compile(p, flags), kind, value) for p, kind, value, flags in _ITEM_TABLE)

# Nouns that head a finding or a structure of their own: a side or size word next to one describes it, not the
# finding being read ("small right effusion and left pneumothorax"; "effusion with elevation of the right
# hemidiaphragm"). Places (lobe, zone, base) are not heads: they say where the finding is.
_HEADS = re.compile(
    r"\b(?:effusions?|(?:hydro)?pneumothora(?:x|ces)|atelecta(?:sis|ses|tic)|opacit(?:y|ies)|opacification|"
    r"densit(?:y|ies)|consolidat(?:ion|ions|ive)|infiltrat(?:e|es|ion|ions)|nodules?|mass(?:es)?|"
    r"granulom(?:a|as|ata)|o?edema|congestion|cardiomegaly|scar(?:s|ring)?|fibrosis|fibrotic|thickening|"
    r"calcifications?|fractures?|emphysema|collapse|pneumonia|lesions?|heart|hemidiaphragms?|diaphragm|"
    r"aorta|trachea|mediastinum|catheters?|tubes?|pacemaker|wires?|clips?|bronchiectasis|hernia|"
    r"(?:lymph)?adenopathy|(?:lymph\s+)?nodes?|spine|scoliosis|kyphosis|lordosis|humer(?:us|i)|clavicles?|ribs?|scapula[es]?|shoulders?|"
    r"breasts?|mastectomy|(?:(?:acromioclavicular|glenohumeral|ac)\s+)?joints?|"
    r"ventric(?:les?|ular)|atri(?:um|a|al)|port|picc|stent|sutures?|disease|irregularit(?:y|ies)|bullae?|blebs?|cysts?)\b",
    re.IGNORECASE)

_WORD = re.compile(r"[A-Za-z]+|\d+(?:\.\d+)?|[^\sA-Za-z\d]")
# Words that end a run of modifiers in front of a head: "small right effusion" is one phrase, "right lung
# with an effusion" is not.
_PRE_BREAKS = frozenset("""of in on at with within without from for by over along near into onto throughout
    involving about than and or but however although though whereas while except to as is are was were be been
    has have had there the a an this these that which no not nor seen noted identified appears appear shows show
    demonstrates reveals due since may might could would represent represents representing reflect reflects
    reflecting likely probably possibly suggest suggests suggesting consistent compatible
    concerning suspicious""".split())
# ... and those that end a phrase after a head: "effusion on the right" is one phrase, "effusion with right
# hemidiaphragm elevation" or "effusion and right ..." is not.
_POST_BREAKS = frozenset("""with without and or nor but however although though whereas while except due
    secondary causing than since compared prior previous previously""".split())
_GLUE = frozenset("and or to".split())
_POSITIONS = frozenset("lateral medial posterior anterior upper lower inferior superior".split())
_QUANTITY = frozenset("amount amounts area areas volume degree focus foci region regions patch patches".split())
_MAX_PRE, _MAX_POST = 5, 10


def _items(clause: str) -> list[tuple[int, int, str, str]]:
    """(start, end, kind, value) of every side, size and site phrase in a clause, longest first where they overlap."""
    found = []
    for pattern, kind, how in _ITEMS:
        for match in pattern.finditer(clause):
            value = _value(clause, match, kind, how)
            if value:
                found.append((match.start(), match.end(), kind, value))
    found.sort(key=lambda item: (item[0] - item[1], item[0]))
    kept: list[tuple[int, int, str, str]] = []
    for item in found:
        # a shorter item inside a longer one of the same kind is part of it ("right" in "right greater than left")
        if not any(k[2] == item[2] and k[0] < item[1] and item[0] < k[1] for k in kept):
            kept.append(item)
    return sorted(item for item in kept if item[3] != "none")


def _value(clause: str, match: re.Match[str], kind: str, how: str) -> str:
    """What one matched phrase says: a side, a size, or the site words themselves ("" when it says nothing)."""
    text = match.group().lower()
    if kind == "site":
        return re.sub(r"\s+", " ", text)
    if how == "range":
        ends = [_SIZE_WORDS[w] for w in re.findall(rf"{_SIZE_WORD}", text)]
        return max(ends, key=lambda size: _ORDER.get(size, -1))
    if kind == "size":
        return _SIZE_WORDS.get(text, how)
    if how == "image":  # as seen on the film, the patient's right is on the viewer's left
        return "left" if re.search(r"\bright\b", text) else "right"
    if how == "letter":
        return "right" if text == "r" else "left"
    if how == "none":
        return "none"
    if how == "turn":
        return "right" if text.startswith(("dextro", "right")) else "left"
    if how == "word":
        # "shifted to the left", "convex to the right": a direction, not where the finding is
        if re.search(r"\b(?:shift\w*|deviat\w*|displac\w*|convex\w*|rotat\w*|retract\w*|pull\w*|push\w*|curv\w*|"
                     r"scoliosis)\b[^.;]{0,30}?\bto(?:wards?)?\s+(?:the\s+)?$|\btowards?\s+(?:the\s+)?$",
                     clause[:match.start()], re.IGNORECASE):
            return "toward " + ("right" if text.startswith("right") else "left")
        return "right" if text.startswith("right") else "left"
    return how


def _gap_words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def _joins_forward(gap: str, items_text: set[str]) -> bool:
    """Is the text between an attribute and the next head a run of modifiers ("small right | pleural | effusion")?"""
    words = _gap_words(gap)
    if len([w for w in words if w[0].isalpha()]) > _MAX_PRE:
        return False
    for index, word in enumerate(words):
        following = words[index + 1] if index + 1 < len(words) else ""
        if word in _GLUE and (following in items_text or following in _SIZE_WORDS or following.isdigit()):
            continue  # "right and left", "upper and lower lobe", "right 5th and 6th ribs"
        if word == "of" and index and words[index - 1] in _QUANTITY:
            continue  # "a small amount of fluid", "a small area of atelectasis"
        if word in _PRE_BREAKS or (not word[0].isalnum() and word not in "-/"):
            return False
        if word == "xxxx" and len(words) - index > 2:
            # de-identification hid a word that may end the phrase ("right costophrenic XXXX | XXXX old scar"),
            # though not one just before the head ("large XXXX feeding tube")
            return False
    return True


def _joins_backward(gap: str, items_text: set[str]) -> bool:
    """Is the text between a head and a later attribute one phrase ("effusion | is seen on the | right")?"""
    words = _gap_words(gap)
    if len([w for w in words if w[0].isalpha()]) > _MAX_POST:
        return False
    for index, word in enumerate(words):
        following = words[index + 1] if index + 1 < len(words) else "<the item>"
        if word in _GLUE and (following in items_text or
                              following in ("on", "in", "at", "the", "within", "along", "<the item>")):
            continue  # "on the right and left", "in the right and in the left"
        if word == "and" and following in _POSITIONS and index and words[index - 1] in _POSITIONS:
            continue  # "blunting of the posterior and lateral right costophrenic angle"
        if word in _POST_BREAKS or word == ";":
            return False
    return True


def read_attributes(clause: str, start: int, end: int, others: Sequence[tuple[int, int]] = ()) -> Attributes:
    """The side, size and site a clause attaches to the finding mentioned at clause[start:end].

    others: the spans of other findings mentioned in the same clause. Each side, size or site phrase belongs to
    one head (a finding, or a structure such as the heart or a hemidiaphragm): the head it directly precedes
    ("small right | effusion"), else the nearest head before it in the same phrase ("effusion | on the right"),
    else, when nothing comes before it, the first head after it ("In the right lower lobe, | consolidation").
    Another name for the same thing then lends its side and site (never its size) to a finding that has none:
    an alternative ("scarring or atelectasis at the left base"), the observation a finding interprets ("opacity
    at the right base, likely atelectasis", "opacity at the right base, atelectasis"), what it lies beside or comes
    with ("left effusion with adjacent atelectasis"), and the other items of a list ("left lower lobe consolidation
    and effusion", "consolidation and atelectasis in the right base"). A finding's own side always wins: "small
    right effusion and left pneumothorax" gives each its own.
    """
    if _LANDMARK.fullmatch(clause[start:end]) and _AS_LANDMARK.search(clause[:start]):
        return Attributes()  # "air below the right hemidiaphragm": the structure says where something else is
    spans = [(start, end)] + [(a, b) for a, b in others]
    heads = sorted(set(spans) | {(m.start(), m.end()) for m in _HEADS.finditer(clause)
                                 if not any(a < m.end() and m.start() < b for a, b in spans)})
    items = _items(clause)
    items_text = {w.lower() for s, e, _, _ in items for w in _WORD.findall(clause[s:e])}
    owned: dict[tuple[int, int], list[tuple[int, str, str, str]]] = {head: [] for head in heads}
    for item_start, item_end, kind, value in items:
        owner = _owner(clause, item_start, item_end, heads, items_text, kind)
        if owner:
            owned[owner[0]].append((item_start, kind, value, owner[1]))
    own = _attributes(owned[(start, end)], directions=_SHIFT.search(clause[start:end]) is not None)
    # the words that link two heads, without the places between them ("opacity in the left base, likely ...")
    unplaced = "".join(" " if any(s <= i < e for s, e, _, _ in items) else ch for i, ch in enumerate(clause))
    linked = _same_thing(unplaced, heads, heads.index((start, end)))
    # a heart chamber lends its side only to what lies in it ("tip in the right atrium"), never to a list
    linked = [(head, link) for head, link in linked
              if link == "landmark" or not _CHAMBER.fullmatch(clause[head[0]:head[1]])]
    # a later item of a list lends only what follows it, unless the finding is a word of its phrase: "calcified
    # | right hilar | nodule" (nothing but places and sides between them)
    lent = [(_attributes(owned[head], link == "and" and head[0] > start and
                         not _one_phrase(unplaced[end:head[0]], items_text)), link) for head, link in linked]
    # a finding in or on a structure is on the structure's side; two structures on two sides make it bilateral
    structure = combine_sides(a.side or ("bilateral" if _PAIRED_STRUCTURES.fullmatch(clause[h[0]:h[1]]) else "")
                              for (a, link), (h, _) in zip(lent, linked) if link == "structure")
    # another name for the same thing lends its side before a neighbour in a list does ("left lobe pneumonia and
    # scarring or atelectasis at the right base": the scarring is where the atelectasis is)
    strongest = sorted(lent, key=lambda pair: pair[1] not in ("alternative", "interpretation"))
    side = own.side or structure or next((a.side for a, _ in strongest if a.side), "")
    site = own.site or next((a.site for a, _ in lent if a.site), "")
    # another name for the same thing has its size too ("minimal scarring or atelectasis"); a neighbour has not
    size = own.size or next((a.size for a, link in lent if a.size and link in ("alternative", "interpretation")), "")
    if not side and (_PAIRED_PLURAL.search(clause[start:end]) or _BOTH_LEAVES.fullmatch(clause[start:end])):
        side = "bilateral"  # "small pleural effusions": one in each pleural space; "flattened hemidiaphragms"
    if not side and (_LUNGS_AFTER.match(clause, end) or _LUNGS_BEFORE.search(clause[:start]) or
                     _LUNG_VOLUMES.search(clause[start:end])):
        side = "bilateral"  # a finding of the lungs as a whole: "hyperinflated lungs", "the lungs are hyperlucent"
    return Attributes(side, size, site)


# A paired structure named as the finding with no side: the plural names both, and so does "the diaphragm".
_BOTH_LEAVES = re.compile(r"(?:[a-z]+\s+)*(?:diaphragms?|hemidiaphragms|clavicles|shoulders|humeri|scapulae|breasts|"
                          r"(?:(?:acromioclavicular|glenohumeral|ac)\s+)?joints)", re.IGNORECASE)
# The lungs as the subject of a finding, with no side: both of them.
_LUNGS_AFTER = re.compile(r"[\s-]+(?:[a-z]+\s+)?lungs\b", re.IGNORECASE)
_LUNGS_BEFORE = re.compile(r"\blungs\s+(?:are|appear|remain|look|shows?|demonstrates?)\s+(?:[a-z]+\s+){0,2}$",
                           re.IGNORECASE)
_LUNG_VOLUMES = re.compile(r"\blung\s+volumes\b", re.IGNORECASE)  # "low lung volumes": of both lungs


def _one_phrase(gap: str, items_text: set[str]) -> bool:
    """Does a finding word stand in the same noun phrase as the head after it ("calcified | paratracheal | node")?"""
    words = _gap_words(gap)
    return _joins_forward(gap, items_text) and "and" not in words and "," not in words and len(words) <= 3


# Findings of the two pleural spaces: the plural names both sides.
_PAIRED_PLURAL = re.compile(r"\b(?:effusions|(?:hydro)?pneumothoraces|hydrothoraces)\b", re.IGNORECASE)


def _same_thing(clause: str, heads: list[tuple[int, int]], index: int) -> list[tuple[tuple[int, int], str]]:
    """(head, how it is linked) for the heads that name the same thing as heads[index] or lie beside it.

    Alternatives ("or", "/", "versus") and other items of a list on either side (a later item lends only the
    phrases after it: its own "left" in "and left pneumothorax" is not lent); before it, an observation it
    interprets ("opacity ... compatible with") or lies beside ("effusion with adjacent"); after it, a landmark it
    lies on ("overlying the right 6th rib").
    """
    found: list[tuple[tuple[int, int], str]] = []
    for step in (-1, 1):
        at, how = index, "alternative"
        while 0 <= at + step < len(heads):
            first, second = sorted((heads[at], heads[at + step]))
            link = _link(clause[first[1]:second[0]], clause[second[0]:second[1]], clause[first[0]:first[1]])
            if how == "structure" and link == "and" and _STRUCTURE.fullmatch(clause[second[0]:second[1]] if step == 1
                                                                             else clause[first[0]:first[1]]):
                link = "structure"  # "fractures of the right 5th rib and the left 6th rib": both its structures
            if link == "alternative" or (link in ("interpretation", "beside") and step == -1) or link == "and" or \
                    (link == "landmark" and step == 1) or (link == "landmark before" and step == -1) or \
                    (link == "structure" and step == 1) or (link == "structure before" and step == -1):
                link = {"landmark before": "landmark", "structure before": "structure"}.get(link, link)
                # a chain is as weak as its weakest link: alternative > structure > interpretation > beside > and
                how = min(how, link, key=("and", "landmark", "beside", "interpretation", "structure",
                                          "alternative").index)
            else:
                break
            at += step
            found.append((heads[at], how))
    return sorted(found, key=lambda pair: abs(pair[0][0] - heads[index][0]))


# "nodules, most of which are calcified": the later finding describes the earlier ones
_OF_WHICH = re.compile(r",\s*(?:some|most|many|all|several|few|one|two|none)\s+of\s+(?:which|these|them)\b",
                       re.IGNORECASE)
_ALTERNATIVE = frozenset("or versus vs / either".split())
_INTERPRETS = frozenset("""compatible consistent keeping represent represents representing reflect reflects reflecting
    likely probably probable possibly possible suggest suggests suggesting suggestive suspicious concerning favor
    favour favoring favouring due secondary related attributable typical characteristic indicative""".split())
# Words that only carry a place between two heads: "opacity | in the lateral left lung base, | atelectasis".
_PLACE_WORDS = frozenset("""in at on the of within along over involving throughout lung lungs lobe zone side region
    portion segment lateral medial posterior anterior""".split())
# Words a list item may carry before its head without a place of its own ("infiltrate and focal atelectasis").
_LIST_WORDS = frozenset("a an some patchy focal streaky subsegmental early residual associated also".split())
_LIST_GLUE = frozenset("and , a an the some".split())
_LANDMARK = re.compile(r"ribs?|clavicles?|(?:hemi)?diaphragms?|heart|breasts?|shoulders?|scapula[es]?|humer(?:us|i)|"
                       r"ventric(?:les?|ular)|atri(?:um|a|al)", re.IGNORECASE)
# ... named only to place something else: "free air below the right hemidiaphragm", "adjacent to the left hilum"
_AS_LANDMARK = re.compile(r"\b(?:below|beneath|under|underneath|above|overlying|adjacent\s+to|abutting|near)\s+"
                          r"(?:the\s+)?(?:(?:right|left)\s+)?(?:[a-z]+\s+)?$", re.IGNORECASE)
# A line's tip lies in a heart chamber: "catheter tip in the right atrium" is coded on the chamber's side
_CHAMBER = re.compile(r"ventric(?:les?|ular)|atri(?:um|a|al)", re.IGNORECASE)
_TIP = re.compile(r"\btips?\b", re.IGNORECASE)
# ... and the words from a side to the chamber it names ("right | upper pumping chamber", "left | ventricle")
_CHAMBER_NEXT = re.compile(r"(?:[\s-]+(?:upper|lower|top|bottom|pumping|main|heart|sided))*[\s-]+"
                           r"(?:ventric(?:les?|ular)|atri(?:um|a|al)|chambers?)\b", re.IGNORECASE)
# Structures with a side of their own: a finding in or on one is on its side ("fracture through the right 8th
# rib", "eventration of the right hemidiaphragm", "right 6th rib is fractured").
_STRUCTURE = re.compile(r"ribs?|clavicles?|(?:hemi)?diaphragms?|shoulders?|humer(?:us|i)|scapula[es]?|breasts?|"
                        r"(?:(?:acromioclavicular|glenohumeral|ac|shoulder)\s+)?joints?", re.IGNORECASE)
# Body parts a size word may stand before while it describes the finding after them ("small T-spine osteophytes")
_BODY_PART = re.compile(rf"(?:{_STRUCTURE.pattern})|spine|aorta|trachea|mediastinum", re.IGNORECASE)
# ... the plural of a paired one, with no side, names both ("flattening of the hemidiaphragms")
_PAIRED_STRUCTURES = re.compile(r"(?:hemi)?diaphragms|clavicles|shoulders|humeri|scapulae|breasts|"
                                r"(?:(?:acromioclavicular|glenohumeral|ac|shoulder)\s+)?joints", re.IGNORECASE)
# Words between a finding and the structure it lies in ("fracture | of the lateral 8th | rib")
_INTO_STRUCTURE = frozenset("""of through in at on along within involving affecting across crosses crossing the a an
    both multiple several two three adjacent lateral medial posterior anterior posterolateral anterolateral
    posteromedial distal proximal mid upper lower inferior superior aspect portion shaft neck head end one third
    to and , - th st nd rd is are present dislocation seen noted visible deformity deformities line lines : * first
    second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth""".split())
# ... and between a structure and a finding that follows it ("right 7th rib | contour | deformity", "right
# hemidiaphragm | remains | elevated")
_FROM_STRUCTURE = frozenset("""contour cortical old healed healing remote chronic acute new is are was were remains
    from previous prior remain appears appear again still mildly slightly moderately markedly minimally""".split())
_LOCATIVE = re.compile(r"\b(?:overlying|over|projecting|projected|adjacent|near|along|abutting|behind|beneath|"
                       r"below|above|obscuring|region)\b", re.IGNORECASE)
_PASSIVE_LOCATIVE = re.compile(r"\b(?:obscured|effaced|silhouetted|blunted|obliterated|hidden|masked)\s+by\b",
                               re.IGNORECASE)
_SAID_AS = frozenset("a an most more thought felt to be".split())
_BESIDE = frozenset("adjacent associated underlying accompanying surrounding".split())
_GROUND = frozenset("superimposed superimposing background".split())


def _link(gap: str, second: str = "", first: str = "") -> str:
    """How the text between two heads joins them: "alternative" ("or"), "interpretation" ("likely"), "beside"
    ("with adjacent"), "landmark" ("nodule overlying the right 6th rib": the second head says where the first
    is), "and" (a list), or "" (no link)."""
    words_in_gap = [w.lower() for w in _gap_words(gap)]
    if _STRUCTURE.fullmatch(second) and all(w in _INTO_STRUCTURE or w.isdigit() for w in words_in_gap):
        return "structure"
    if _STRUCTURE.fullmatch(first) and all(w in _FROM_STRUCTURE or w in _INTO_STRUCTURE - {"of", "and", ","}
                                           for w in words_in_gap) and words_in_gap[:1] != ["-"]:
        return "structure before"
    if _LANDMARK.fullmatch(second) and (_LOCATIVE.search(gap) or (_CHAMBER.fullmatch(second) and _TIP.search(gap))):
        return "landmark"
    if second.lower() == "mediastinum" and words_in_gap and \
            set(words_in_gap) <= {"in", "within", "at", "the", "of", "over", "region", "is", "are", "seen", "noted"}:
        return "landmark"  # "surgical clips in the left mediastinum": a side of an unpaired place is where it lies
    if _LANDMARK.fullmatch(first) and _PASSIVE_LOCATIVE.search(gap):
        return "landmark before"  # "the right hemidiaphragm is obscured by an effusion"
    words = [w for w in _gap_words(gap) if w not in _PLACE_WORDS]
    if _GROUND & set(words):
        return ""  # "right lower lobe pneumonia superimposed on emphysema": the ground it lies on is no neighbour
    interprets = any(w in _INTERPRETS for w in words) or _OF_WHICH.search(gap) is not None or (
        # de-identification hides the hedge ("band at the base XXXX atelectasis", "shadows, XXXX
        # scarring"), though a lone one may hide an adjective ("calcified XXXX opacity")
        "xxxx" in words and len(words) > 1) or (
        # "thickening at the left apex is (probably) scarring": the one named as the other
        words[:1] in (["is"], ["are"]) and all(w in _INTERPRETS | _SAID_AS for w in words[1:]))
    beside = any(w in _BESIDE for w in words)
    if len([w for w in words if w[0].isalpha()]) > 8 or ";" in words or "without" in words:
        return ""
    if any(w in _ALTERNATIVE for w in words) and len(words) <= 5:
        return "alternative"
    if interprets or (words[:1] == [","] and len(words) == 2 and words[1] not in _PRE_BREAKS | _LIST_WORDS):
        return "interpretation"  # "opacity at the left base, probably atelectasis"
    if beside or "with" in words:
        return "beside"
    if second and len(words) <= 2 and all(w.isalpha() and w not in _PRE_BREAKS | _POST_BREAKS for w in words):
        return "and"  # one noun phrase: "calcified | paratracheal | node"
    if not words or ({"and", ","} & set(words) and len(words) <= 4 and
                     not any(w in _PRE_BREAKS | _POST_BREAKS for w in words if w not in _LIST_GLUE)):
        return "and"  # "consolidation and atelectasis", "infiltrate and patchy atelectasis", "infiltrates atelectasis"
    return ""


# After a comma, a side with a subject and a predicate of its own ("..., left lung clear") describes that subject.
_OWN_STATEMENT = re.compile(
    r"(?:[\s-]+sided)?\s+(?:[a-z-]+\s+){1,3}?(?:is|are|was|were|appears?|remains?|looks?|clear|normal|unremarkable|"
    r"sharp|preserved|intact|(?:well[\s-]+)?expanded|free|negative)\b", re.IGNORECASE)


def _owner(clause: str, item_start: int, item_end: int, heads: list[tuple[int, int]],
           items_text: set[str], kind: str = "") -> tuple[tuple[int, int], str] | None:
    """(the head one attribute phrase belongs to, "before" or "after" it), by the rules in read_attributes."""
    inside = next((h for h in heads if h[0] <= item_start and item_end <= h[1]), None)
    if inside:
        return inside, "after"  # "heart is mildly enlarged", a case's own "right perihilar mass"
    overlapping = next((h for h in heads if h[0] < item_end and item_start < h[1]), None)
    if overlapping:
        return overlapping, "before"  # one word, two roles: "dextro curvature" is a side and the finding
    following = next((h for h in heads if h[0] >= item_end), None)
    previous = next((h for h in reversed(heads) if h[1] <= item_start), None)
    after = next((h for h in heads if following and h[0] >= following[1]), None)
    if kind == "size" and following and after and _BODY_PART.fullmatch(clause[following[0]:following[1]]) and \
            _joins_forward(clause[item_end:following[0]], items_text) and \
            len(_gap_words(clause[following[1]:after[0]])) <= 2 and \
            _joins_forward(clause[following[1]:after[0]], items_text):
        # a size before a compound is the finding's: "mild | thoracic spine | degenerative change"
        return after, "before"
    if following and _joins_forward(clause[item_end:following[0]], items_text):
        return following, "before"
    if following and not previous and _place_with(clause[item_end:following[0]], items_text):
        return following, "before"
    if previous:
        gap = clause[previous[1]:item_start]
        if "," in gap and _OWN_STATEMENT.match(clause, item_end):
            return None  # "effusion on the right, left lung clear": the side starts a statement of its own
        return (previous, "after") if _joins_backward(gap, items_text) else None
    if following and _joins_backward(clause[item_end:following[0]], items_text):
        return following, "before"
    return None


# The words of a place a finding is "with": "the left upper lobe with scarring", "a XXXX on the right chest wall with
# its catheter"
_PLACE_NOUNS = _PLACE_WORDS | frozenset("chest wall hemithorax upper lower mid middle base apex xxxx".split())


def _place_with(gap: str, items_text: set[str]) -> bool:
    """Does a place phrase lead through "with" to the finding after it ("left upper lobe | with | scarring")?"""
    words = _gap_words(gap)
    if "with" not in words:
        return False
    at = words.index("with")
    after = [w for w in words[at + 1:] if w not in ("the", "a", "an")]
    return all(w in _PLACE_NOUNS or w in items_text for w in words[:at]) and words[at - 1:at] != ["along"] and \
        len(after) <= 3 and _joins_forward(" ".join(after), items_text)


def _attributes(found: Iterable[tuple[int, str, str, str]], after_only: bool = False,
                directions: bool = False) -> Attributes:
    """One head's attributes from its phrases: sides combine, the first size counts, sites are listed.

    directions: a shift's direction is its side ("the mediastinum is shifted to the left"); for anything else a
    direction says nothing of where it is.
    """
    found = sorted(item for item in found if not after_only or item[3] == "after")
    sides = {value.removeprefix("toward ") for _, kind, value, _ in found
             if kind == "side" and (directions or not value.startswith("toward "))}
    sizes = [value for _, kind, value, _ in found if kind == "size"]
    sites = list(dict.fromkeys(value for _, kind, value, _ in found if kind == "site"))
    side = combine_sides(sides)
    if not side and any(re.search(rf"\b(?:{_PLURAL_SITES}|basilar|basal)\b", site) for site in sites):
        side = "bilateral"
    if not side:  # a lobe only one lung has: the lingula is in the left lung, the middle lobe in the right
        side = combine_sides(one for site in sites for pattern, one in _ONE_SIDED if re.search(pattern, site))
    return Attributes(side, sizes[0] if sizes else "", ", ".join(sites))


# A finding that is itself a movement or a curve: its direction is its side
_SHIFT = re.compile(r"shift|deviat|displac|rotat|scolio|curv", re.IGNORECASE)
# Lobes only one lung has
_ONE_SIDED = ((r"\blingula", "left"), (r"\bmiddle\s+lobe\b", "right"))
# A sentence that points back to the place just named: "This may be atelectasis.", "Adjacent pleural thickening."

_ANAPHORA = re.compile(r"^\W*(?:the\s+appearances?|appearances?|this|these|it|they|the\s+findings?|findings?|"
                       r"(?:there\s+is\s+|with\s+)?(?:an?\s+)?(?:adjacent|nearby|accompanying|associated|"
                       r"surrounding)|(?:the\s+)?same\s+(?:side|area|region|place))\b", re.IGNORECASE)


def place_before(sentence: str, previous: str) -> Attributes:
    """The side and site a sentence that points back ("This may represent atelectasis.") takes from the one before."""
    if not _ANAPHORA.match(sentence):
        return Attributes()
    items = _items(previous)
    # a heart chamber's side places a line's tip, not what the sentence points back to
    sides = [value for _, end, kind, value in items if kind == "side" and not value.startswith("toward ")
             and not _CHAMBER_NEXT.match(previous, end)]
    sites = list(dict.fromkeys(value for _, _, kind, value in items if kind == "site"))
    return Attributes(combine_sides(sides), "", ", ".join(sites))


def combine_sides(sides: Iterable[str]) -> str:
    """One side from several: right and left (or bilateral) make bilateral; none is ""."""
    named = {s for s in sides if s}
    if not named:
        return ""
    if len(named) == 1:
        return named.pop()
    return "bilateral"


def combine_attributes(found: Iterable[Attributes]) -> Attributes:
    """The attributes of a finding from every mention that decided its status, in reading order."""
    found = list(found)
    sizes = [a.size for a in found if a.size]
    sites = list(dict.fromkeys(part for a in found for part in a.site.split(", ") if part))
    side = combine_sides(a.side for a in found)
    if not side and any(_HIDDEN_PAIR.search(site) for site in sites):
        side = "bilateral"
    return Attributes(side, sizes[0] if sizes else "", ", ".join(sites))


# A de-identified report hides the noun of a paired place ("blunting of the costophrenic XXXX"). One angle is
# named with its side, so when no mention of the finding gives a side (none of its own, none lent) it means both.
_HIDDEN_PAIR = re.compile(r"\bcostophrenic xxxx\b")
