"""Concordance: does the model's read agree with the answer key, finding by finding?

`check_findings(text, case)` looks for every answer-key finding (its name and synonyms) in the model's
text and decides, per mention, whether the text asserts it (present), denies it (absent), hedges
(uncertain) or never names it (not_mentioned). It is a teaching aid that shows its evidence, not a
validated NLP system: the table puts the deciding sentence next to every verdict so a resident can
check the checker.

Why hand-written rules and not a library. The scan below is a compact ConText-style algorithm
(Harkema et al. 2009): cue phrases with a direction, whose scope runs to a termination cue. The two
well-kept libraries were measured first (November 2026, Python 3.11, fresh venvs):

- medspacy 1.3.1 (ConText, negation and hedging): on Python < 3.12 it pins spacy < 3.8, whose thinc
  needs numpy < 2, so installing it would downgrade this project's numpy 2.x; it also installs
  medspacy_quickumls (nltk, pysimstring, unqlite and pytest as runtime requirements): 281 MB of
  site-packages. Import 0.8 s, pipeline load 1.0 s, offline: fine. But out of the box it got 5 of 21
  report phrasings wrong ("effusion is not seen" and "may represent" missed, "cannot exclude" read as
  negated, ";" not a scope end, plurals missed) and logs DEBUG lines per sentence.
- negspacy 1.1.0 (NegEx on spaCy 3.8, numpy 2 fine): 333 MB venv; negation only, no hedging, and
  the same misses on "cannot exclude" and ";".

Either would need our own rules on top anyway, so the rules are here, readable and testable.

Decisions a teacher should know (all tested in tests/test_concordance.py):

- "likely", "probable", "consistent with", "in keeping with" count as present: the model commits to
  the finding. Radiology certainty scales put "likely" around 75 % and "consistent with" above 90 %;
  the answer key is binary, so committed-but-hedged reads are scored as claims. "possible", "may",
  "might", "could", "suggestive of", "suspicious for", "concerning for", "questionable", "cannot
  exclude" and "borderline" are uncertain. "unlikely" and "doubtful" count as absent, by the same logic.
- "if", "evaluate for", "to exclude", "rule out" (a request, not "ruled out"), and a question with no
  yes/no answer are hypothetical: they name a finding without claiming it. They are the weakest
  mention and report as uncertain only when nothing else names the finding.
- A label line such as "Pleural effusion: none" or "| Cardiomegaly | Absent |" is decided by the
  value after the colon, where "none", "normal", "clear", "unremarkable" and "nil" mean absent.

The combining rule for several mentions of one finding: present > uncertain > absent > hypothetical.
A positive statement anywhere is a claim ("no left effusion; small right effusion" -> present:
negations are often about one site). A hedge anywhere means the model did not commit to absence
("No pneumothorax. A tiny apical pneumothorax cannot be excluded." -> uncertain). Absent needs every
asserting mention to be negated. The evidence shown is the first sentence with the winning status.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable, Protocol, Sequence, Union

if TYPE_CHECKING:
    from .cases import AnswerKey, Case, ReferenceFinding

    CaseLike = Union[Case, AnswerKey, Sequence[ReferenceFinding]]

__all__ = [
    "FindingCheck", "STATUSES", "check_findings", "concordance_score", "concordance_table_html",
]

STATUSES = ("present", "absent", "uncertain", "not_mentioned")
_HYPOTHETICAL = "hypothetical"  # internal only; reported as "uncertain"
_RANK = {"present": 4, "uncertain": 3, "absent": 2, _HYPOTHETICAL: 1}


@dataclass(frozen=True)
class FindingCheck:
    """One answer-key finding and what the model's text said about it."""

    finding: str
    status: str
    expected: str = ""
    evidence: str = ""

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"FindingCheck status {self.status!r} must be one of {', '.join(STATUSES)}.")

    @property
    def agrees(self) -> bool:
        """True when the model's status equals the answer key's (uncertain and not_mentioned never do)."""
        return self.status in ("present", "absent") and self.status == self.expected


class _HasText(Protocol):
    text: str


# ---------------------------------------------------------------- cue lexicon

_NOT = r"(?:\bnot\b|n['’]t\b)"
_BE = r"(?:is|are|was|were|has\s+been|have\s+been|had\s+been|does|do|did|has|have|had)"
_SEEN = (r"(?:seen|identified|present|visuali[sz]ed|demonstrated|evident|appreciated|detected|visible|"
         r"apparent|noted|observed|found|shown|depicted|delineated)")
_ADV = r"(?:(?:clearly|definitely|convincingly|well|confidently|entirely|completely|fully|reliably|readily)\s+)?"
_CANNOT = r"(?:cannot|can\s+not|can['’]t|could\s+not|couldn['’]t)"

# (pattern, kind, direction). kind: absent / uncertain / hypothetical / pseudo (neutralises a cue word
# without meaning negation, e.g. "no change in the effusion" keeps the effusion). Longer matches win.
_CUE_TABLE: list[tuple[str, str, str]] = [
    # pseudo-negation first so "no change in" is not read as "no"
    (r"\bno\s+(?:significant\s+|interval\s+|appreciable\s+|substantial\s+)?(?:change|increase|decrease|"
     r"progression|improvement|worsening)\b", "pseudo", "forward"),
    (r"\bwithout\s+(?:significant\s+|interval\s+)?change\b", "pseudo", "forward"),
    (r"\bnot\s+only\b", "pseudo", "forward"),
    # uncertainty that contains a negation word: must out-length the plain negations
    (rf"(?:{_CANNOT}|\bunable\s+to|\bdifficult\s+to|\bhard\s+to|\bnot\s+possible\s+to|\bimpossible\s+to)\s+"
     rf"{_ADV}(?:exclude|rule\s+out)\b", "uncertain", "forward"),
    (rf"{_CANNOT}\s+(?:be\s+)?{_ADV}(?:excluded|ruled\s+out)\b", "uncertain", "backward"),
    (rf"(?:{_BE}\s+)?{_NOT}\s+(?:be(?:en)?\s+)?{_ADV}(?:excluded|ruled\s+out)\b", "uncertain", "backward"),
    (r",?\s*\bif\s+any\b", "uncertain", "backward"),  # the comma is part of it: "small effusion, if any"
    # negation, forward
    (r"\bno\b(?![\s.!:,|]*$)", "absent", "forward"),
    (rf"{_NOT}", "absent", "forward"),
    (r"\b(?:without|w/o|neither|nor|absence\s+of|free\s+of|clear\s+of|negative\s+for|resolution\s+of|"
     r"no\s+longer|lack\s+of)\b", "absent", "forward"),
    (r"\b(?:unlikely|not\s+likely)\s+to\s+(?:represent|be|reflect)\b", "absent", "forward"),
    # negation, backward ("effusion is not seen", "pneumothorax: none", "effusion has resolved")
    (rf"(?:{_BE}\s+)?{_NOT}\s+(?:be(?:en)?\s+)?{_ADV}{_SEEN}\b", "absent", "backward"),
    (rf"(?:{_BE}\s+)?no\s+longer\s+(?:be\s+)?{_ADV}{_SEEN}\b", "absent", "backward"),
    (r"(?:\b(?:is|are|was|were|has\s+been|have\s+been)\s+)?\b(?:absent|ruled\s+out|excluded|resolved|"
     r"unlikely|doubtful|improbable)\b", "absent", "backward"),
    (r"\b(?:none|no|negative)\b(?=[\s.!:,|]*$)", "absent", "backward"),
    # uncertainty, forward
    (r"\b(?:possible|possibly|perhaps|maybe|may|might|could|questionable|question\s+of|query|"
     r"suspected|suspicion\s+of|suspicious\s+(?:for|of)|concerning\s+for|concern\s+for|worrisome\s+for|"
     r"suggestive\s+of|suggests?|suggesting|equivocal|indeterminate|uncertain|borderline|"
     r"less\s+likely|possibility\s+of|raises\s+the\s+possibility\s+of|differential\s+(?:diagnosis\s+)?"
     r"(?:includes?|of)|versus|vs\.?)(?!\w)", "uncertain", "forward"),
    (r"\?(?=[A-Za-z])", "uncertain", "forward"),  # "?consolidation", UK shorthand for query
    # uncertainty, backward ("effusion is possible", "effusion may be present")
    (r"(?:\b(?:is|are)\s+)?\b(?:possible|suspected|questionable|equivocal|uncertain|not\s+certain)\b"
     r"(?=[\s.!:,|]*$)", "uncertain", "backward"),
    (rf"\b(?:may|might|could)\s+(?:also\s+)?(?:be\s+)?{_SEEN}\b", "uncertain", "backward"),
    (r"\b(?:versus|vs\.?)(?!\w)", "uncertain", "backward"),
    # hypothetical: named, not claimed
    (r"\b(?:if|evaluate\s+for|evaluation\s+(?:for|of)|assess\s+for|assessment\s+for|to\s+exclude|"
     r"to\s+rule\s+out|rule\s+out|r/o|monitor\s+for|watch\s+for|look\s+for|screen\s+for|check\s+for|"
     r"risk\s+of|in\s+case\s+of)\b", _HYPOTHETICAL, "forward"),
]
_CUES = [(re.compile(p, re.IGNORECASE), kind, direction) for p, kind, direction in _CUE_TABLE]

# Only in the value of a label line ("Cardiomegaly: heart size normal"); too loose anywhere else.
_LABEL_ABSENT = re.compile(r"\b(?:normal|unremarkable|clear|nil|within\s+normal\s+limits|not\s+present)\b",
                           re.IGNORECASE)
_LABEL_SEPARATOR = re.compile(r"(?:\s*\([^)]{0,40}\))?(?:\s*:|\s+[-–—]\s)")

# Scope ends: a clause boundary (ConText termination terms) ...
_TERMINATORS = re.compile(
    r";|\b(?:but|however|although|though|whereas|whilst|while|except|apart\s+from|aside\s+from|"
    r"other\s+than|nevertheless|nonetheless|which)\b", re.IGNORECASE)
# ... a verb after some content ("no pneumothorax is seen and a small effusion is present") ...
# Participles end only forward scopes: "the pneumothorax seen before is no longer visible" is one subject.
_FINITE_VERBS = frozenset("""is are was were has have had appears appear shows show demonstrates demonstrate
    reveals reveal measures remains remain persists persist""".split())
_VERBS = _FINITE_VERBS | frozenset("seen noted identified visualized visualised observed".split())
# ... which words before that verb do not count as content ("it is possible that there is an effusion")
_FUNCTION_WORDS = frozenset("""a an the that there it this any of for to be been and or evidence sign signs
    finding findings definite definitive obvious convincing significant radiographic acute""".split())
# ... and a comma that opens a new described noun phrase ("no pneumothorax, small left effusion").
_NEW_PHRASE = frozenset("""a an the there this these small large moderate mild severe minimal trace tiny
    massive marked extensive subtle prominent likely probable probably left right bilateral""".split())
_LINKING_ADVERBS = frozenset("been now since also completely entirely largely".split())
_TOKEN = re.compile(r"\s[-–—]\s|[A-Za-z0-9]+(?:['’][A-Za-z]+)?|,")


@dataclass(frozen=True)
class _Cue:
    start: int
    end: int
    kind: str
    direction: str


@dataclass(frozen=True)
class _Mention:
    finding: int  # index into the answer key's findings
    start: int
    end: int
    negated: bool = False  # "heart is not enlarged" matched the term "heart is enlarged"


# ---------------------------------------------------------------- text preparation


_ABBREVIATIONS = frozenset({"vs", "e.g", "i.e", "eg", "ie", "approx", "dr", "cf", "fig", "st"})


def _sentences(text: str) -> list[str]:
    """Split into sentences; lines, bullets and table rows count as sentences too."""
    text = text.replace("|", " : ")  # a markdown table row reads like "Finding : value"
    text = re.sub(r"[*`#]+|__+", " ", text)
    sentences: list[str] = []
    for line in text.splitlines():
        line = re.sub(r"^\s*(?:>\s*)*(?:[-•+]|\d{1,2}[.)])\s+", "", line)
        start = 0
        for match in re.finditer(r"[.!?]+(?=\s|$)", line):
            word = re.search(r"([A-Za-z.]+)$", line[start:match.start()])
            if match.group() == "." and word and word.group(1).lower() in _ABBREVIATIONS:
                continue
            sentences.append(line[start:match.end()])
            start = match.end()
        sentences.append(line[start:])
    return [s.strip() for s in sentences if re.search(r"[A-Za-z0-9]", s)]


def _clauses(sentence: str) -> list[tuple[int, int]]:
    """(start, end) of each clause: negation and hedging never cross ';', 'but', 'however' ..."""
    bounds, start = [], 0
    for match in _TERMINATORS.finditer(sentence):
        bounds.append((start, match.start()))
        start = match.end()
    bounds.append((start, len(sentence)))
    return bounds


# ---------------------------------------------------------------- term matching


def _word_pattern(word: str, last: bool) -> str:
    """A word of a term; the last one also matches its plural ("opacity" -> "opacities")."""
    w = word.lower()
    if not last or not w.isalpha() or len(w) < 3:
        return re.escape(w)
    if w.endswith("ies"):  # the term itself is plural: accept the singular too
        w = w[:-3] + "y"
    elif re.search(r"(?:ss|x|z|ch|sh)es$", w):
        w = w[:-2]
    elif w.endswith("s") and not w.endswith(("ss", "us", "is")):
        w = w[:-1]
    if re.search(r"[^aeiou]y$", w):
        return re.escape(w[:-1]) + "(?:y|ies)"
    for singular, plural in (("ax", "aces"), ("ex", "ices"), ("ix", "ices"), ("us", "i"), ("is", "es"), ("um", "a")):
        if w.endswith(singular):
            return re.escape(w[:-len(singular)]) + f"(?:{singular}|{plural}|{singular}es)"
    if re.search(r"(?:s|x|z|ch|sh)$", w):
        return re.escape(w) + "(?:es)?"
    return re.escape(w) + "(?:s|es)?"


_COPULAS = ("is", "are", "was", "were")


def _term_pattern(term: str) -> re.Pattern[str]:
    """Whole words, any case, hyphen or space between words ("air-space" = "air space" = "airspace")."""
    words = re.findall(r"[A-Za-z0-9]+", term)
    parts, negatable = [], True
    for i, word in enumerate(words):
        part = _word_pattern(word, i == len(words) - 1)
        if negatable and word.lower() in _COPULAS and 0 < i < len(words) - 1:
            negatable = False  # one named group per pattern
            # a term with a verb ("heart is enlarged") can be denied inside itself: "heart is not enlarged"
            part += r"(?P<neg>\s+(?:not|no\s+longer))?"
        parts.append(part)
    body = r"[\s\-‐–]*".join(parts)
    return re.compile(rf"(?<![A-Za-z0-9]){body}(?![A-Za-z0-9])", re.IGNORECASE)


def _mentions(sentence: str, patterns: Sequence[Sequence[re.Pattern[str]]]) -> list[_Mention]:
    """Every finding mention in a sentence, longest first where they overlap."""
    found = [_Mention(i, m.start(), m.end(), bool(m.groupdict().get("neg"))) for i, terms in enumerate(patterns)
             for p in terms for m in p.finditer(sentence) if m.end() > m.start()]
    found.sort(key=lambda m: (m.start - m.end, m.start))
    kept: list[_Mention] = []
    for m in found:
        # the same finding twice ("pleural effusion" and "effusion") counts once; another finding's
        # longer term wins ("mediastinal mass" is not the lung finding "mass")
        if any(k.start <= m.start and m.end <= k.end for k in kept):
            continue
        kept.append(m)
    return sorted(kept, key=lambda m: m.start)


# ---------------------------------------------------------------- cue scopes


def _cues(clause: str, mentions: list[_Mention]) -> list[_Cue]:
    """Cues in a clause, longest match first where two overlap; text inside a mention is no cue."""
    found = [_Cue(m.start(), m.end(), kind, direction) for pattern, kind, direction in _CUES
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


def _in_mention(pos: int, mentions: list[_Mention]) -> bool:
    return any(m.start <= pos < m.end for m in mentions)


def _forward_end(clause: str, cue: _Cue, mentions: list[_Mention]) -> int:
    """Where a forward cue's scope ends: a verb after content, a dash, or a comma opening a new phrase."""
    tokens = list(_TOKEN.finditer(clause, cue.end))
    content = False
    for i, token in enumerate(tokens):
        word = token.group().strip().lower()
        if _in_mention(token.start(), mentions):
            content = True  # a finding named in the scope is content, even "heart is enlarged"
            continue
        if word in ("-", "–", "—"):
            return token.start()
        if word == ",":
            following = tokens[i + 1].group().lower() if i + 1 < len(tokens) else ""
            if following in _NEW_PHRASE:
                return token.start()
            continue
        if word in _VERBS and content:
            return token.start()
        if word == "and" and content and _opens_new_clause(tokens[i + 1:], mentions):
            return token.start()
        if word not in _FUNCTION_WORDS:
            content = True
    return len(clause)


def _opens_new_clause(rest: list[re.Match[str]], mentions: list[_Mention]) -> bool:
    """After "and": a described phrase ("and a large pneumothorax") or a finding with its own verb
    ("and cardiomegaly is present") starts a new, un-negated clause; a bare list ("and pneumothorax") does not."""
    if not rest:
        return False
    if rest[0].group().lower() in _NEW_PHRASE:
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
    for token in words:
        if token.group().lower() in _FINITE_VERBS:
            start = token.end()
    for sep in re.finditer(r":|\s[-–—]\s", prefix):
        start = max(start, sep.end())
    comma = prefix.rfind(",")
    # "consolidation, effusion and pneumothorax are absent" is a list; "small effusion, pneumothorax
    # absent" is two statements: only a conjunction after the last comma makes it a list
    if comma >= start and not re.search(r"\b(?:and|or|nor)\b|/", prefix[comma:], re.IGNORECASE):
        start = comma + 1
    return start


def _label_status(clause: str, value_start: int, cues: list[_Cue]) -> str:
    """'Pleural effusion: none' - the first cue in the value's first phrase decides; none means present."""
    comma = clause.find(",", value_start)
    value_end = comma if comma >= 0 else len(clause)
    found = [(c.start, c.kind) for c in cues if value_start <= c.start < value_end and c.kind != "pseudo"]
    found += [(m.start(), "absent") for m in _LABEL_ABSENT.finditer(clause, value_start, value_end)]
    return min(found)[1] if found else "present"


def _clause_statuses(clause: str, mentions: list[_Mention]) -> dict[_Mention, str]:
    """Status of each mention in one clause, ConText style: the nearest cue whose scope reaches it."""
    cues = _cues(clause, mentions)
    result: dict[_Mention, str] = {}
    for mention in mentions:
        # "Pleural effusion: none" is a label line, but "No effusion - small pneumothorax" is not
        label = _LABEL_SEPARATOR.match(clause, mention.end)
        if label and not any(c.end <= mention.start for c in cues):
            result[mention] = _label_status(clause, label.end(), cues)
            continue
        forward = [c for c in cues if c.direction == "forward" and c.end <= mention.start
                   and mention.start < _forward_end(clause, c, mentions)]
        backward = [c for c in cues if c.direction == "backward" and c.start >= mention.end
                    and _backward_start(clause, c, mentions) <= mention.start]
        kinds = set()
        if forward:
            kinds.add(max(forward, key=lambda c: c.end).kind)
        if backward:
            kinds.add(min(backward, key=lambda c: c.start).kind)
        kinds.discard("pseudo")
        if len(kinds) > 1:  # "evaluation for pneumothorax is negative": the other cue answers the question
            kinds.discard(_HYPOTHETICAL)
        if mention.negated:
            result[mention] = "absent"
        elif not kinds:
            result[mention] = "present"
        elif len(kinds) == 1:
            result[mention] = kinds.pop()
        else:  # "possible effusion is not seen": conflicting cues, so no commitment either way
            result[mention] = "uncertain"
    return result


_ANSWER = re.compile(r"^\W*(no|none|negative|absent|yes|present|positive)\b", re.IGNORECASE)


def _evidence(sentence: str) -> str:
    """The sentence as a reader would quote it (table rows lose their separators)."""
    return re.sub(r"\s+", " ", sentence).strip(" :")


def _sentence_statuses(sentences: list[str], patterns: Sequence[Sequence[re.Pattern[str]]]
                       ) -> dict[int, list[tuple[str, str]]]:
    """(status, evidence) of every mention, keyed by the finding's index in the answer key."""
    per_finding: dict[int, list[tuple[str, str]]] = {}
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
                per_finding.setdefault(m.finding, []).append((status, evidence))
            continue
        for start, end in _clauses(sentence):
            clause = sentence[start:end]
            inside = [_Mention(m.finding, m.start - start, m.end - start, m.negated) for m in mentions
                      if start <= m.start and m.end <= end]
            for m, status in _clause_statuses(clause, inside).items():
                per_finding.setdefault(m.finding, []).append((status, _evidence(sentence)))
    return per_finding


# ---------------------------------------------------------------- public API


def _findings_of(case: CaseLike | str | int) -> tuple[ReferenceFinding, ...]:
    """Reference findings from a Case, a case id or slug, an AnswerKey or a sequence of ReferenceFinding."""
    if isinstance(case, (str, int)):
        from .cases import load_case

        case = load_case(case)
    if hasattr(case, "answer_key"):
        return tuple(case.answer_key.findings)
    if hasattr(case, "findings"):
        return tuple(case.findings)
    return tuple(case)


def _add_normal_statements(statuses: dict[int, list[tuple[str, str]]], sentences: list[str],
                           findings: Sequence[ReferenceFinding]) -> None:
    """A normal description from the case file ("heart size is normal") counts as an absent mention.

    It is the weakest claim: any positive or hedged mention of the finding still wins (the combining rule).
    """
    for index, finding in enumerate(findings):
        phrases = [_term_pattern(phrase) for phrase in getattr(finding, "absent_when", ())]
        for sentence in sentences:
            if any(pattern.search(sentence) for pattern in phrases):
                statuses.setdefault(index, []).append(("absent", _evidence(sentence)))


def check_findings(text: str | _HasText | None, case: CaseLike) -> list[FindingCheck]:
    """One FindingCheck per answer-key finding, in answer-key order (rules in the module docstring)."""
    if text is not None and not isinstance(text, str):
        inner = getattr(text, "text", None)  # a Findings object from analyze()
        if not isinstance(inner, str):
            raise TypeError(f"check_findings needs the model's text (a str or Findings), not {type(text).__name__}.")
        text = inner
    findings = _findings_of(case)
    patterns = [[_term_pattern(t) for t in f.terms if re.search(r"[A-Za-z0-9]", t)] for f in findings]
    from .generate import split_thinking  # the one place MedGemma's thinking trace is removed

    sentences = _sentences(split_thinking(text or "")[0])
    statuses = _sentence_statuses(sentences, patterns)
    _add_normal_statements(statuses, sentences, findings)
    checks = []
    for index, finding in enumerate(findings):
        mentions = statuses.get(index, [])
        if not mentions:
            checks.append(FindingCheck(finding.name, "not_mentioned", finding.expected, ""))
            continue
        best = max(_RANK[s] for s, _ in mentions)
        status, evidence = next((s, e) for s, e in mentions if _RANK[s] == best)
        status = "uncertain" if status == _HYPOTHETICAL else status
        checks.append(FindingCheck(finding.name, status, finding.expected, evidence))
    return checks


def concordance_score(checks: Iterable[FindingCheck]) -> tuple[int, int]:
    """(findings that agree with the answer key, findings checked)."""
    checks = list(checks)
    return sum(1 for c in checks if c.agrees), len(checks)


_COLOURS = {  # background, text: explicit text colour keeps dark notebook themes readable
    "agree": ("#d4edda", "#155724"),
    "disagree": ("#f8d7da", "#721c24"),
    "unsure": ("#fff3cd", "#7a5b00"),
}


def _verdict(check: FindingCheck) -> tuple[str, str]:
    if check.agrees:
        return "agree", "✓ agrees"
    if check.status in ("uncertain", "not_mentioned"):
        return "unsure", "? " + check.status.replace("_", " ")
    return "disagree", "✗ disagrees"


def concordance_table_html(checks: Iterable[FindingCheck], title: str = "Model read vs answer key") -> str:
    """A colour-coded HTML table of the checks with the score; all text is escaped."""
    checks = list(checks)
    agreeing, total = concordance_score(checks)
    esc = lambda value: html.escape(str(value), quote=True)  # noqa: E731 - model text is data, never markup
    cell = "padding:4px 8px;border:1px solid #bbb;text-align:left;vertical-align:top"
    rows = []
    for check in checks:
        state, verdict = _verdict(check)
        background, colour = _COLOURS[state]
        rows.append(
            f'<tr class="mh-{state}" style="background:{background};color:{colour}">'
            f'<td style="{cell}">{esc(check.finding)}</td>'
            f'<td style="{cell}">{esc(check.expected or "—")}</td>'
            f'<td style="{cell}">{esc(check.status.replace("_", " "))}</td>'
            f'<td style="{cell}">{esc(verdict)}</td>'
            f'<td style="{cell}"><i>{esc(check.evidence or "—")}</i></td></tr>')
    if not rows:
        rows.append(f'<tr><td style="{cell}" colspan="5">No answer-key findings to compare.</td></tr>')
    header = "".join(f'<th style="{cell}">{h}</th>' for h in
                     ("Finding", "Answer key", "The read says", "Verdict", "Evidence (quoted from the read)"))
    return (
        '<div class="mh-concordance">'
        f'<h4 style="margin:0.4em 0">{esc(title)}</h4>'
        f'<table style="border-collapse:collapse"><thead><tr>{header}</tr></thead>'
        f'<tbody>{"".join(rows)}</tbody></table>'
        f'<p style="margin:0.4em 0"><b>Score: {agreeing} / {total}</b> findings agree with the answer key '
        '(uncertain and not mentioned count as not agreeing). '
        'Checked by keyword rules: read the evidence column.</p></div>')
