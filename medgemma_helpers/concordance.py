"""Concordance: does a read agree with the answer key, finding by finding?

`check_findings(text, case)` looks for every answer-key finding (its name and synonyms, and for the
standard chest findings what `chest_findings` knows of them) in a read and decides, per mention, whether
the text asserts it (present), denies it (absent), hedges (uncertain) or never names it (not_mentioned).
It is a teaching aid that shows its evidence, not a validated NLP system: the table puts the deciding
sentence next to every verdict so a resident can check the checker.

How it reads. A compact ConText-style scan (Harkema et al. 2009): cue phrases with a direction ("no"
looks forward, "is not seen" looks back), whose scope runs to a termination point. The termination
points are where radiology sentences really end a scope: a clause boundary (";", "but", "however",
"which", "who", "secondary to" ...), a verb after the cue's noun phrase ("no effusion is seen and a
pneumothorax is present"), a comma that opens a new described phrase ("no pneumothorax, small left
effusion") unless the list goes on to an "or" ("no consolidation, large effusion, or pneumothorax"),
a colon, a dash, or a ")" that closes no parenthesis opened inside the scope: the end of the one the cue
stands in, or a list number ("1) no effusion 2) small pneumothorax"). A hedge on a reasoning noun runs through
its verb ("a possible cause of this is pneumonia, tumour or heart failure": all three hedged); an
opinion verb's negation runs to the clause end ("I do not believe the patient is having an infarct").

Why hand-written rules and not a library. medspacy 1.3.1 (ConText) and negspacy 1.1.0 were measured on
the same evaluation corpora (November 2026, Python 3.11, fresh venvs): medspacy pins spacy < 3.8 and so
numpy < 2 on Python < 3.12 and installs 281 MB; negspacy 333 MB, negation only. Both scored below these
rules on clinical sentences (NegEx kit negation F1 0.904 and 0.938) and on chest X-ray reports (OpenI
accuracy of "present" 0.966 and 0.951, precision 0.80 and 0.73), and would need our rules on top for
hedging, label lines and normal statements anyway. The rules stay here, readable and testable.

Decisions a teacher should know (all tested in tests/test_concordance.py):

- "likely", "probable", "consistent with", "in keeping with", "most suggestive of" count as present: the
  read commits to the finding. Radiology certainty scales put "likely" around 75 % and "consistent with"
  above 90 %; the answer key is binary, so committed-but-hedged reads are scored as claims. "possible",
  "may", "could", "suggestive of", "suspicious for", "concerning for", "questionable", "cannot exclude",
  "difficult to exclude", "borderline", "less likely", "versus" and a differential list are uncertain.
  "unlikely", "doubtful" and "low suspicion for" count as absent, by the same logic, and so does a
  negated hedge ("no findings to suggest pneumonia").
- "if", "evaluate for", "to exclude", "rule out" (a request, not "ruled out"), "correlate for" and a
  question with no yes/no answer are hypothetical: they name a finding without claiming it. They are the
  weakest mention and report as uncertain only when nothing else names the finding.
- A label line such as "Pleural effusion: none" or "| Cardiomegaly | Absent |" is decided by the value
  after the colon, where "none", "normal", "clear", "unremarkable" and "nil" mean absent.
- A normal statement that never names the finding ("the heart size is within normal limits") denies it,
  from the case file's `absent_when` and from the built-in chest knowledge; it is the weakest denial.
- A term of one finding inside another's name is not that finding: "pericardial effusion" is not a
  pleural effusion, "mass effect" is not a mass.

The combining rule for several mentions of one finding: present > uncertain > absent > hypothetical.
A positive statement anywhere is a claim ("no left effusion; small right effusion" -> present:
negations are often about one site). A hedge anywhere means the read did not commit to absence
("No pneumothorax. A tiny apical pneumothorax cannot be excluded." -> uncertain). Absent needs every
asserting mention to be negated. The evidence shown is the first sentence with the winning status.

Where and how big. For each finding the side, size and site the read attaches to it come from the
mentions that decided its status (rules in `attributes`): a denied "no left effusion" gives no side to a
present right effusion, and a right and a left mention make bilateral. A device's hedge is about its type,
not its presence ("possibly a VP shunt" asserts a device).

Scoring. A finding agrees when the read's status equals the key's (on a subtle finding, a hedge agrees too),
and never on the wrong side: a present finding on the other side, bilateral for a one-sided key, or one side
for a bilateral key. A size or site unlike the key's, or a one-sided finding's side left out, still agrees and
is flagged. A read need not list every absent finding: an absent finding the case marks as not pertinent,
which the read never mentions, is neither right nor wrong and leaves the score's total; an unmentioned
present finding or pertinent negative is a miss.

Layer: cases and concordance. May import: asking (the thinking split), attributes, cases, chest_findings.
"""

from __future__ import annotations

import functools
import html
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, Union

from .asking import split_thinking
from .attributes import Attributes, coarse_size, combine_attributes, place_before, read_attributes, same_site
from .cases import AnswerKey, Case, ReferenceFinding, canonical_modality, load_case
from .chest_findings import StandardFinding, standard_findings_for

CaseLike = Union[Case, AnswerKey, Sequence[ReferenceFinding]]

__all__ = [
    "FindingCheck", "STATUSES", "check_findings", "concordance_score", "concordance_table_html",
    "ErrorTally", "VERDICT_COLOURS", "concordance_lines", "error_kind", "error_tally", "unstated_negatives",
    "unstated_negatives_line", "verdict",
]

STATUSES = ("present", "absent", "uncertain", "not_mentioned")
_HYPOTHETICAL = "hypothetical"  # internal only; reported as "uncertain"
_RANK = {"present": 4, "uncertain": 3, "absent": 2, _HYPOTHETICAL: 1}


@dataclass(frozen=True)
class FindingCheck:
    """One answer-key finding and what a read said about it: status, and the side, size and site it gave."""

    finding: str
    status: str
    expected: str = ""
    evidence: str = ""
    pertinent: bool = True  # False: an absent finding a careful read need not state
    # What the read attaches to the finding in the mention that decided the status ("" where it says nothing) ...
    side: str = ""
    size: str = ""
    site: str = ""
    # ... and what the key says, to compare with
    key_side: str = ""
    key_size: str = ""
    key_site: str = ""
    subtle: bool = False  # the key calls the finding subtle: a hedged read agrees
    kind: str = "finding"  # "impression" or "next step": checked, but scored apart from the findings

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"FindingCheck status {self.status!r} must be one of {', '.join(STATUSES)}.")

    @property
    def scored(self) -> bool:
        """False for a non-pertinent absent finding the read never mentions: neither right nor wrong."""
        return not (self.expected == "absent" and not self.pertinent and self.status == "not_mentioned")

    @property
    def wrong_side(self) -> bool:
        """True when the read places a finding the key has on one side (or both) on another side."""
        return (self.expected == "present" and self.status in ("present", "uncertain")
                and bool(self.side) and bool(self.key_side) and self.side != self.key_side)

    @property
    def hedge_accepted(self) -> bool:
        """True when the key calls the finding subtle and the read hedges it: accepted as agreeing."""
        return self.subtle and self.expected == "present" and self.status == "uncertain"

    @property
    def agrees(self) -> bool:
        """True when the read's status equals the key's on the right side (a hedge agrees only on a subtle finding)."""
        if self.wrong_side:
            return False
        return (self.status in ("present", "absent") and self.status == self.expected) or self.hedge_accepted

    @property
    def flags(self) -> tuple[str, ...]:
        """Differences that still agree: a size or site unlike the key's, a one-sided finding's side left out."""
        if self.expected != "present" or self.status not in ("present", "uncertain") or self.wrong_side:
            return ()
        flags = []
        if self.key_side in ("right", "left") and not self.side:
            flags.append("side not stated")
        if self.size and self.key_size and coarse_size(self.size) != coarse_size(self.key_size):
            flags.append(f"key {self.key_size}, read {self.size}")
        if self.site and self.key_site and not same_site(self.key_site, self.site):
            flags.append(f"key {self.key_site}, read {self.site}")
        return tuple(flags)


class _HasText(Protocol):
    text: str


# ---------------------------------------------------------------- cue lexicon

_NOT = r"(?:\bnot\b|n['’]t\b)"
_BE = r"(?:is|are|was|were|has\s+been|have\s+been|had\s+been|does|do|did|has|have|had)"
_SEEN = (r"(?:seen|identified|present|visuali[sz]ed|demonstrated|evident|appreciated|detected|visible|"
         r"apparent|noted|observed|found|shown|depicted|delineated)")
_ADV = (r"(?:(?:clearly|definitely|convincingly|well|confidently|entirely|completely|fully|reliably|readily)"
        r"[\s-]+)?")
_CANNOT = r"(?:cannot|can\s+not|can['’]t|could\s+not|couldn['’]t)"
_RULE_OUT = r"(?:exclude|rule[\s-]+out)"
_SUGGEST = (r"(?:suggestive\s+of|suggests?|suggesting|suspicious\s+(?:for|of)|concerning\s+for|concern\s+(?:is\s+)?for|"
            r"worrisome\s+for|indicative\s+of)")
_REASONING = (r"(?:causes?|explanations?|etiolog(?:y|ies)|aetiolog(?:y|ies)|diagnos[ie]s|considerations?|"
              r"possibilit(?:y|ies))")

# (pattern, kind, direction, reach). kind: absent / uncertain / suggest (uncertain, but a negation before it
# wins: "no findings to suggest") / hypothetical / pseudo (a cue word that means neither: "no change in").
# reach of a forward cue: phrase (the usual termination rules), clause (to the clause end), adjacent (the next
# noun phrase only: "resolved effusion"), list (commas and the verb of a list never end it). Longer matches win.
_CUE_TABLE: list[tuple[str, str, str, str]] = [
    # pseudo-cues first, so "no change in" is not read as "no"
    (r"\bno\s+(?:(?:significant|interval|appreciable|substantial|definite|major)\s+)*(?:change|increase|decrease|"
     r"progression|improvement|worsening)\b", "pseudo", "forward", "phrase"),
    (r"\bwithout\s+(?:(?:significant|interval|appreciable|substantial)\s+)*change\b", "pseudo", "forward", "phrase"),
    (r"\bnot\s+only\b", "pseudo", "forward", "phrase"),
    # a limit of the film, not a search: "limited evaluation of the spine ..., fracture deformities"
    (r"\blimited\s+(?:evaluation|assessment)\s+(?:of|for)\b", "pseudo", "forward", "phrase"),
    (r"\bgram[\s-]*negative\b", "pseudo", "forward", "phrase"),
    (r"\bwith\s*(?:and|or|/)\s*without\b", "pseudo", "forward", "phrase"),
    (r"\bwithout\s+(?:(?:iv|intravenous|oral)\s+)?contrast\b", "pseudo", "forward", "phrase"),
    (r"\bwithout\s+(?:any\s+)?difficulty\b", "pseudo", "forward", "phrase"),
    (rf"\b(?:do|does|did)\s+{_NOT}\s+know\b", "pseudo", "forward", "phrase"),
    (r"\bno\s+(?:(?:specific|clear|obvious|definite|known|other)\s+)?(?:diagnosis|cause|explanation|etiology|"
     r"aetiology)\s+(?:for|of)\b", "pseudo", "forward", "phrase"),
    (r"\b(?:most|strongly|highly|very)\s+(?:suggestive\s+of|suspicious\s+(?:for|of)|concerning\s+for|"
     r"worrisome\s+for|compatible\s+with|consistent\s+with|likely)\b", "pseudo", "forward", "phrase"),
    # uncertainty that contains a negation word: must out-length the plain negations
    (rf"(?:{_CANNOT}|\bunable\s+to|\bdifficult\s+to|\bhard\s+to|\bnot\s+possible\s+to|\bimpossible\s+to)\s+"
     rf"{_ADV}{_RULE_OUT}\b", "uncertain", "forward", "phrase"),
    (rf"(?:\b(?:is|are|remains?)\s+)?(?:\bdifficult|\bhard|\bimpossible|\bnot\s+possible)\s+to\s+{_ADV}{_RULE_OUT}\b",
     "uncertain", "backward", "phrase"),
    (rf"{_CANNOT}\s+(?:be\s+)?{_ADV}(?:excluded|ruled[\s-]+out)\b", "uncertain", "backward", "phrase"),
    (rf"(?:{_BE}\s+)?{_NOT}\s+(?:be(?:en)?\s+)?{_ADV}(?:excluded|ruled[\s-]+out)\b", "uncertain", "backward", "phrase"),
    (r",?\s*\bif\s+any\b", "uncertain", "backward", "phrase"),  # the comma is part of it: "small effusion, if any"
    (r"\b(?:not\s+(?:certain|sure)|unclear|uncertain)\s+(?:whether|if)\b", "uncertain", "forward", "clause"),
    # negation, forward
    (r"\bno\b(?![\s.!:,|]*$)", "absent", "forward", "phrase"),
    (rf"{_NOT}", "absent", "forward", "phrase"),
    # an opinion denied covers the whole clause: "I do not believe the patient is having an infarct"
    (rf"{_NOT}\s+(?:believe|think|feel|suspect|consider)\b", "absent", "forward", "clause"),
    (r"\b(?:without|w/o|neither|nor|absence\s+of|free\s+of|clear\s+of|negative\s+for|resolution\s+of|"
     r"no\s+longer|lack\s+of|removal\s+of)\b", "absent", "forward", "phrase"),
    (r"(?<![\w-])-ve\s+for\b", "absent", "forward", "phrase"),
    (r"\bden(?:y|ies|ied|ying)\b", "absent", "forward", "phrase"),
    (r"\bnone\b(?![\s.!:,|]*$)", "absent", "forward", "phrase"),
    (rf"\bnothing\s+(?:to\s+)?{_SUGGEST}", "absent", "forward", "phrase"),
    (r"\blow\s+(?:(?:clinical|pre-?test)\s+)?(?:suspicion|probability|likelihood)\s+(?:for|of)\b",
     "absent", "forward", "phrase"),
    (r"\b(?:unlikely|not\s+likely)\s+to\s+(?:represent|be|reflect)\b", "absent", "forward", "phrase"),
    (r"\b(?:resolved|cleared)\b", "absent", "forward", "adjacent"),  # "resolved interstitial oedema", "cleared ..."
    (r"\b(?:clearing|resolution)\s+of\b", "absent", "forward", "phrase"),  # "clearing of left base airspace disease"
    # negation, backward ("effusion is not seen", "pneumothorax: none", "effusion has resolved")
    (rf"(?:{_BE}\s+)?{_NOT}\s+(?:be(?:en)?\s+)?{_ADV}{_SEEN}\b", "absent", "backward", "phrase"),
    (rf"(?:{_BE}\s+)?no\s+longer\s+(?:be\s+)?{_ADV}{_SEEN}\b", "absent", "backward", "phrase"),
    # ... not a part of it ("has cleared quite a bit", "partly resolved"): what is left is still there
    (r"(?:\b(?:is|are|was|were|has\s+been|have\s+been|has|have)\s+)?(?<!partly\s)(?<!partially\s)\b(?:absent|ruled\s+out|"
     r"excluded|resolved|cleared|unlikely|doubtful|improbable)\b(?!\s+(?:up\s+)?(?:quite\s+)?(?:a\s+(?:bit|little|lot)|"
     r"somewhat|partly|partially|slightly|in\s+part|some|a\s+fair\s+amount)\b)", "absent", "backward", "phrase"),
    # ... and as people say it: "the fluid around your lungs is gone", "has disappeared", "has cleared up"
    # (a tube that "has gone down past the diaphragm" went somewhere: it is there)
    (r"\b(?:is|are|has|have)\s+(?:(?:now|since|completely|entirely|all)\s+){0,2}(?:gone(?:\s+away)?(?!\s+(?:down|up|in|"
     r"into|through|past|across|along|over|under|beyond|back|further|to|towards?|from|round|around)\b)|disappeared|"
     r"cleared\s+up|vanished)\b", "absent", "backward", "phrase"),
    # a device taken out is no longer there ("the line has been removed", "the tube has been taken out");
    # "found and removed" was there
    (r"\b(?:has|have|had)\s+(?:since\s+|now\s+|subsequently\s+)?been\s+(?:removed|taken\s+out|pulled\s+out)\b",
     "absent", "backward", "phrase"),
    # ... and a device someone took out: "we took your chest drain out", "they took out the chest tube"
    (r"\b(?:took|take|takes|taking|pulled|removed)\s+(?:out\s+)?(?:your|the|his|her|their)\s+(?=(?:[a-z-]+\s+){0,3}"
     r"(?:drains?|tubes?|lines?|catheters?|ports?|pacemakers?)\b)", "absent", "forward", "phrase"),
    (r"\b(?:none|no|negative)\b(?=[\s.!:,|]*$)", "absent", "backward", "phrase"),
    # uncertainty, forward
    # not the month ("May 03") nor a name ("borderline personality disorder"); a finding of unknown age is there
    # ("an age-indeterminate fracture", "of indeterminate age"): only its age is in doubt
    (r"\b(?:possible|possibly|perhaps|maybe|may(?!\s+\d)|might|could|questionable|question(?:\s+of)?|query|"
     r"suspected|suspicion\s+(?:of|for)|(?<!\bnot\s)suspect(?:s|ing)?(?:\s+that)?|equivocal|(?<!\bage[\s-])indeterminate(?![\s-]+(?:age|chronicity|acuity)\b)|"
     r"uncertain|borderline(?!\s+personality)|"
     r"less\s+likely|possibility\s+of|raises\s+the\s+possibility\s+of|versus|vs\.?)(?!\w)",
     "uncertain", "forward", "phrase"),
    (rf"\b{_SUGGEST}(?!\w)", "suggest", "forward", "phrase"),
    # a differential list hedges every item in it
    (r"\b(?:differential(?:\s+(?:diagnosis|diagnoses|considerations?))?|considerations?)\s+(?:would\s+)?"
     r"(?:includes?|including|of|is|are)\b", "uncertain", "forward", "list"),
    # ... also with no verb: "primary differential diagnosis atypical infection and inflammation"
    (r"\bdifferential\s+(?:diagnosis|diagnoses)\b(?!\s+(?:would\s+)?(?:includes?|including|of|is|are)\b)",
     "uncertain", "forward", "list"),
    (r"\?(?=[A-Za-z])", "uncertain", "forward", "phrase"),  # "?consolidation", UK shorthand for query
    # uncertainty, backward ("effusion is possible", "effusion may be present", "is in the differential")
    (r"(?:\b(?:is|are)\s+)?\b(?:possible|suspected|questionable|equivocal|uncertain|not\s+certain|less\s+likely)\b"
     r"(?=[\s.!:,|]*$)", "uncertain", "backward", "phrase"),
    (r"\b(?:is|are|remains?|would\s+be)\s+(?:also\s+)?(?:a\s+|an\s+)?(?:possibility|consideration|concern)\b",
     "uncertain", "backward", "phrase"),
    (r"\b(?:is|are|remains?)\s+(?:also\s+)?(?:in|on)\s+the\s+differential(?:\s+diagnosis)?\b",
     "uncertain", "backward", "phrase"),
    (rf"\b(?:may|might|could)\s+(?:also\s+)?(?:be\s+)?{_SEEN}\b", "uncertain", "backward", "phrase"),
    (r"\b(?:versus|vs\.?)(?!\w)", "uncertain", "backward", "phrase"),
    # hypothetical: named, not claimed
    (r"\b(?:if|evaluate\s+for|evaluation\s+(?:for|of)|assess\s+for|assessment\s+for|to\s+exclude|exclude|"
     r"to\s+rule[\s-]+out|rule[\s-]+out|r/o|monitor\s+for|watch\s+for|look\s+for|screen\s+for|check\s+for|"
     r"correlate\s+(?:clinically\s+)?for|risk\s+of|in\s+case\s+of)\b", _HYPOTHETICAL, "forward", "phrase"),
]
_CUES = [(re.compile(p, re.IGNORECASE), kind, direction, reach) for p, kind, direction, reach in _CUE_TABLE]

# Only in the value of a label line ("Cardiomegaly: heart size normal"); too loose anywhere else.
_LABEL_ABSENT = re.compile(r"\b(?:normal|unremarkable|clear|nil|within\s+normal\s+limits|not\s+present)\b",
                           re.IGNORECASE)
_LABEL_SEPARATOR = re.compile(r"(?:\s*\([^)]{0,40}\))?(?:\s*:|\s+[-–—]\s)")

# Scope ends: a clause boundary (ConText termination terms) ...
# ("a while" is a time, not a clause: "fluid that has sat there for a long while, or scarring")
_TERMINATORS = re.compile(
    r";|\b(?:but|however|although|though|whereas|whilst|(?<!\ba\s)(?<!\blong\s)(?<!\bshort\s)(?<!\blittle\s)"
    r"(?<!\bgood\s)while|except|apart\s+from|aside\s+from|"
    r"other\s+than|nevertheless|nonetheless|which|who)\b", re.IGNORECASE)
# ... a cause, for a negation only: "not an option secondary to her haemorrhage" (but "may be due to oedema" hedges)
_CAUSE = re.compile(r"\b(?:secondary\s+to|due\s+to|because(?:\s+of)?)\b", re.IGNORECASE)
_CONTRAST = frozenset("but however although though whereas whilst while".split())
# ... a verb after some content ("no pneumothorax is seen and a small effusion is present") ...
# Participles end only forward scopes: "the pneumothorax seen before is no longer visible" is one subject.
_FINITE_VERBS = frozenset("""is are was were has have had appears appear shows show demonstrates demonstrate
    reveals reveal measures remains remain persists persist presents presented""".split())
_PARTICIPLES = frozenset("seen noted identified visualized visualised observed".split())
_VERBS = _FINITE_VERBS | _PARTICIPLES
# ... which words before that verb do not count as content ("it is possible that there is an effusion")
_FUNCTION_WORDS = frozenset("""a an the that there it this any of for to be been and or evidence sign signs
    finding findings definite definitive obvious convincing significant radiographic acute""".split())
# ... and a comma that opens a new described noun phrase ("no pneumothorax, small left effusion").
_NEW_PHRASE = frozenset("""a an the there this these small large moderate mild severe minimal trace tiny
    massive marked extensive subtle prominent likely probable probably possible left right bilateral
    positive some""".split())
_ARTICLES = frozenset("a an the there this these".split())
# a bare plural that offers other places in a denied state's stead: "areas that aren't fully inflated and/or areas
# where the air spaces have filled in"
_OTHER_PLACES = frozenset("areas parts patches bits spots some".split())
_LINKING_ADVERBS = frozenset("been now since also completely entirely largely all both".split())
# Words that assert, in a clause with no finding of its own: "absent on the left but present on the right".
_AFFIRMING = frozenset("present seen noted identified visible evident demonstrated persists remains".split())
_DASHES = ("-", "–", "—")
_TOKEN = re.compile(r"\s[-–—]\s|[A-Za-z0-9]+(?:['’][A-Za-z]+)?|[,:()/]")


@dataclass(frozen=True)
class _Cue:
    start: int
    end: int
    kind: str
    direction: str
    reach: str = "phrase"


@dataclass(frozen=True)
class _Mention:
    finding: int  # index into the answer key's findings
    start: int
    end: int
    negated: bool = False  # "heart is not enlarged" matched the phrasing "heart is enlarged"
    hedged: bool = False  # "heart is borderline enlarged"


# ---------------------------------------------------------------- text preparation


_ABBREVIATIONS = frozenset({"vs", "e.g", "i.e", "eg", "ie", "approx", "dr", "cf", "fig", "st"})


def _protected(line: str, patterns: Sequence[Sequence[re.Pattern[str]]]) -> list[tuple[int, int]]:
    """Spans of finding terms in a line: a sentence never ends inside one ("Neck: Supple. No adenopathy")."""
    return [(m.start(), m.end()) for terms in patterns for p in terms for m in p.finditer(line)]


def _ends_sentence(line: str, match: re.Match[str], protected: list[tuple[int, int]]) -> bool:
    """Does this run of . ! ? end a sentence (not an abbreviation, an initial, a list number or part of a term)?"""
    if any(a < match.start() < b for a, b in protected):
        return False
    if match.group() != ".":
        return True
    word = re.search(r"([A-Za-z0-9.]+)$", line[:match.start()])
    if not word:
        return True
    token = word.group(1).lower()
    following = line[match.end():].lstrip()[:1]
    if token in _ABBREVIATIONS or "." in token:  # "vs.", "p.o.", "e.g."
        return False
    if len(token) == 1 and token.isalpha() and following.islower():  # an initial: "C. diff"
        return False
    # a list number after a colon or at the start of the line ("CHEST: 1. ...") opens an item, ends nothing
    return not re.search(r"(?:^|:)\s*\d{1,2}$", line[:match.start()])


def _sentences(text: str, patterns: Sequence[Sequence[re.Pattern[str]]] = ()) -> list[str]:
    """Split into sentences; lines, bullets and table rows count as sentences too."""
    text = text.replace("|", " : ")  # a markdown table row reads like "Finding : value"
    text = re.sub(r"[*`#]+|__+", " ", text)
    sentences: list[str] = []
    for line in text.splitlines():
        line = re.sub(r"^\s*(?:>\s*)*(?:[-•+]|\d{1,2}[.)])\s+", "", line)
        protected = _protected(line, patterns)
        start = 0
        for match in re.finditer(r"[.!?]+(?=\s|$)", line):
            if _ends_sentence(line, match, protected):
                sentences.append(line[start:match.end()])
                start = match.end()
        sentences.append(line[start:])
    return [s.strip() for s in sentences if re.search(r"[A-Za-z0-9]", s)]


def _clauses(sentence: str, mentions: Sequence[_Mention] = ()) -> list[tuple[int, int, str]]:
    """(start, end, the word that opened it) of each clause: negation and hedging never cross ';', 'but' ...

    A terminator inside a finding's own name ("bleeding other than from the vagina") ends nothing.
    """
    bounds, start, opener = [], 0, ""
    for match in _TERMINATORS.finditer(sentence):
        if any(m.start <= match.start() < m.end for m in mentions):
            continue
        bounds.append((start, match.start(), opener))
        start, opener = match.end(), match.group().lower()
    bounds.append((start, len(sentence), opener))
    return bounds


# ---------------------------------------------------------------- term matching


def _spelling(stem: str) -> str:
    """A word's letters as a pattern that accepts British and American spellings (oedema, haem-, tumour, -ise)."""
    american = re.sub(r"[ao]e(?!r)", "e", stem)  # oedema -> edema, haemorrhage -> hemorrhage, dyspnoea -> dyspnea
    american = re.sub(r"ou?r$", "or", american)  # tumour -> tumor
    american = re.sub(r"i[sz](?=e|ation|ing|ed)", "iz", american)  # visualised -> visualized
    # ... then back to a pattern for both: any e may follow a British a or o, a leading e an o
    pattern = re.sub(r"(?<=[a-z])e", "[ao]?e", american)
    pattern = re.sub(r"^e", "o?e", pattern)
    pattern = re.sub(r"or$", "ou?r", pattern)
    return pattern.replace("iz", "i[sz]")


def _inflected(stem: str) -> str:
    """A plain word "stem+" in any of its inflections: "scar+" is scar, scars, scarred, scarring; "settle+" is
    settle, settles, settled, settling."""
    if stem.endswith("e"):
        return re.escape(stem[:-1]) + "(?:e|es|ed|ing)"
    return re.escape(stem) + f"(?:s|es|ed|ing|{re.escape(stem[-1])}(?:ed|ing))?"


def _word_pattern(word: str, last: bool) -> str:
    """A word of a term; the last one also matches its plural ("opacity" -> "opacities")."""
    w = word.lower()
    if not w.isalpha() or len(w) < 3:
        return re.escape(w)
    if not last:
        return _spelling(w)
    if w.endswith("ies"):  # the term itself is plural: accept the singular too
        w = w[:-3] + "y"
    elif re.search(r"(?:ss|x|z|ch|sh)es$", w):
        w = w[:-2]
    elif w.endswith("s") and not w.endswith(("ss", "us", "is")):
        w = w[:-1]
    if re.search(r"[^aeiou]y$", w):
        return _spelling(w[:-1]) + "(?:y|ies)"
    for singular, plural in (("ax", "aces"), ("ex", "ices"), ("ix", "ices"), ("us", "i"), ("is", "es"), ("um", "a")):
        if w.endswith(singular):
            return _spelling(w[:-len(singular)]) + f"(?:{singular}|{plural}|{singular}es)"
    if re.search(r"(?:s|x|z|ch|sh)$", w):
        return _spelling(w) + "(?:es)?"
    return _spelling(w) + "(?:s|es)?"


_COPULAS = ("is", "are", "was", "were")

# A term that starts with this mark is plain wording (lay_terms): everyday words may stand between its words, as
# people write them: degree and time adverbs, numbers, possessives, a side ("your heart is slightly larger than
# normal", "your 8th rib on the right side is broken", "fluid around both of your lungs"). A lung "partly
# collapsed" is not a collapsed lung (a pneumothorax) but a part that has not filled with air.
PLAIN_WORDING = "≈"
# A plain wording with this mark says the finding only as borderline ("your heart is at the top of normal"): a hedge.
BORDERLINE_WORDING = PLAIN_WORDING + "?"
# A hedge is never filler: "your heart is possibly enlarged" is not "your heart is enlarged".
_FILLER = (r"(?:[\s\-‐–]+(?!(?:possibly|perhaps|maybe|questionably|equivocally|borderline)\b)"
           r"(?:(?:partly|partially)(?![\s-]+(?:collapsed|deflated))|[a-z]+ly(?<!partly)(?<!partially)|"
           r"still|now|also|much|even|very|a\s+(?:little|bit|lot)|little|(?:both|all|one|some|several)\s+of|your|my|"
           r"the|an?|its|their|that|this|both|each|one|other|some|several|small|tiny|dense|round|faint|new|old|healed|right|"
           r"left|upper|lower|top|bottom|middle|\d+(?:st|nd|rd|th)?|(?:fir|seco|thi|four|fif|six|seven|eigh|nin|ten|"
           r"eleven|twelf)[a-z]{0,3}th|(?:on|in)\s+(?:the|your)\s+(?:right|left)(?:[\s-]+side)?)(?![A-Za-z0-9])){0,4}")


# In plain wording, "…" stands for a few words of any kind but a denial, a condition or a search ("fluid … around
# … lungs": "water has pooled outside your lungs"), and "a|b" for either word; "_" joins the words of one
# ("got_out"); "word+" is the word in any inflection ("collect+": collects, collected, collecting). The words may
# run over a comma ("fluid, collected in the space between the lung and the chest wall"), though not into a new
# clause (", but", ", and"). A hedge among them hedges the finding ("your heart may be bigger"): it is caught in a
# group named hedge<n>, one per gap.
# A relative clause or an apposition set off by commas says what the thing is, not whether it is there: "fluid, which
# might be pus, has pooled" asserts the fluid, "the middle of your chest, the part that lies between the lungs, looks
# wider" the widening; it is passed over whole, so a hedge inside it hedges nothing. So is a short aside of place.
def _gap_separator(bar: str = "") -> str:
    """What may stand between two words of a gap: a space, a comma, or a clause set off by commas (see above).

    bar: words a barred gap may not hold, which a clause it passes over may not hold either.
    """
    clean = rf"(?![^,.;:!?]*\b(?:{bar})\b)" if bar else ""
    return (rf"(?:\s*,\s*{clean}(?:(?:the|a|an)\s+(?:[A-Za-z-]+\s+){{0,3}}(?=(?:which|that|who|where)\b))?"
            rf"(?:which|who|where|that)\b[^,.;:!?]{{1,60}},\s*|"
            # an aside of place set off by commas: "the 8th rib on the right, out toward the side, is broken"
            # or "the middle of your chest, between the lungs where the big vessels run, looks wider"
            rf"\s*,\s*{clean}(?:out|in|on|at|near|towards?|just|over|under|below|above|behind|along|between|beside|"
            rf"around|across|inside|within)\s[^,.;:!?]{{1,45}},\s*|"
            # and a short apposition with no verb: "ribs on the right, the 5th down to the 9th, are broken"
            rf"\s*,\s*{clean}(?:the|a|an)\s(?![^,.;:!?]*\b(?:is|are|was|were|be|been|looks?|seems?|appears?|has|"
            rf"have|had|shows?|can|may|might|will|would|could)\b)[^,.;:!?]{{1,30}},\s*|"
            r"\s*,\s*(?!(?:and|or|but|so|yet|while|whereas|although|though)\b)|\s+)")


_GAP_HEDGE = r"(?:may|might|could|possibly|perhaps|maybe|borderline)"


def _plain_gap(number: int, barred: Sequence[str] = (), short: bool = False) -> str:
    """The pattern of one "…" gap, its hedge caught in the group hedge<number>.

    A gap that bars words ("…!around|space") may not hold them, and may hold up to ten words: "fluid has
    collected in the middle and lower parts of both of your lungs" is in the lungs, "fluid in the space around
    your lungs" is not. A short one ("…!!tissue") bars its words within the usual six.
    """
    bar = "|".join(_word_pattern(w, True) for w in barred)
    word = (rf"(?:(?P<hedge{number}>{_GAP_HEDGE})\b|(?!(?:no|not|never|none|nor|without|if|whether|unless|check|"
            r"checked" + (f"|{bar}" if bar else "") + r")\b)(?!look(?:s|ed|ing)?\s+for\b)(?![A-Za-z]+n['’]t\b)"
            r"[A-Za-z0-9'’-]+(?:\.\d+)?)")  # a decimal is one word: "a spot about 2.5 by 1.9 cm"
    separator = _gap_separator(bar)
    return rf"(?:{separator}{word}){{0,{10 if barred and not short else 6}}}?{separator}"


def _plain_pattern(term: str) -> str:
    """The pattern of one plain wording with "…" gaps or "a|b" choices (see _plain_gap)."""
    tokens = term[len(PLAIN_WORDING):].split()
    body, negatable = "", True
    for index, token in enumerate(tokens):
        if token.startswith("…"):
            continue
        if index:
            before = tokens[index - 1]
            if index == 2 and before.startswith("…"):
                # a first word that a comma and a verb follow closed an aside about something else: "the aorta, the
                # big artery leaving the heart, is widened" says nothing of the heart
                body += r"(?!\s*,\s*(?:is|are|was|were|has|have|looks?|seems?|appears?)\b)"
            body += (_plain_gap(index, before.lstrip("…!").split("|") if before.startswith("…!") else (),
                                short=before.startswith("…!!"))
                     if before.startswith("…") else _FILLER + r"[\s\-‐–]+")
        last = index == len(tokens) - 1
        choices = []
        for choice in token.split("|"):
            words = re.split(r"[_-]", choice)
            choices.append(r"[\s\-‐–]*".join(_inflected(w[:-1]) if w.endswith("+") else
                                              _word_pattern(w, last and i == len(words) - 1)
                                              for i, w in enumerate(words)))
        # a possessive on a word ("your heart's outline is bigger") is still the word
        body += f"(?:{'|'.join(choices)})" + ("" if last else r"(?:['’]s)?")
        if negatable and token.lower() in _COPULAS and 0 < index < len(tokens) - 1:
            negatable = False  # as in _term_pattern: "part of your lung is not filled in"
            body += r"(?P<neg>\s+(?:not|no\s+longer))?"
    return body


def _term_pattern(term: str) -> re.Pattern[str]:
    """Whole words, any case; between words what the term has between them.

    Spaces and hyphens in the term match any run of spaces or hyphens, or none ("air-space" = "air space" =
    "airspace"); punctuation in the term ("HIV/AIDS", "C. diff", "PE's", "Neck: supple") matches any short run
    of punctuation and spaces.
    """
    if term.startswith(BORDERLINE_WORDING):
        said = _term_pattern(PLAIN_WORDING + term[len(BORDERLINE_WORDING):]).pattern
        return re.compile(f"(?P<hedge>{said})", re.IGNORECASE)
    plain = term.startswith(PLAIN_WORDING)
    if plain and ("…" in term or "|" in term or "+" in term):
        return re.compile(rf"(?<![A-Za-z0-9]){_plain_pattern(term)}(?![A-Za-z0-9])", re.IGNORECASE)
    words = re.findall(r"[A-Za-z0-9]+", term)
    separators = re.findall(r"(?<=[A-Za-z0-9])[^A-Za-z0-9]+(?=[A-Za-z0-9])", term)
    parts, negatable = [], True
    for index, word in enumerate(words):
        if index:
            between = separators[index - 1]
            parts.append((_FILLER if plain else "") +
                         (r"[\s\-‐–]*" if re.fullmatch(r"[\s\-‐–]+", between) else r"[^A-Za-z0-9]{1,4}"))
        part = _word_pattern(word, index == len(words) - 1)
        if negatable and word.lower() in _COPULAS and 0 < index < len(words) - 1:
            negatable = False  # one named group per pattern
            # a term with a verb ("heart is enlarged") can be denied inside itself: "heart is not enlarged"
            part += r"(?P<neg>\s+(?:not|no\s+longer))?"
        if word.lower() == "the" and 0 < index < len(words) - 1:
            # a side may stand inside a term: "blunting of the right costophrenic angle"
            part += r"(?:\s+(?:right|left|both))?"
        parts.append(part)
    body = "".join(parts)
    return re.compile(rf"(?<![A-Za-z0-9]){body}(?![A-Za-z0-9])", re.IGNORECASE)


@dataclass(frozen=True)
class _FindingPatterns:
    """Everything that names, asserts or denies one answer-key finding."""

    terms: tuple[re.Pattern[str], ...]  # its name and synonyms, and the built-in positive phrasings
    normal: tuple[re.Pattern[str], ...]  # normal statements that deny it without naming it
    lookalike_before: re.Pattern[str] | None  # "pericardial" right before "effusion": another finding
    lookalike_after: re.Pattern[str] | None  # "effect" right after "mass"
    hedge_is_about_type: bool = False  # a device: "possibly a VP shunt" still asserts one
    # per term, whether it is plain wording with gaps, whose last word is no key word: "under the skin of your chest"
    # ends on "skin", and "of" after it is no "line of" look-alike
    gapped: tuple[bool, ...] = ()
    plain: tuple[bool, ...] = ()  # per term, whether it is plain wording ("rounded growth"), not a medical term


def _alternation(words: Iterable[str]) -> str:
    return "|".join(re.escape(w).replace(r"\ ", r"[\s-]+").replace(r"\-", r"[\s-]+") for w in words)


@functools.lru_cache(maxsize=512)
def _patterns_of(finding: ReferenceFinding) -> _FindingPatterns:
    named = [t for t in finding.terms if re.search(r"[A-Za-z0-9]", t)]
    terms = [_term_pattern(t) for t in named]
    gapped = tuple(t.startswith(PLAIN_WORDING) and "…" in t for t in named)
    normal = [_term_pattern(phrase) for phrase in getattr(finding, "absent_when", ())]
    standard: tuple[StandardFinding, ...] = standard_findings_for(finding.name, tuple(finding.synonyms))
    for entry in standard:
        terms += [re.compile(rf"(?<![A-Za-z0-9]){p}(?![A-Za-z0-9])", re.IGNORECASE) for p in entry.positive]
        normal += [re.compile(rf"(?<![A-Za-z0-9]){p}(?![A-Za-z0-9])", re.IGNORECASE) for p in entry.normal]
    own = " ".join(finding.terms).lower()
    # a look-alike word the finding's own terms use as a word is no look-alike for it ("in" is not in "indwelling")
    before = [w for entry in standard if entry.head for w in entry.lookalikes if not _has_word(own, w)]
    after = [w for entry in standard if entry.head for w in entry.lookalikes_after if not _has_word(own, w)]
    return _FindingPatterns(
        terms=tuple(terms), normal=tuple(normal),
        lookalike_before=re.compile(rf"(?<![A-Za-z0-9])(?:{_alternation(before)})[\s-]*$", re.IGNORECASE)
        if before else None,
        lookalike_after=re.compile(rf"^[\s-]*(?:{_alternation(after)})(?![A-Za-z0-9])", re.IGNORECASE)
        if after else None,
        hedge_is_about_type=any(entry.hedge_is_about_type for entry in standard),
        gapped=gapped + (False,) * (len(terms) - len(gapped)),
        plain=tuple(t.startswith(PLAIN_WORDING) for t in named) + (False,) * (len(terms) - len(named)))


def _has_word(text: str, words: str) -> bool:
    """Does text hold these words as whole words (not inside a longer word)?"""
    return re.search(rf"(?<![a-z0-9]){re.escape(words.lower())}(?![a-z0-9])", text) is not None


def _is_lookalike(sentence: str, start: int, end: int, patterns: _FindingPatterns, gapped: bool = False) -> bool:
    before = patterns.lookalike_before
    after = None if gapped else patterns.lookalike_after
    return bool((before and before.search(sentence[max(0, start - 30):start]))
                or (after and after.match(sentence[end:end + 40])))


def _mentions(sentence: str, patterns: Sequence[_FindingPatterns]) -> list[_Mention]:
    """Every finding mention in a sentence, longest first where they overlap."""
    found: list[_Mention] = []
    spanning: set[_Mention] = set()  # mentions of plain wordings with gaps
    plain: set[_Mention] = set()  # mentions of plain wordings
    for index, finding in enumerate(patterns):
        for pattern, gapped, in_plain_words in zip(finding.terms, finding.gapped, finding.plain):
            for match in pattern.finditer(sentence):
                if match.end() > match.start() and not _is_lookalike(sentence, match.start(), match.end(), finding,
                                                                     gapped):
                    groups = match.groupdict()
                    hedged = any(value for name, value in groups.items() if name.startswith("hedge"))
                    mention = _Mention(index, match.start(), match.end(), bool(groups.get("neg")), hedged)
                    found.append(mention)
                    if gapped:
                        spanning.add(mention)
                    if in_plain_words:
                        plain.add(mention)
    found.sort(key=lambda mention: (mention.start - mention.end, mention.start))
    kept: list[_Mention] = []
    for mention in found:
        # the same finding twice ("pleural effusion" and "effusion") counts once; another finding's
        # longer term wins ("mediastinal mass" is not the lung finding "mass"), though not a plain wording's gap
        # ("fluid in the lung tissue at the bottom of both lungs" spans the place of a pattern, which stays its own)
        if any(k.start <= mention.start and mention.end <= k.end and (k.finding == mention.finding or
                                                                      k not in spanning or mention in spanning)
               for k in kept):
            continue
        kept.append(mention)
    return sorted(_without_glosses(sentence, kept, plain), key=lambda mention: mention.start)


def _without_glosses(sentence: str, kept: list[_Mention], plain: set[_Mention]) -> list[_Mention]:
    """The mentions less the plain words that only gloss another finding's term.

    Plain words in brackets right after a term say what the term is ("a small nodule (a rounded growth)" names no
    mass; a read's "cardiomegaly (with congestion)" still names two); plain words with the term in brackets after
    them are that term ("a small growth in the lung (a nodule)"); so are plain words given as its other name
    ("pulmonary oedema, or what people call \"water on the lungs\"").
    """
    glosses = [(k.end, sentence.index(")", k.end)) for k in kept
               if re.match(r"\s*\(", sentence[k.end:]) and ")" in sentence[k.end:]]

    def glossed(m: _Mention) -> bool:
        in_brackets = any(open_at < m.start and m.end <= close_at and
                          not any(k.end == open_at and k.finding == m.finding for k in kept)
                          for open_at, close_at in glosses)
        named_after = any(k.finding != m.finding and k not in plain and m.end < k.start and
                          re.fullmatch(r"[^().,;:]{0,25}\(\s*(?:a|an|the)?\s*", sentence[m.end:k.start])
                          for k in kept)
        another_name = bool(_ANOTHER_NAME.search(sentence[:m.start])) and any(
            k.finding != m.finding and k.end <= m.start and m.start - k.end < 60 for k in kept)
        return in_brackets or named_after or another_name

    return [m for m in kept if m not in plain or not glossed(m)]


# ---------------------------------------------------------------- cue scopes


def _cues(clause: str, mentions: list[_Mention]) -> list[_Cue]:
    """Cues in a clause, longest match first where two overlap; text inside a mention is no cue."""
    found = [_Cue(m.start(), m.end(), kind, direction, reach) for pattern, kind, direction, reach in _CUES
             for m in pattern.finditer(clause) if m.end() > m.start()]
    found.sort(key=lambda c: c.start - c.end)
    kept: list[_Cue] = []
    for cue in found:
        length = cue.end - cue.start
        # a shorter cue inside a longer one is part of it ("no" in "no change in"); two of the same
        # length may stay when they point different ways ("versus" looks both ways)
        if any(k.start < cue.end and cue.start < k.end and (k.end - k.start > length or k.direction == cue.direction)
               for k in kept):
            continue
        if any(m.start < cue.end and cue.start < m.end for m in mentions):
            continue
        kept.append(cue)
    return sorted(kept, key=lambda c: c.start)


def _mention_at(pos: int, mentions: list[_Mention]) -> _Mention | None:
    return next((m for m in mentions if m.start <= pos < m.end), None)


def _in_mention(pos: int, mentions: list[_Mention]) -> bool:
    return _mention_at(pos, mentions) is not None


def _list_goes_on(rest: list[re.Match[str]], mentions: list[_Mention]) -> bool:
    """After a comma: does the phrase list reach an "or"/"nor" before any verb ("no X, large Y, or Z")?"""
    for token in rest:
        word = token.group().strip().lower()
        if word in ("or", "nor", "/"):
            return True
        if word == ":" or word in _DASHES or (word in _VERBS and not _in_mention(token.start(), mentions)):
            return False
    return False


def _forward_end(clause: str, cue: _Cue, mentions: list[_Mention]) -> int:
    """Where a forward cue's scope ends (the rules are in the module docstring)."""
    if cue.reach == "clause":
        return len(clause)
    cause = _CAUSE.search(clause, cue.end) if cue.kind == "absent" else None
    limit = cause.start() if cause else len(clause)
    tokens = list(_TOKEN.finditer(clause, cue.end, limit))
    content, as_list, reasoning, words, parentheses = False, cue.reach == "list", False, 0, 0
    named = False  # a finding named in the scope so far
    for i, token in enumerate(tokens):
        word = token.group().strip().lower()
        rest = tokens[i + 1:]
        mention = _mention_at(token.start(), mentions)
        if mention:
            if cue.reach == "adjacent":
                return mention.end
            content = named = True  # a finding named in the scope is content, even "heart is enlarged"
            continue
        words += 1
        if cue.reach == "adjacent" and words > 3:
            return token.start()
        if word == "(":
            parentheses += 1
        elif word == ")":
            if not parentheses:  # "effusion (no pneumothorax) and ...", "1) no effusion 2) ..."
                return token.start()
            parentheses -= 1
        if word in _DASHES or (word == ":" and content):
            return token.start()
        if word == ",":
            following = rest[0].group().lower() if rest else ""
            if following in _NEW_PHRASE and not as_list and (
                    following in _ARTICLES or not _list_goes_on(rest, mentions)):
                return token.start()
            continue
        if word in _VERBS and content:
            if word in _PARTICIPLES and rest and _in_mention(rest[0].start(), mentions):
                continue  # an adjective, not a verb: "no large effusion or visualized pneumothorax"
            if i and tokens[i - 1].group().lower() == "that":
                continue  # a relative clause's verb: "may be breaks that are healing, or old breaks" hedges both
            if reasoning and word in _COPULAS:
                as_list = True  # "a possible cause of this is pneumonia, tumour or heart failure"
                continue
            if not as_list:
                return token.start()
        if word in ("include", "includes", "including") and reasoning:
            as_list = True
            continue
        if word == "and" and content and not as_list and _opens_new_clause(rest, mentions):
            return token.start()
        if word == "or" and content and not named and _NOT_CUE.fullmatch(clause[cue.start:cue.end]) and rest and \
                (rest[0].group().lower() in _ARTICLES or rest[0].group().lower() in _OTHER_PLACES):
            # a denied state, then another thing offered in its place: "areas that aren't fully inflated or a
            # little old scarring" denies no scarring (but "no opacity or large effusion" denies both)
            return token.start()
        if re.fullmatch(_REASONING, word):
            reasoning = True
        if word[0].isalnum() and word not in _FUNCTION_WORDS:
            content = True
    return limit


_NOT_CUE = re.compile(_NOT, re.IGNORECASE)


_ANOTHER_NAME = re.compile(r"\b(?:or|also)\s+(?:what\s+)?(?:[a-z]+\s+){0,3}(?:call|calls|called|known\s+as)\s+"
                           r"[\"“'‘]?$", re.IGNORECASE)


def _bare(word: str) -> str:
    """A word without its contraction, lower case: "there's" is "there"."""
    return re.sub(r"['’](?:s|re|ll|d|ve)$", "", word.lower())


def _opens_new_clause(rest: list[re.Match[str]], mentions: list[_Mention]) -> bool:
    """After "and": a described phrase ("and a large pneumothorax") or a finding with its own verb
    ("and cardiomegaly is present") starts a new, un-negated clause; a bare list ("and pneumothorax") does not."""
    if not rest:
        return False
    if _bare(rest[0].group()) in _NEW_PHRASE:  # "and there's some fluid" as "and there is"
        return True
    for token in rest:
        word = token.group().strip().lower()
        if word in ("and", "or", ","):
            return False
        if word in _VERBS and not _in_mention(token.start(), mentions):
            return True
    return False


def _backward_start(clause: str, cue: _Cue, mentions: list[_Mention]) -> int:
    """Where a backward cue's scope starts: after the previous verb, colon, or a comma that ends no list."""
    prefix = clause[:cue.start]
    start = 0
    words = [t for t in _TOKEN.finditer(prefix) if not _in_mention(t.start(), mentions)]
    # the verbs right before the cue belong to it ("effusion has resolved", "is now absent")
    while words and (words[-1].group().lower() in _FINITE_VERBS or words[-1].group().lower() in _LINKING_ADVERBS):
        words.pop()
    for index, token in enumerate(words):
        # a relative clause's verb ("the tube that was on the right has been taken out") bounds nothing
        if token.group().lower() in _FINITE_VERBS and not (
                index and words[index - 1].group().lower() in ("that", "which", "who")):
            start = token.end()
    for sep in re.finditer(r":|\s[-–—]\s", prefix):
        start = max(start, sep.end())
    comma = prefix.rfind(",")
    if comma >= start:
        # "consolidation, effusion and pneumothorax are absent" is a list; "small effusion, pneumothorax
        # absent" is two statements: only a conjunction after the last comma makes it a list. A comma with
        # nothing after it but the cue's own verbs attaches the cue to what precedes: "obstruction, resolved".
        between = prefix[comma:].lower()
        if not re.search(r"\b(?:and|or|nor)\b|/", between) and \
                not all(w in _FINITE_VERBS | _LINKING_ADVERBS for w in re.findall(r"[a-z]+", between)):
            start = comma + 1
    return start


def _value_end(clause: str, value_start: int) -> int:
    """The end of a label line's value: its first phrase, up to a comma."""
    comma = clause.find(",", value_start)
    return comma if comma >= 0 else len(clause)


def _label_status(clause: str, value_start: int, value_end: int, cues: list[_Cue]) -> str:
    """'Pleural effusion: none' - the first cue in the value's first phrase decides; none means present."""
    found = [(c.start, _kind(c.kind)) for c in cues if value_start <= c.start < value_end and c.kind != "pseudo"]
    found += [(m.start(), "absent") for m in _LABEL_ABSENT.finditer(clause, value_start, value_end)]
    return min(found)[1] if found else "present"


def _kind(kind: str) -> str:
    return "uncertain" if kind == "suggest" else kind


# Two findings offered as alternatives ("scarring or atelectasis", "infiltrates or fibrosis") are a differential:
# neither is asserted. Not a count ("one or more nodules", "two or three"), nor "whether or not".
_COUNT = r"(?:one|two|three|four|five|six|several|a\s+few|few|more|less|fewer|greater|larger|smaller|not)"
# "or", and a slash between two findings ("atelectasis/airspace disease": one or the other)
_OR_AFTER = re.compile(rf"^\s*(?:,?\s*(?:and\s*/\s*)?or\s+|/\s*)(?!{_COUNT}\b)[a-z]", re.IGNORECASE)
_OR_BEFORE = re.compile(rf"(?<![\w-])(?!{_COUNT}\b)[a-z][a-z-]{{2,}}\s*(?:,?\s*(?:and\s*/\s*)?or\s+|/\s*)"
                        r"(?:[a-z-]+\s+){0,3}$", re.IGNORECASE)


def _offered_as_alternative(clause: str, mention: _Mention) -> bool:
    """Is the mention one of two findings joined by "or", with no cue of its own ("scarring or atelectasis")?"""
    return bool(_OR_AFTER.match(clause[mention.end:]) or _OR_BEFORE.search(clause[:mention.start]))


def _clause_statuses(clause: str, mentions: list[_Mention], devices: frozenset[int] | None = None
                     ) -> dict[_Mention, str]:
    """Status of each mention in one clause, ConText style: the nearest cue whose scope reaches it.

    devices: None to read two findings joined by "or" as stated; else they are a differential (uncertain) but
    for these findings, whose alternatives are about which one ("a central line or PICC" is a device).
    """
    cues = _cues(clause, mentions)
    result: dict[_Mention, str] = {}
    for mention in mentions:
        # "Pleural effusion: none" is a label line, but "No effusion - small pneumothorax" is not
        label = _LABEL_SEPARATOR.match(clause, mention.end)
        if label and not any(c.end <= mention.start for c in cues):
            # ... unless the value names another finding: "Mild cardiomegaly - no effusion" describes the
            # effusion, and the label's own finding stands as stated
            value_end = _value_end(clause, label.end())
            if any(m.finding != mention.finding and label.end() <= m.start < value_end for m in mentions):
                result[mention] = "present"
            else:
                result[mention] = _label_status(clause, label.end(), value_end, cues)
            continue
        forward = [c for c in cues if c.direction == "forward" and c.end <= mention.start
                   and mention.start < _forward_end(clause, c, mentions)]
        backward = [c for c in cues if c.direction == "backward" and c.start >= mention.end
                    and _backward_start(clause, c, mentions) <= mention.start]
        kinds = set()
        if forward:
            nearest = forward[-1]  # cues come in order and never overlap one of the same direction
            negated = [c for c in forward if c.kind == "absent" and c.end <= nearest.start]
            # a negated hedge is a denial: "no findings to suggest pneumonia"
            kinds.add("absent" if nearest.kind == "suggest" and negated else _kind(nearest.kind))
        if backward:
            kinds.add(_kind(backward[0].kind))  # the nearest
        kinds.discard("pseudo")
        if len(kinds) > 1:  # "evaluation for pneumothorax is negative": the other cue answers the question
            kinds.discard(_HYPOTHETICAL)
        if mention.negated:
            result[mention] = "absent"
        elif mention.hedged:
            result[mention] = "uncertain"
        elif not kinds:
            alternative = devices is not None and mention.finding not in devices and \
                _offered_as_alternative(clause, mention)
            result[mention] = "uncertain" if alternative else "present"
        elif len(kinds) == 1:
            result[mention] = kinds.pop()
        else:  # "possible effusion is not seen": conflicting cues, so no commitment either way
            result[mention] = "uncertain"
    return result


def _affirms_elliptically(clause: str) -> bool:
    """A clause with no finding of its own that asserts ("... but present on the right")."""
    words = set(re.findall(r"[a-z]+", clause.lower()))
    return bool(words & _AFFIRMING) and all(cue.kind == "pseudo" for cue in _cues(clause, []))


def _doubts_elliptically(clause: str) -> bool:
    """A clause with no subject of its own that leaves the one before open ("... but not entirely excluded"); one with
    a subject of its own ("though superimposed infection cannot be excluded") doubts that subject only."""
    return bool(_LEFT_OPEN.match(clause)) and any(cue.kind == "uncertain" for cue in _cues(clause, []))


_LEFT_OPEN = re.compile(r"\W*(?:but|though|although|however|yet)?\W*(?:it\s+|this\s+)?(?:is\s+|are\s+|was\s+)?"
                        r"(?:still\s+)?(?:not|cannot|can\s*not|can['’]t|could\s+not)\b[^.;]*\b(?:excluded|ruled[\s-]+out)\b",
                        re.IGNORECASE)
_ANSWER = re.compile(r"^\W*(no|none|negative|absent|yes|present|positive)\b", re.IGNORECASE)


def _evidence(sentence: str) -> str:
    """The sentence as a reader would quote it (table rows lose their separators)."""
    return re.sub(r"\s+", " ", sentence).strip(" :")


_Found = tuple[str, str, Attributes]  # status, evidence, what the mention says of side, size and site


def _attributes_of(text: str, mention: _Mention, mentions: Sequence[_Mention]) -> Attributes:
    """The side, size and site that text attaches to one mention, the other mentions being other heads."""
    return read_attributes(text, mention.start, mention.end, [(m.start, m.end) for m in mentions
                                                             if (m.start, m.end) != (mention.start, mention.end)])


# A hedge right before a device's name doubts which device it is, not that there is one: "a line, possibly a VP
# shunt", "probably a central venous catheter"; "a catheter cannot be excluded" still doubts the device itself.
_TYPE_HEDGE = re.compile(r"(?:\b(?:possibly|probably|presumably|likely|perhaps|presumed|possible|probable|either|"
                         r"(?:which|that)\s+(?:may|might|could)\s+be)|^\W*(?:may|might|could)\s+(?:also\s+)?be)"
                         r"\s+(?:an?\s+|the\s+)?(?:[\w-]+\s+){0,2}$", re.IGNORECASE)


def _sentence_statuses(sentences: list[str], patterns: Sequence[_FindingPatterns], differential: bool = False
                       ) -> dict[int, list[_Found]]:
    """(status, evidence, attributes) of every mention, keyed by the finding's index in the answer key."""
    per_finding: dict[int, list[_Found]] = {}
    for index, sentence in enumerate(sentences):
        mentions = _mentions(sentence, patterns)
        if not mentions:
            continue
        if sentence.endswith("?"):
            # a question names a finding without claiming it, unless the next sentence answers it
            following = sentences[index + 1] if index + 1 < len(sentences) else ""
            answer = _ANSWER.match(following)
            if answer:
                status = "present" if answer.group(1).lower() in ("yes", "present", "positive") else "absent"
                evidence = _evidence(f"{sentence} {following}")
            else:
                status, evidence = _HYPOTHETICAL, _evidence(sentence)
            for m in mentions:
                per_finding.setdefault(m.finding, []).append((status, evidence, _attributes_of(sentence, m, mentions)))
            continue
        previous: list[_Mention] = []
        for start, end, opener in _clauses(sentence, mentions):
            clause = sentence[start:end]
            inside = [_Mention(m.finding, m.start - start, m.end - start, m.negated, m.hedged) for m in mentions
                      if start <= m.start and m.end <= end]
            devices = frozenset(m.finding for m in inside if patterns[m.finding].hedge_is_about_type) \
                if differential else None
            for m, status in _clause_statuses(clause, inside, devices).items():
                if status == "uncertain" and patterns[m.finding].hedge_is_about_type and \
                        _TYPE_HEDGE.search(clause[:m.start]):
                    status = "present"  # "possibly a VP shunt": unsure which device, sure there is one
                # where and how big are read in the whole sentence: "opacity at the left base, which may be
                # atelectasis" places the atelectasis across a clause boundary
                whole = _Mention(m.finding, m.start + start, m.end + start)
                attributes = _attributes_of(sentence, whole, mentions)
                if not (attributes.side or attributes.site) and index:
                    # "Opacity at the left base. This may be atelectasis.": the place is in the sentence before
                    lent = place_before(sentence, sentences[index - 1])
                    attributes = Attributes(lent.side, attributes.size, lent.site)
                per_finding.setdefault(m.finding, []).append((status, _evidence(sentence), attributes))
            if not inside and opener in _CONTRAST and previous and _affirms_elliptically(clause):
                for m in previous:  # "effusion absent on the left but present on the right": the side is here
                    per_finding[m.finding].append(("present", _evidence(sentence), read_attributes(clause, 0, 0)))
            if not inside and opener in _CONTRAST and previous and _doubts_elliptically(clause):
                for m in previous:  # "infiltrate is less likely but not entirely excluded": the finding is in doubt
                    status, evidence, attributes = per_finding[m.finding][-1]
                    if status == "present":
                        per_finding[m.finding][-1] = ("uncertain", evidence, attributes)
            previous = inside
    return per_finding


def _add_normal_statements(statuses: dict[int, list[_Found]], sentences: list[str],
                           patterns: Sequence[_FindingPatterns]) -> None:
    """A normal description ("heart size is normal") counts as an absent mention of the finding it denies.

    It is the weakest claim: any positive or hedged mention of the finding still wins (the combining rule).
    A parenthetical aside does not hide one: "The mediastinum (the space between the lungs) is normal."
    """
    for sentence in sentences:
        plain = re.sub(r"\s*\([^()]*\)", "", sentence)
        for index, finding in enumerate(patterns):
            if any(pattern.search(plain) for pattern in finding.normal):
                statuses.setdefault(index, []).append(("absent", _evidence(sentence), Attributes()))


# ---------------------------------------------------------------- public API


def _findings_of(case: CaseLike | str | int, image_modality: str | None = None) -> tuple[ReferenceFinding, ...]:
    """The findings to score: of a Case, case id or slug, AnswerKey or sequence of ReferenceFinding.

    With no image_modality, the findings of the case as written (its own image, or its history); with the
    modality of the user's own image, only the findings the case says are read on that modality.
    """
    if isinstance(case, (str, int)):
        case = load_case(case)
    if hasattr(case, "answer_key"):
        findings = tuple(case.answer_key.findings)
    elif hasattr(case, "findings"):
        findings = tuple(case.findings)
    else:
        findings = tuple(case)
    if image_modality is None:
        return tuple(f for f in findings if not getattr(f, "shown_on", ()))
    modality = canonical_modality(image_modality)
    return tuple(f for f in findings if modality is not None and modality in getattr(f, "shown_on", ()))


def _key_attributes(finding: ReferenceFinding) -> dict[str, Any]:
    """The key's side, size, site and subtlety of a finding, as FindingCheck fields."""
    return {"key_side": getattr(finding, "side", ""), "key_size": getattr(finding, "size", ""),
            "key_site": getattr(finding, "site", ""), "subtle": getattr(finding, "subtle", False),
            "kind": getattr(finding, "kind", "finding")}


def check_findings(text: str | _HasText | None, case: CaseLike, *, image_modality: str | None = None,
                   hypothetical: str = "uncertain", differential: bool = False) -> list[FindingCheck]:
    """One FindingCheck per answer-key finding, in answer-key order (rules in the module docstring).

    image_modality: the modality of a user's own image ("ultrasound", "mri"), to score the findings a case
    reads on that modality instead of its own. hypothetical: the status of a finding only named in a
    hypothetical ("evaluate for pneumonia", "if there were fluid..."): "uncertain" for a read, which raises it as
    a question; "not_mentioned" for a text that asserts nothing by it (a patient explanation). differential:
    True reads two findings joined by "or" ("scarring or atelectasis") as a differential, each uncertain; False
    (the default) reads them as stated, as the report-level labels this checker is measured on do.
    """
    if hypothetical not in ("uncertain", "not_mentioned"):
        raise ValueError(f"hypothetical={hypothetical!r} must be 'uncertain' or 'not_mentioned'.")
    if text is not None and not isinstance(text, str):
        inner = getattr(text, "text", None)  # a Findings object from analyze()
        if not isinstance(inner, str):
            raise TypeError(f"check_findings needs the read's text (a str or Findings), not {type(text).__name__}.")
        text = inner
    findings = _findings_of(case, image_modality)
    patterns = [_patterns_of(f) for f in findings]
    # the thinking trace is not the read: removed in the one place that removes it
    sentences = _sentences(split_thinking(text or "")[0], [p.terms for p in patterns])
    statuses = _sentence_statuses(sentences, patterns, differential)
    _add_normal_statements(statuses, sentences, patterns)
    checks = []
    for index, finding in enumerate(findings):
        pertinent = getattr(finding, "pertinent", True)
        mentions = statuses.get(index, [])
        if not mentions:
            checks.append(FindingCheck(finding.name, "not_mentioned", finding.expected, "", pertinent,
                                       **_key_attributes(finding)))
            continue
        best = max(_RANK[s] for s, _, _ in mentions)
        status, evidence, _ = next(m for m in mentions if _RANK[m[0]] == best)
        if status == _HYPOTHETICAL and hypothetical == "not_mentioned":
            checks.append(FindingCheck(finding.name, "not_mentioned", finding.expected, "", pertinent,
                                       **_key_attributes(finding)))
            continue
        status = "uncertain" if status == _HYPOTHETICAL else status
        # where and how big come from the mentions that decided the status: "no left effusion" gives no side
        side, size, site = combine_attributes(a for s, _, a in mentions if _RANK[s] == best)
        checks.append(FindingCheck(finding.name, status, finding.expected, evidence, pertinent,
                                   side=side, size=size, site=site, **_key_attributes(finding)))
    return checks


def concordance_score(checks: Iterable[FindingCheck]) -> tuple[int, int]:
    """(findings that agree with the key, findings scored); a wrong side never agrees; unmentioned non-pertinent
    negatives are not scored."""
    scored = [c for c in checks if c.scored and c.kind == "finding"]
    return sum(1 for c in scored if c.agrees), len(scored)


ERROR_KINDS = ("missed", "invented", "wrong side", "hedged")
_SIDE_NOT_STATED = "side not stated"  # the one flag about side; the others are about size or site


def error_kind(check: FindingCheck) -> str:
    """What went wrong with one scored finding: missed, invented, wrong side or hedged ("" when it agrees).

    The kinds do not overlap, so they add up to the findings scored that do not agree:

    - wrong side: the key's finding read present (or hedged) on another side: left for right, bilateral for
      one side, one side for bilateral.
    - hedged: the read leaves uncertain a finding the key is definite about (a hedge on a finding the key calls
      subtle agrees and is no error).
    - invented: a finding the key says is absent, read as present (the class review calls it over-called).
    - missed: a present finding the read denies or never names, or a pertinent negative it does not deny.
    """
    if not check.scored or check.agrees or check.kind != "finding":  # an impression or next step: scored apart
        return ""
    if check.wrong_side:
        return "wrong side"
    if check.status == "uncertain":
        return "hedged"
    if check.expected == "absent" and check.status == "present":
        return "invented"
    return "missed"


@dataclass(frozen=True)
class ErrorTally:
    """How many findings of one read went wrong in each way (see error_kind), and how many differ in size or site.

    size_or_site: findings read on the right side (or with no side) whose size or site differs from the key's,
    such as "key moderate, read small"; they still agree (or are counted as hedged), so this is a count of flags,
    not of errors.
    """

    missed: int = 0
    invented: int = 0
    wrong_side: int = 0
    size_or_site: int = 0
    hedged: int = 0

    def counts(self) -> str:
        """The five counts in words: "missed 1 · invented 0 · wrong side 1 · size or site differs 0 · hedged 0"."""
        return (f"missed {self.missed} · invented {self.invented} · wrong side {self.wrong_side} · "
                f"size or site differs {self.size_or_site} · hedged {self.hedged}")

    def line(self) -> str:
        """The tally as the one line shown under a read's table."""
        return f"Kinds of error: {self.counts()}"


def error_tally(checks: Iterable[FindingCheck]) -> ErrorTally:
    """The kinds of error in one read's checks: missed, invented, wrong side, size or site differs, hedged."""
    checks = list(checks)
    kinds = [error_kind(c) for c in checks]
    return ErrorTally(missed=kinds.count("missed"), invented=kinds.count("invented"),
                      wrong_side=kinds.count("wrong side"), hedged=kinds.count("hedged"),
                      size_or_site=sum(any(f != _SIDE_NOT_STATED for f in c.flags) for c in checks))


def unstated_negatives(checks: Iterable[FindingCheck]) -> list[str]:
    """The pertinent negatives a read never states: findings the key says are absent, which a careful read denies."""
    return [c.finding for c in checks if c.expected == "absent" and c.pertinent and c.status == "not_mentioned"]


def unstated_negatives_line(checks: Iterable[FindingCheck]) -> str:
    """A plain sentence naming the pertinent negatives a read left unstated ("" when it stated them all)."""
    names = unstated_negatives(checks)
    if not names:
        return ""
    # semicolons, because finding names hold "or" themselves ("pulmonary nodule or mass")
    return (f"Pertinent negatives not stated: {'; '.join(names)}. State each one (\"no {names[0]}\"): from "
            "\"normal\" alone a reader cannot tell what was looked for.")


VERDICT_COLOURS = {  # background, text: explicit text colour keeps dark notebook themes readable
    "agree": ("#d4edda", "#155724"),
    "disagree": ("#f8d7da", "#721c24"),
    "wrong_side": ("#e8c6f0", "#5a1470"),
    "unsure": ("#fff3cd", "#7a5b00"),
    "unscored": ("#eeeeee", "#444444"),
}


def verdict(check: FindingCheck) -> tuple[str, str]:
    """(state, label) of one check: agree, wrong_side, disagree, unsure or unscored, as the table shows it.

    Flags that do not change the verdict (a size or site unlike the key's, a side left out) follow it after "·".
    """
    if not check.scored:
        return "unscored", "– not scored (not a pertinent negative)"
    if check.wrong_side:
        return "wrong_side", f"✗ wrong side: read {check.side}, key {check.key_side}"
    flags = "".join(f" · {flag}" for flag in check.flags)
    if check.agrees:
        label = "✓ hedged, accepted" if check.hedge_accepted else "✓ agrees"
        return "agree", label + flags
    if check.status in ("uncertain", "not_mentioned"):
        return "unsure", "? " + check.status.replace("_", " ") + flags
    return "disagree", "✗ disagrees"


def _described(status: str, side: str, size: str, site: str) -> str:
    """A status with the side, size and site given ("present · left · large"), for the table and the text."""
    return " · ".join(part for part in (status.replace("_", " "), side, size, site) if part)


def read_says(check: FindingCheck) -> str:
    """What the read says of a finding: its status, then the side, size and site it gave."""
    return _described(check.status, check.side, check.size, check.site)


def key_says(check: FindingCheck) -> str:
    """What the key says of a finding: absent or present, with its side, size and site, or not pertinent."""
    if check.expected == "absent" and not check.pertinent:
        return "absent (not pertinent)"
    if check.kind != "finding":  # the impression or a next step: named in the read, not scored as a finding
        return f"{check.kind} (scored apart)"
    return _described(check.expected, check.key_side, check.key_size, check.key_site) or "—"


def concordance_table_html(checks: Iterable[FindingCheck], title: str = "Model read vs answer key") -> str:
    """A colour-coded HTML table of the checks with the score, the kinds of error and the negatives left unstated.

    All text is escaped.
    """
    checks = list(checks)
    agreeing, total = concordance_score(checks)
    esc = lambda value: html.escape(str(value), quote=True)  # noqa: E731 - model text is data, never markup
    cell = "padding:4px 8px;border:1px solid #bbb;text-align:left;vertical-align:top"
    rows = []
    for check in checks:
        state, label = verdict(check)
        background, colour = VERDICT_COLOURS[state]
        rows.append(
            f'<tr class="mh-{state}" style="background:{background};color:{colour}">'
            f'<td style="{cell}">{esc(check.finding)}</td>'
            f'<td style="{cell}">{esc(key_says(check))}</td>'
            f'<td style="{cell}">{esc(read_says(check))}</td>'
            f'<td style="{cell}">{esc(label)}</td>'
            f'<td style="{cell}"><i>{esc(check.evidence or "—")}</i></td></tr>')
    if not rows:
        rows.append(f'<tr><td style="{cell}" colspan="5">No answer-key findings to compare.</td></tr>')
    header = "".join(f'<th style="{cell}">{h}</th>' for h in
                     ("Finding", "Answer key", "The read says", "Verdict", "Evidence (quoted from the read)"))
    unstated = unstated_negatives_line(checks)
    return (
        '<div class="mh-concordance">'
        f'<h4 style="margin:0.4em 0">{esc(title)}</h4>'
        f'<table style="border-collapse:collapse"><thead><tr>{header}</tr></thead>'
        f'<tbody>{"".join(rows)}</tbody></table>'
        f'<p style="margin:0.4em 0"><b>Score: {agreeing} / {total}</b> findings agree with the answer key '
        '(uncertain and not mentioned count as not agreeing, and so does a finding on the wrong side; an absent '
        'finding that is not a pertinent negative counts only when the read mentions it). Checked by keyword rules: '
        'read the evidence column.</p>'
        + (f'<p class="mh-tally" style="margin:0.4em 0">{esc(error_tally(checks).line())}</p>' if checks else "")
        + (f'<p class="mh-unstated" style="margin:0.4em 0;color:#7a5b00">{esc(unstated)}</p>' if unstated else "")
        + '</div>')


def concordance_lines(checks: Iterable[FindingCheck], title: str = "The read") -> list[str]:
    """The table as plain text lines, in the table's words: score, one line per finding, the tally, the negatives."""
    checks = list(checks)
    agreeing, total = concordance_score(checks)
    lines = [f"{title}: {agreeing}/{total} findings agree with the answer key"]
    lines += [f"  - {c.finding}: {'not mentioned' if c.status == 'not_mentioned' else 'read ' + read_says(c)}, "
              f"key {key_says(c)}: {verdict(c)[1]}" for c in checks]
    if checks:
        lines.append(f"  {error_tally(checks).line()}")
    unstated = unstated_negatives_line(checks)
    return lines + ([f"  {unstated}"] if unstated else [])
