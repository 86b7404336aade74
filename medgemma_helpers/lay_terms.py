"""Plain words for findings, and the medical terms a patient needs explained (pure text, no model).

A patient explanation says "fluid around the lung", not "pleural effusion". To judge whether it still says every
finding of the read, the concordance checker reads it with each finding's plain phrasings added to its terms
(`lay_finding`): "there is no fluid around your lungs" denies an effusion by the same negation rules a report's
"no effusion" does, and "your heart is not enlarged" denies cardiomegaly inside the phrase itself.

- `STANDARD_LAY_TERMS`: plain phrasings of every built-in chest finding (chest_findings.STANDARD_FINDINGS), by
  name; `CASE_LAY_TERMS`: those of the other findings the project's cases use (catheters and lines, congestion,
  the interstitial pattern, surgical clips, the pelvic case's fibroid, scans and blood tests), by answer-key
  finding name.
  `{lung}`, `{womb}` and `{edge}` in a phrase stand for the ways a patient text names them ("your left lung",
  "both lungs").
- `JARGON`: medical terms a patient text should not use without saying what they mean. A term counts as glossed
  when a plain word for it stands in the same sentence ("a pleural effusion, which is fluid around the lung").
- `faithfulness`: what an explanation kept, dropped or added against a read (or a case's answer key).

How people write is allowed for: the plain phrases are marked as plain wording (concordance.PLAIN_WORDING), so
everyday words may stand between their words ("your heart is slightly larger than normal", "your 8th rib on the
right side is broken", "fluid around both of your lungs"); a phrase with "…" names an idea whose words stand a few
words apart ("air … escaped": "a pocket of air has escaped from your lung"); a hypothetical or a purpose ("if there
were fluid…", "to check for…") asserts nothing; "the lower part of your lung" is a place, not a lower-zone
predominance, unless the read has one (a distribution the read does not give is never an added finding); a gap
may run over a comma, and a hedge in it ("your heart may be bigger") hedges the finding; "at the top of normal
size" is borderline; a side anywhere in a plain finding's sentence is its side (a heart chamber's side places a
line's tip, not the line), and a sentence that points back ("Both of these...") takes the side of the ones before
it.

A finding is also named by its idea: a thing (fluid, water, liquid; scar; vessels; a tube, a wire, a device) and
where it is or how it looks, a few words apart in one clause, in any inflection ("word+": "scarred", "collecting").
Where two findings share the thing, the gap between the cues bars the other's place: fluid "in" the lungs is oedema
only where no "space", "around" or "lining" stands between ("fluid in the space around your lungs" is an effusion),
and fluid around them is an effusion only where no "tissue" does. A relative clause set off by commas ("fluid, which
might be pus, has pooled") says what the thing is, not whether it is there. A sentence that says what a lookalike
is ("the faint spots are only your nipples") names no finding (`LayTerms.not_it`).

A medical term is explained by a plain word in its sentence or the one before or after it, or once anywhere earlier
in the text, or by a sentence that gives it as the name of what it describes ("a lump bigger than a walnut is
called a mass"), or by the shape of its sentence: a sentence or clause that opens with it and says what it is ("A
lung nodule is a small growth"), "meaning" or ", where" after it, or an explanation in brackets right after it.
Unexplained abbreviations (CT, ILD, r/o) are jargon, and a disease whose name holds a term ("cystic fibrosis") is a
term of its own.

The read is read as a patient would be told it: its airspace disease, infiltrate or pneumonia is the cloudy patch;
a differential ("scarring or atelectasis") and a word de-identification hid before a finding ("XXXX edema") may be
explained hedged or as stated; "partly collapsed" is an atelectasis where the read has one, and otherwise a
collapse the read does not report (a collapsed lung); one of a list of causes the read only leaves open
("nodes, or a tumour cannot be excluded"), or that it only asks to exclude, may be left out; a patchy or focal
opacity may be told as a cloudy patch; and a finding it hedges in one sentence and states in another may be told
either way.

Why hand-written lists: no maintained lay vocabulary can be installed here. The `medlineplus` package on PyPI is
the Genetics Home Reference, not a consumer vocabulary, and the open-access Consumer Health Vocabulary has no
package on a registry the project can reach; so the lists stay short, written for the findings the cases use,
and measured on texts nobody tuned them for (eval/README.md).

These are word lists, not understanding: a phrase the lists lack is not seen. The explanation's table quotes the
sentence behind every verdict so a reader can check the checker.

Layer: cases and concordance (above concordance, whose rules it uses). May import: attributes, cases,
chest_findings, concordance.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass

from .attributes import combine_sides, place_before
from .cases import Case, ReferenceFinding
from .chest_findings import STANDARD_FINDINGS, standard_findings_for
from .concordance import BORDERLINE_WORDING, PLAIN_WORDING, _sentences, _term_pattern, check_findings

# The ways a patient text names a lung, the womb, a growth's edge (expanded in every phrase that holds them), and
# in a phrase with "…" gaps (concordance.PLAIN_WORDING) the words one idea takes ("{fluid}": fluid, water).
_PLACES = {
    # one pattern for all the ways to name a lung: the words before it ("your left", "both of your", "the other")
    # are the everyday words plain wording allows between its words (concordance.PLAIN_WORDING)
    "{lung}": ("the_lung|the_lungs|lung|lungs|one|side",),
    "{womb}": ("the womb", "your womb", "the uterus", "your uterus"),
    "{edge}": ("its edge", "the edge", "its edges", "the edges"),
    "{fluid}": ("fluid+|liquid+|water|watery",),
    "{bone}": ("rib|ribs|bone|bones|collarbone|collar_bone|breastbone|shoulder_blade|spine|backbone|vertebra|"
               "vertebrae|arm|upper_arm|shoulder|hip|hips|femur|thigh_bone|thighbone|pelvis|sternum|scapula|wrist",),
    # things a size is told by: "about the size of a pea", "bigger than a golf ball"
    "{small_thing}": ("pea|peas|grape|marble|coin|blueberry|cherry|raisin|lentil|bean|grain",),
    "{big_thing}": ("plum|golf_ball|orange|egg|tennis_ball|lemon|lime|walnut|apricot|tangerine|fist|peach|apple",),
    "{low}": ("bottom|bottoms|base|bases|lower_part|lower_parts|lower_lungs|lower_lung|lower_zones|low_down|"
              "lower_down",),
    # a gap that may not pass a place outside the lung tissue: "fluid in the space around your lungs" is not in the
    # lungs, "water has gathered in the upper and middle parts of each lung" is
    "{not_in_lung}": ("…!space|spaces|around|outside|lining|linings|between|surrounding|wall|walls|heart|belly|tummy|"
                      "abdomen|leg|legs|ankle|ankles|next|beside|sac|bag|pocket|film|layer|base|bottom|corner|chest|fissure|"
                      "groove",),
    # a gap that may not pass the lung tissue: "liquid seeping into the lung tissue" is no effusion
    "{not_around}": ("…!tissue|tissues|air_sacs|inside|within|throughout|with|meaning|together",),
    # nor, before the place around the lung, a lung the fluid is already in: "fluid in the lungs, which shows as
    # lines around the middle of both lungs" is in the lungs
    "{not_placed}": ("…!tissue|tissues|air_sacs|inside|within|throughout|lung|lungs",),
    # a short gap that stays outside the lung tissue: "fluid at the bottom of both lungs" may lie around them, "fluid
    # in the lung tissue at the bottom of both lungs" is in them
    "{not_tissue}": ("…!!tissue|tissues|air_sacs|inside|within|throughout",),
    # a longer gap that stays in one clause about one thing: the vessels of the lungs, not the heart's or a leg's
    # a gap that stays with one thing: "pneumonia in the lower left lung", not "pneumonia and scarring in the right"
    "{one_thing}": ("…!and|or|but|while|whereas|with|plus",),
    "{heart_and}": ("…!lung|lungs|normal|but|while|vessel|vessels|blood",),
    "{heart_gap}": ("…!and|but|or|while|normal|vessel|vessels|aorta|artery|arteries|lung|lungs|chest|space|middle",),
    "{vessels_gap}": ("…!and|but|or|while|whereas|although|because|heart|aorta|neck|leg|legs|arm|arms|brain|"
                      "normal",),
}


def _expand(phrases: Sequence[str]) -> tuple[str, ...]:
    """Each phrase with every placeholder replaced by each of its wordings."""
    done: list[str] = []
    for phrase in phrases:
        variants = [phrase]
        for placeholder, wordings in _PLACES.items():
            if any(placeholder in v for v in variants):
                variants = [v.replace(placeholder, w) for v in variants for w in wordings]
        done.extend(variants)
    return tuple(dict.fromkeys(done))


@dataclass(frozen=True)
class LayTerms:
    """Plain wordings of one finding: phrases that name it, and plain normal statements that deny it."""

    says: tuple[str, ...]
    normal: tuple[str, ...] = ()
    examples: tuple[str, ...] = ()  # one wording of each phrase, to show a reader
    borderline: tuple[str, ...] = ()  # phrases that say it only as borderline: a hedge ("at the top of normal")
    not_it: tuple[str, ...] = ()  # phrases that say what a lookalike is instead ("the faint spots are your nipples")


def plain_example(phrase: str) -> str:
    """One literal wording of a plain phrase: its first choice at each "a|b", its gaps closed ("heart … wider")."""
    words = [token.split("|")[0].replace("_", " ").replace("+", "") for token in phrase.split()
             if not token.startswith("…")]
    return " ".join(words)


def _lay(says: Sequence[str], normal: Sequence[str] = (), borderline: Sequence[str] = (),
         not_it: Sequence[str] = ()) -> LayTerms:
    examples = [phrase for phrase in says if "…" not in phrase and "|" not in phrase and "+" not in phrase]
    for placeholder, wordings in _PLACES.items():
        examples = [phrase.replace(placeholder, plain_example(wordings[0])) for phrase in examples]
    return LayTerms(_expand(says), _expand(normal), tuple(examples), _expand(borderline), _expand(not_it))


STANDARD_LAY_TERMS: dict[str, LayTerms] = {
    "cardiomegaly": _lay(
        ("enlarged heart", "heart is enlarged", "large heart", "big heart", "bigger heart", "larger heart",
         "heart is large", "heart is big", "heart is bigger than normal", "heart is larger than normal",
         "heart is bigger than it should be", "heart is larger than it should be",
         "heart has grown", "heart has got bigger", "heart has become bigger", "heart has become larger",
         # in other words: the heart and what it does or looks like, a few words apart
         "heart {heart_gap} wider|broader|oversized|swollen|bigger|larger|enlarge+|grown|stretch+|widen+",
         # "your heart looks big", not "your heart looks normal and the big vessels are fine"
         "heart {heart_gap} look+|appear+|seem+ {heart_gap} big|large", "heart … large|big|larger|bigger side",
         "heart … takes up more|too_much room|space", "heart … too big|large|wide",
         # the heart and the room it takes: "the heart is filling too much of the chest"
         "heart … fill+|take+_up|occup+ … more|too_much of … chest",
         # a read's heart that has grown: "interval increase in heart size"
         "increase+ in … heart|cardiac size", "heart|cardiac size … increased|enlarged",
         # a read's heart and mediastinum as one outline, enlarged: a patient is told the heart looks bigger
         "enlarged|large cardiomediastinal silhouette|contour|contours",
         "cardiomediastinal silhouette|contour|contours … enlarged|large|enlargement",
         # the heart with another thing, both enlarged: "your heart and the middle of your chest look enlarged"
         "heart and {heart_and} look+|appear+|seem+|are|is … enlarge+|bigger|larger|big|large|wider|widened|swollen"),
        ("heart is a normal size", "heart is normal size", "heart is normal in size", "heart is the normal size",
         "normal-sized heart", "heart size is normal", "heart looks normal"),
        # at the edge of normal is borderline, as a read's "top normal" or "borderline" is
        ("top|upper|high|higher end|edge|limit|limits|side|part|range of normal", "top|upper of normal",
         "borderline|edge|limit|limits of normal",
         # "your heart is on the border between a normal size and slightly enlarged"
         "heart … border|borderline|boundary|line between … normal",
         # "your heart is on the large side of normal"
         "heart … large|big|larger|bigger|high side of normal")),
    "widened mediastinum": _lay(
        ("widened space between the lungs", "wider space between the lungs", "space between the lungs is wider",
         "space between the lungs is widened", "widened middle of the chest", "middle of the chest is wider",
         "middle of the chest is widened",
         "middle|centre|center|central|space … chest|lungs … wider|broader|widened|bigger",
         # a read's name for its outline: "a widened mediastinal contour", "a broad mediastinal outline"
         "mediastinal silhouette|contour|contours|outline|shadow … wide|widened|broad|broadened",
         "wide|widened|broad|broadened mediastinal silhouette|contour|contours|outline|shadow|XXXX"),
        ("space between the lungs is normal", "middle of the chest is normal", "middle of the chest looks normal")),
    "consolidation": _lay(
        ("cloudy area", "cloudy patch", "filled-in area", "filled-in part of {lung}", "part of {lung} is filled in",
         "solid-looking area", "dense patch",
         "part|parts|area|areas|patch|patches|section|sections|piece … lung|lungs … solid|filled|cloudy|white|airless|"
         "denser|whiter|hazy|hazier|"
         "opaque",
         "part|area|patch|section|piece|bottom|top|base|lower_part|upper_part … solid|filled|cloudy|white|airless|"
         "denser|whiter|hazy|hazier|opaque",
         "patch|area … infection", "some|early|active|new infection", "bit|touch of infection",
         # an infection of the lung is what a patient is told an airspace opacity means; and a read's other names
         # for an airspace opacity are the same finding to a patient ("cloudy area" says them all)
         "pneumonia", "chest infection", "lung infection", "infection in {lung}",
         # a read's kind of lung infection: "atypical infection is another consideration"
         "atypical|unusual|viral|bacterial|pulmonary infection|infections",
         "airspace|air_space|alveolar disease|opacity|opacities|shadowing|infiltrate|infiltrates", "infiltrate",
         "infiltration",
         # a shadow or a cloudiness in a part of a lung ("shadowing at the base of your left lung", "a streaky patch
         # of cloudiness low in the lung"), not a round one (a nodule's "round shadow")
         "patch+|streak+|area … cloudiness|haziness|shadowing", "streaky|patchy shadow|shadows",
         # (bare "patchy shadowing" may be a read's interstitial change or congested vessels; white shadowing is not)
         "streaky|patchy white|fluffy shadow|shadows|shadowing",
         "shadowing|cloudiness|haziness|haze at|in|low_in|over {low}|{lung}|lobe|top|upper_part",
         # an infection where it settled, a part of a lung by how it looks, an air space filled
         "infection|pneumonia {one_thing} in|into|within {one_thing} lung|lungs|lobe",
         "lung|lungs … look+|appear+|seem+ … denser|whiter|solid|cloudy|opaque|airless",
         "solid-looking|solid|cloudy|dense|denser|whiter|white|hazy patch|patches|area|areas|region|regions",
         "inflammation|infection|pus|mucus … fill+|in|inside … air_spaces|air_sacs|airspaces|airspace",
         "air_spaces|air_sacs|airspaces {one_thing} filled|filled_in|filling_in|filled_up|full_of",
         # and a read's pneumonitis: an inflamed patch of lung to a patient
         "pneumonitis"),
        ("lungs look clear", "lungs are clear"),
        # patches a text says are scarring are the scarring ("patches of shadowing that look like old scarring")
        not_it=("look+|appear+|seem+|fit+ like|with|to_be … scar|scars|scarring|scarred",
                # an infection long over is what left a scar or a spot, not a patch on this film ("a speck left by
                # an old infection", "from pneumonia years ago")
                "old|past|previous|earlier|former|healed|childhood infection|infections|pneumonia",
                "infection|infections|pneumonia {one_thing} years_ago|long_ago|in_the_past|as_a_child",
                # a part of a lung that collapsed shows white: the whiteness is the collapse
                "collaps+|deflated … solid|white|whiter|dense|denser")),
    "pleural effusion": _lay(
        ("fluid around {lung}", "fluid build-up around {lung}", "fluid buildup around {lung}",
         "fluid in the space around {lung}", "fluid between {lung} and the chest wall", "water around {lung}",
         "water on the lung",
         # the fluid and where it lies, in one clause, in either order: "a little liquid lies beside your left lung",
         # "around your left lung there is some fluid"
         "{fluid} {not_placed} around|outside|between|surrounding|next_to|beside|alongside|against|under|underneath|"
         "beneath {not_around} lung|lungs|ribs|it",
         "around|outside|surrounding|beside|next_to … lung|lungs {not_around} {fluid}",
         "{fluid} … in|into … lining|linings|pleural_space|fissure|fissures|groove|grooves",
         # the space a text has just placed around the lung, pointed back to: "some fluid in that same space"
         "{fluid} … in|into|within same space|gap",
         "{fluid} {not_tissue} pool+|gather+|collect+|built_up|build+_up|settle+|sit+|lying|lies {not_tissue} "
         "bottom|base|corner|lower_part|low|low_down … chest",
         # at the very bottom of a lung is where an effusion lies; oedema is told as fluid in the lungs (and "fluid
         # in the lung tissue at the bottom of both lungs" is in them)
         "{fluid} {not_tissue} at|in|around|line+|lining|coat+|cover+ {not_tissue} bottom|bottoms|base|bases|corner|"
         "corners … lung|lungs|chest",
         # the fluid around a lung, pointed back to: "pools of fluid around both of them"
         "{fluid} {not_placed} around|outside|surrounding|beside … both_of_them|them|each_of_them",
         # the corner of the chest rounded off by fluid: "the sharp corner is rounded off, which may be a little fluid"
         "corner|corners|angle|angles … rounded|blunted|blunt|dulled|filled|hidden …!tissue|inside|within {fluid}",
         # fluid on a side of the chest, the side's own words right after it ("a little fluid on both sides");
         # fluid in the lungs on both sides is in them
         "{fluid} on|down both|either|each|one|that|this|the_right|the_left|your_right|your_left side|sides")),
    "pneumothorax": _lay(
        ("collapsed lung", "lung is collapsed", "lung has collapsed", "air around {lung}", "air leak around {lung}",
         "air outside {lung}", "air in the space around {lung}", "air between {lung} and the chest wall",
         "air … escaped|leaked|leaking|leaks|got_out|slipped_out|outside|around|between|collected|pocket",
         # air trapped or caught is outside the lung only where the text says so: emphysema traps air inside it
         "air … trapped|caught|stuck … outside|around|between|beside|against",
         "pocket|bubble|rim|layer|collection … of … air",
         # air with fluid or blood in the same space is a pneumothorax too (a read's "hydropneumothorax")
         "hydropneumothorax|hydropneumothoraces|hemopneumothorax|haemopneumothorax|pyopneumothorax"),
        ("lung has not collapsed", "lung hasn't collapsed", "lungs have not collapsed", "lungs haven't collapsed",
         "lung is fully inflated"),
        # air that escaped into the belly, or lies under the diaphragm, is free air there, not around a lung
        not_it=("air … bowel|bowels|belly|tummy|abdomen|gut|guts|stomach|intestine|intestines",
                # a long way on (a gap that bars a denial may hold ten words): "a pocket of air and fluid that is
                # most likely a large hiatus hernia"
                "air …!no hernia|hiatus",
                "air … under|below|beneath … diaphragm",
                # air pockets where lung tissue was destroyed are emphysema's bullae, inside the lung
                "air pocket|pockets|space|spaces|sac|sacs … where … lung|tissue … destroyed|damaged|broken_down|lost",
                "thin-walled … air")),
    "pulmonary oedema": _lay(
        ("fluid in {lung}", "extra fluid in {lung}", "fluid build-up in {lung}", "fluid buildup in {lung}",
         "fluid inside {lung}", "water in {lung}", "fluid has built up in {lung}", "fluid has collected in {lung}",
         "fluid in the tissue of {lung}", "fluid in the lung tissue", "fluid in them",
         "lung|lungs|lung_tissue … waterlogged|soggy|sodden|wet|congested",
         "{fluid} … in|inside|within|into … lung_tissue|air_sacs",
         "{fluid} … has|is … filling|soaked|leaked_into … lungs",
         # the fluid and the lungs it lies in, in one clause: "water has gathered inside each lung",
         # "your lungs have fluid in them", "your lungs are full of water"
         "{fluid} {not_in_lung} in|inside|within|into|throughout|through|across|all_over {not_in_lung} lung|lungs",
         "lung|lungs {not_in_lung} {fluid} in|inside|within them|it",
         "lung|lungs … full|filled|filling|soaked|heavy|wet … of|with {fluid}",
         "lung|lungs {not_in_lung} hold+|contain+|carry+ {not_in_lung} {fluid}",
         # the tissue of the lungs, not the space around them
         "{fluid} … tissue … lung|lungs"),
        # fluid held in one area, patch or pocket ("a hazy area that might contain some fluid") is in that place,
        # not through the lungs
        not_it=("area|patch|spot|pocket|cavity|hole {one_thing} contain+|hold+|with|of|filled_with {one_thing} "
                "{fluid}",)),
    "emphysema": _lay(
        ("damaged air sacs", "damage to the air sacs", "damage to the tiny air sacs", "air sacs are damaged",
         "damaged tiny air sacs",
         "air_sacs|air_pockets|air_spaces|air_bags … damaged|worn|stretched|over-stretched|broken|destroyed|"
         "floppy|lost", "damaged|worn|destroyed|broken|wrecked … air_sacs|air_pockets|air_spaces")),
    # the scar in any form ("the lung has scarred further", "some scarring"), and lungs that have stiffened
    "pulmonary fibrosis": _lay(("scarring", "scar", "scar tissue", "scarred lung", "lungs are scarred", "scar+",
                                "lung|lungs|lung_tissue … stiff|stiffer|stiffen+|tough|toughen+|hardened|scar+",
                                # a read's long-standing interstitial change, which a patient is told as scarring
                                "chronic interstitial change|changes|disease|lung_disease|markings|fibrotic"),
                               # a chalky spot that is a scar ("a chalky speck, an old healed scar") is a healed spot
                               # (a granuloma), not scarring of the lung
                               not_it=("chalky|calcified|healed speck|spot|dot|fleck {one_thing} scar|scars",
                                       # a granuloma told as the scar it is ("a granuloma, an old healed scar")
                                       "granuloma|granulomas … scar|scars", "scar|scars … granuloma|granulomas",
                                       "scar|scars and|or chalky|calcified spot|spots|speck|specks|dot|dots")),
    "fracture": _lay(
        ("broken bone", "broken rib", "cracked rib", "cracked bone", "crack in a bone", "break in a bone",
         "bone is broken", "rib is broken", "ribs were broken", "rib was broken", "broken ribs",
         # the break itself, or a pronoun for the bone just named: "this is an old break", "they were broken"
         "a|an|old|healed|healing break|breaks|crack|cracks", "it|they is|are|was|were|has_been|have_been "
         "broken|cracked|fractured", "it|they look+|appear+|seem+ broken|cracked|fractured",
         "be|are|were|being breaks|cracks",
         "{bone} … broken|cracked|snapped|break|breaks|crack|cracks|fractured|given_way|knit+|injured",
         # the bones, where they are, then that they are broken: "ribs at the front of your right side, the 5th
         # down to the 9th, are broken"
         "{bone} {one_thing} is|are|was|were|has_been|have_been broken|cracked|fractured|snapped",
         "injury|injuries … to|of|in … {bone}",
         "break|breaks|crack|cracks … in … {bone}",
         # a read's callus is the new bone of a healing break
         "callus|calluses|callous"),
        ("bones look normal", "bones are normal", "bones look healthy")),
    # a shadow said to be a body part ("the faint spots are only your nipples") is no spot in the lung
    "nodule": _lay(("small spot", "round spot", "spot on {lung}", "spot in {lung}", "small lump",
                    "round|roundish|rounded|small|tiny|pea-sized|little … spot|shadow|speck|dot|blob|ball",
                    # a size told by a small thing it matches: "a spot about the size of a pea"
                    "size of a|an {small_thing}",
                    # a read's granulomas are the small spots a patient is told of ("old healed chalky spots")
                    "granuloma|granulomas|granulomata|granulomatous",
                    "chalky|calcified spot|spots|speck|specks|dot|dots",
                    # a spot with its size in centimetres or millimetres ("the 1 cm spot")
                    "cm|mm|centimetre|centimeter|millimetre|millimeter|centimetres|centimeters|millimetres|"
                    "millimeters spot|shadow|dot",
                    # ... or after it: "a spot about 1.5 cm across", "a dot measuring 6 millimetres"
                    "spot|dot|speck {one_thing} cm|mm|centimetre|centimeter|millimetre|millimeter|centimetres|"
                    "centimeters|millimetres|millimeters"),
                   # a lookalike said to be a body part, and dots that make up a pattern ("a fine pattern of tiny
                   # spots and lines") or a big thing a size is told by ("a lump bigger than a golf ball")
                   not_it=("shadow|shadows|spot|spots … is|are|was|were … nipple|nipples|breast|breasts|skin",
                           # a shadow that proves to be something else ("turns out to be a strip of collapsed lung")
                           "shadow|shadows|spot|spots …!no turns_out|turned_out|proves|proved … to_be",
                           "patchy|streaky shadow|shadows|spot|spots",
                           # a spot in a bone is the bone's, not the lung's
                           "spot|spots|shadow|shadows|dot|dots … in|on|within|inside … {bone}",
                           "pattern|network|web|mesh of … spot|spots|dot|dots|speck|specks",
                           "spot|spots|dot|dots|speck|specks and|or line|lines|streak|streaks|strand|strands",
                           "than|of a|an {big_thing}",
                           # a dark spot is air (a hole or a bubble), not a growth, which shows white
                           "dark|black|darker|see-through|lucent spot|spots|area|areas")),
    "mass": _lay(("lump", "growth", "lump or growth", "larger lump", "tumour", "tumor",
                  # a size told by a large thing it matches: "something the size of a plum", "bigger than an egg"
                  "size of a|an {big_thing}", "bigger|larger than a|an {big_thing}"),
                 # a lump of healing bone over a break is the bone's
                 not_it=("lump|lumps {one_thing} bone_healing|healing_bone|healed_bone|callus",
                         "lump|lumps {one_thing} from|of|around|over … old|healed|healing break|breaks|fracture")),
    # a drain is the tube a patient is told of ("your chest drain"); not the verb ("drain the fluid")
    # an implanted heart device is one too: "a pacemaker", "the battery box of a heart device", "a lead threaded
    # into the heart" (wire stitches that hold a breastbone are not)
    "line or tube": _lay(("ICD", "AICD", "tube", "thin tube", "plastic tube", "medical tube",
                          "thin tube into a vein", "tubing",
                          "a|the|chest|plastic drain|drains", "pacemaker", "defibrillator", "generator",
                          "a|the|your|chest port|ports",
                          "heart|cardiac device", "device|box|battery … heart|skin",
                          "wire|wires|lead|leads … run+|go+|pass+|thread+|lie+|sit+ … into|in "
                          "… heart|vein|chamber|chambers",
                          "wire|wires|lead|leads … into|inside … heart|chamber|chambers",
                          # a line by what it is made of, or by the vein it runs in ("a fine line" alone is a
                          # pattern in the lung, not a device)
                          "plastic|flexible|soft line|lines", "line|lines|tube|tubes … from|into|in|through|up|along "
                          "… vein|veins|arm|neck",
                          # a line by where it goes in: "the line that goes in under your left collarbone"
                          "line|lines|tube|tubes … under|beneath|below|behind … collarbone|collar_bone|clavicle",
                          # a read's venous device whose name de-identification hid ("right chest wall venous XXXX")
                          "venous|central|subclavian|jugular XXXX", "cardiac|heart XXXX device",
                          "XXXX {one_thing} with|its tip|tips", "XXXX {one_thing} tip|tips",
                          "XXXX {one_thing} in|at|into|within … SVC|superior_vena_cava|cavoatrial|caval",
                          # a line told to be where it should be: "the line on your left is still in place"
                          "line|lines|tube|tubes {one_thing} is|are|was|were … in_place|in_position|well_placed",
                          "line|lines|tube|tubes … put_in|inserted|placed|threaded",
                          # a line by its kind, or by where its tip lies
                          "tunnelled|tunneled|central|picc|iv|drip line|lines", "line|lines|tube|tubes … tip|tips",
                          "line|lines|tube|tubes {one_thing} tunnel+|tunnell+",
                          "tip|tips of the|your|this|that|each line|lines|tube|tubes",
                          "long-term|long_term line|lines")),
    "pulmonary vascular congestion": _lay(
        ("swollen blood vessels", "fuller blood vessels", "blood vessels in {lung} are swollen",
         "blood vessels in {lung} are fuller", "blood vessels in {lung} are full", "backed-up blood",
         "blood is backing up", "blood backing up",
         # the vessels where they are, and how they look: "the vessels in the middle of your lungs look fuller"
         "vessels|veins … lung|lungs … swollen|fuller|full|overfull|overfilled|overloaded|engorged|congested|"
         "widened|stretched|bulging|enlarged|bigger|larger|wider|prominent|backed_up|backing_up|clogged|stand+_out",
         # a read's vessels by their other names: "the pulmonary vessels are still enlarged"
         "pulmonary vasculature|vascularity|vessels|XXXX … enlarged|dilated|distended|engorged",
         "pulmonary|pulmonary_venous|venous|vascular engorgement|distension|distention",
         # and a read's vessels at the hila, prominent or congested: "central vascular prominence", "mild central
         # vascular congestive changes"
         "central|hilar|perihilar vascular|vascularity|vasculature|vessel|vessels prominence|prominent|fullness|"
         "engorgement|congestive|congested",
         "prominent|engorged|full|fuller central|hilar|perihilar vascular|vascularity|vasculature|vessel|vessels",
         "prominent|prominence|fullness|engorgement|engorged of central|hilar|perihilar vascular|vascularity|"
         "vasculature|vessel|vessels",
         # ... with more words between: "prominence of the central pulmonary vasculature"
         "prominence|fullness|engorgement of the central|hilar|perihilar pulmonary vascularity|vasculature|vessels",
         # vessels that look full, or a congestion told beside them: "the vessels in the middle of your chest look
         # full, a sign of congestion"
         "blood_vessels|vessels|veins {vessels_gap} look+|appear+|seem+|are|is {vessels_gap} full",
         "blood_vessels|vessels|veins {vessels_gap} congestion",
         # the blood vessels and how they look, where the lungs go unnamed: "the vessels look overloaded"
         "blood_vessels|vessels|veins {vessels_gap} swollen|fuller|overfull|overfilled|overloaded|engorged|"
         "congested|bulging|over_full|over_filled"),
        # the place where the vessels enter a lung, standing out, is the hilum, not the vessels themselves ("the areas
        # where the blood vessels enter each lung stand out")
        not_it=("area|areas|part|parts|point|points|root|roots|place|places … where … vessels|veins … enter+|go_in|"
                "come_in|join+",)),
    # a place alone ("the lower part of your lung") says where, not that a pattern is worse there
    "lower-zone predominance": _lay(
        ("mostly|mainly|worse|worst|especially|more|most … {low}", "{low} … more|most|worse|worst"),
        # "more of the bottom of the lung has closed" says how much of a place, not where a pattern is worse
        not_it=("more|most of {low}",)),
}

CASE_LAY_TERMS: dict[str, LayTerms] = {
    "catheter": _lay(("tube", "thin tube", "plastic tube", "medical tube", "thin tube into a vein",
                      "a|the|chest|plastic drain|drains")),
    "surgical clips": _lay(("small metal clips", "metal clips", "clips from an earlier operation",
                            "clips from a past operation")),
    "cavitation": _lay(("hole in {lung}", "hollow area", "hollow space", "hollow spot")),
    "reticular opacities": _lay(
        ("net-like pattern", "net-like lines", "lacy pattern", "lacy lines", "web of fine lines", "fine lines",
         "network of lines", "criss-cross lines")),
    # the pelvic case: its history findings ...
    "uterine fibroid": _lay(
        ("growth in {womb}", "lump in {womb}", "growth of the womb muscle", "non-cancerous growth",
         "noncancerous growth", "benign growth")),
    "pelvic ultrasound": _lay(
        ("sound-wave scan", "scan that uses sound waves", "scan using sound waves", "ultrasound scan")),
    "mri": _lay(("magnet scan", "scan that uses magnets", "scan using magnets", "scan that uses a magnet",
                 "mri scan")),
    "blood count (for anaemia)": _lay(("blood test", "blood count", "iron test", "test for low iron",
                                       "check of your iron")),
    "pregnancy test": _lay(("pregnancy test", "test for pregnancy", "check for pregnancy")),
    # ... and what an ultrasound or MRI of a fibroid shows
    "fibroid on the image": _lay(
        ("growth in {womb}", "lump in {womb}", "non-cancerous growth", "noncancerous growth", "benign growth")),
    "enlarged uterus": _lay(
        ("enlarged womb", "bigger womb", "larger womb", "womb is enlarged", "womb is bigger than normal",
         "womb is larger than normal", "uterus is bigger than normal")),
    "well-defined margins": _lay(("clear edges", "smooth edges", "sharp edges", "clear outline", "smooth outline")),
    "edge shadowing": _lay(("shadows at {edge}", "shadows along {edge}", "shadow at {edge}", "dark lines at {edge}")),
    "peripheral doppler flow": _lay(
        ("blood flow around {edge}", "blood flowing around {edge}", "blood flow around the outside")),
    "t2 hypointense": _lay(("dark on the mri", "dark on mri", "dark on the scan", "dark on the magnet scan")),
}


def _name_key(name: str) -> str:
    return " ".join(name.lower().split())


def lay_terms_of(finding: ReferenceFinding) -> LayTerms:
    """The plain wordings of an answer-key finding: its built-in chest finding's and its own, name by name."""
    says: list[str] = []
    normal: list[str] = []
    examples: list[str] = []
    borderline: list[str] = []
    not_it: list[str] = []
    entries = [STANDARD_LAY_TERMS[e.name] for e in standard_findings_for(finding.name, tuple(finding.synonyms))]
    own = CASE_LAY_TERMS.get(_name_key(finding.name))
    for entry in [*entries, *([own] if own else [])]:
        says.extend(entry.says)
        normal.extend(entry.normal)
        examples.extend(entry.examples)
        borderline.extend(entry.borderline)
        not_it.extend(entry.not_it)
    return LayTerms(tuple(dict.fromkeys(says)), tuple(dict.fromkeys(normal)), tuple(dict.fromkeys(examples)),
                    tuple(dict.fromkeys(borderline)), tuple(dict.fromkeys(not_it)))


def lay_finding(finding: ReferenceFinding) -> ReferenceFinding:
    """A copy of the finding whose terms and normal statements also hold its plain wordings."""
    lay = lay_terms_of(finding)
    # marked as plain wording: "your heart is slightly larger than normal" still says "heart is larger than normal"
    return dataclasses.replace(finding, synonyms=(*finding.synonyms, *(PLAIN_WORDING + s for s in lay.says),
                                                  *(BORDERLINE_WORDING + s for s in lay.borderline)),
                               absent_when=(*finding.absent_when, *(PLAIN_WORDING + s for s in lay.normal)))


# ---------------------------------------------------------------- jargon


@dataclass(frozen=True)
class Jargon:
    """A medical term (and its other spellings) and the plain words that explain it."""

    term: str
    glosses: tuple[str, ...]
    spellings: tuple[str, ...] = ()


def _j(term: str, glosses: str, *spellings: str) -> Jargon:
    return Jargon(term, tuple(g.strip() for g in glosses.split(",")), spellings)


JARGON: tuple[Jargon, ...] = (
    _j("cardiomegaly", "big, large, enlarge, swollen"),
    _j("cardiothoracic ratio", "heart, width, wide"),
    _j("cardiac silhouette", "heart, outline, shadow"),
    _j("cardiac", "heart"),
    _j("mediastinum", "middle of the chest, between the lungs, centre of the chest, center of the chest",
       "mediastinal"),
    _j("pleural effusion", "fluid, water"),
    _j("effusion", "fluid, water"),
    _j("pleura", "lining, around the lung, space around", "pleural"),
    _j("pneumothorax", "collapse, air around, air leak, air outside, air in the space", "pneumothoraces"),
    _j("consolidation", "fill, cloudy, solid, dense, patch, white", "consolidative"),
    _j("opacity", "white, cloud, shadow, haz, patch, dense", "opacities", "opacification", "opacified"),
    _j("infiltrate", "cloud, patch, shadow, filled"),
    _j("oedema", "fluid, water, swell, swollen", "edema"),
    _j("pulmonary vascular congestion", "blood vessel, swollen, full, backed, backing"),
    _j("vascular congestion", "blood vessel, swollen, full, backed, backing"),
    _j("vasculature", "blood vessel", "vascular"),
    _j("cephalization", "blood vessel", "cephalisation", "upper lobe diversion"),
    _j("Kerley B lines", "fluid, line"),
    _j("pulmonary embolism", "clot"),
    _j("embolism", "clot", "embolus", "emboli"),
    _j("pulmonary", "lung"),
    _j("interstitial", "tissue between, lung tissue, framework, supporting tissue, tissue that supports, "
       "tissue around the air sacs, network of tissue, web of tissue"),
    _j("reticular", "net, lace, lacy, web, fine line", "reticulation", "reticulonodular"),
    _j("fibrosis", "scar", "fibrotic"),
    # a disease of its own, not a scar: the longer term wins where the two overlap
    _j("cystic fibrosis", "inherited, genetic, sticky mucus, thick mucus, runs in families", "CF"),
    _j("emphysema", "air sac, damaged"),
    _j("atelectasis", "collapse, not fully inflated, deflated, closed up, no air, airless, not open, not fully open"),
    _j("nodule", "spot, lump", "nodular"),
    _j("lesion", "spot, area, lump, growth"),
    _j("mass", "lump, growth"),
    _j("cavitation", "hole, hollow", "cavitary", "cavitating"),
    _j("catheter", "tube, line"),
    _j("ventriculoperitoneal", "brain, belly, shunt, drains fluid", "VP shunt"),
    _j("jugular", "neck"),
    _j("tunnelled", "under the skin, tunnel", "tunneled"),
    _j("axilla", "armpit", "axillary", "axillae"),
    _j("hemithorax", "side of the chest, half of the chest", "haemithorax"),
    _j("hemidiaphragm", "breathing muscle, muscle, diaphragm", "haemidiaphragm"),
    _j("costophrenic angle", "corner, bottom of the lung, base of the lung", "costophrenic"),
    _j("meniscus", "curve, curved, fluid"),
    _j("perihilar", "root, middle, centre, center, around where"),
    _j("hilar", "root, middle, centre, center, where the", "hilum", "hila"),
    _j("parenchyma", "lung tissue, tissue", "parenchymal"),
    _j("bilateral", "both", "bilaterally"),
    _j("unilateral", "one side"),
    _j("bibasilar", "bottom, base, lower", "bibasal", "basilar"),
    _j("apical", "top", "apex", "apices"),
    _j("radiograph", "x-ray, x ray, xray", "radiographic", "radiography"),
    # abbreviations a patient cannot look up from the words around them
    _j("CT", "computed tomography, computerised tomography, computerized tomography, detailed x-ray, detailed scan, "
       "cross-section, slices, many angles, 3D, three-dimensional"),
    _j("ILD", "interstitial lung disease, scarring, stiff, lung tissue"),
    _j("r/o", "rule out, check for, make sure"),
    _j("COPD", "chronic obstructive, lung disease, emphysema, bronchitis, airways"),
    _j("pulmonary rehabilitation", "exercise, programme, program, classes, breathing"),
    # diseases whose names hold other terms: each is a term of its own, explained or not
    _j("chronic obstructive pulmonary disease", "lung disease, emphysema, bronchitis, airways"),
    _j("chronic bronchitis", "cough, mucus, phlegm, inflamed airways, airways"),
    _j("CHF", "heart failure, heart is not pumping, weak heart"),
    _j("PICC", "tube, line, vein"),
    _j("thoracic", "chest", "thorax"),
    _j("thoracentesis", "needle, drain", "thoracocentesis"),
    _j("angiography", "scan, dye", "angiogram", "CTPA"),
    _j("echocardiography", "ultrasound, heart scan, scan", "echocardiogram"),
    _j("natriuretic peptide", "blood test", "BNP"),
    _j("congestive", "fluid, back up, backs up, pump"),
    _j("leiomyoma", "fibroid, growth, lump", "leiomyomas", "leiomyomata", "myoma"),
    _j("myometrium", "muscle, wall of the womb, womb", "myometrial"),
    _j("uterus", "womb", "uterine"),
    _j("transvaginal", "through the vagina, inside, internal"),
    _j("sonography", "ultrasound, sound wave", "ultrasonography", "sonographic"),
    _j("Doppler", "blood flow"),
    _j("hypointense", "dark", "hypointensity"),
    _j("hypoechoic", "dark"),
    _j("hyperechoic", "bright"),
    _j("anaemia", "blood count, red blood cell, iron, low blood", "anemia"),
    _j("haemoglobin", "blood, red blood cell", "hemoglobin"),
    _j("ferritin", "iron"),
    _j("hCG", "pregnancy", "beta-hCG"),
    _j("unremarkable", "normal, nothing abnormal, nothing wrong, nothing unusual"),
    _j("benign", "not cancer, harmless, non-cancerous, noncancerous"),
    _j("malignant", "cancer", "malignancy"),
    _j("neoplasm", "growth, tumour, tumor, cancer", "neoplastic"),
    _j("idiopathic", "unknown cause, no cause, not known, cause is unknown, cause is not known"),
    _j("aetiology", "cause", "etiology"),
    _j("chronic", "long-term, long term, lasting, for a long time"),
    _j("dyspnoea", "short of breath, breathless, breathing", "dyspnea"),
    _j("pleuritic", "breath, breathing"),
    _j("orthopnoea", "lying flat, lying down", "orthopnea"),
    _j("haemoptysis", "coughing up blood, blood", "hemoptysis"),
)


def _any_word(words: Sequence[str], *, suffix: str, between: str = r"[\s-]+", any_determiner: bool = False
              ) -> re.Pattern[str]:
    alternation = "|".join(re.escape(w).replace(r"\ ", between).replace(r"\-", r"[\s-]*") for w in words)
    if any_determiner:  # "the middle of the chest" explains as "the middle of your chest" does
        alternation = re.sub(r"(?<![A-Za-z])the(?![A-Za-z])", _DETERMINER, alternation)
    return re.compile(rf"(?<![A-Za-z])(?:{alternation}){suffix}(?![A-Za-z])", re.IGNORECASE)


# a term may be plural ("nodules"); a gloss may be inflected ("scar" glosses by "scarring", "enlarge" by "enlarged")
# and hold a word or two more between its words ("no cause" in "no clear cause", "no cause is ever found")
_DETERMINER = r"(?:the|your|my|his|her|their|each|both|a|an|this|that)"
_TERMS = [(entry, _any_word((entry.term, *entry.spellings), suffix="(?:s|es)?"),
           _any_word(entry.glosses, suffix="[a-z]{0,4}", between=r"[\s-]+(?:[A-Za-z'’]+[\s-]+){0,2}",
                     any_determiner=True))
          for entry in JARGON]


@dataclass(frozen=True)
class JargonUse:
    """A medical term left without a plain gloss in its sentence, and that sentence."""

    term: str
    sentence: str


def jargon_left(text: str) -> list[JargonUse]:
    """Each medical term (JARGON) that the text never explains, with the sentence of its first unexplained use.

    A term is explained where a plain word for it stands in its sentence or in the one just before or after it
    ("Doctors may drain the fluid with a needle. This is called a thoracentesis."), or a few sentences later
    for a question that opens a text ("What is an effusion? ... Fluid collects around the lung."); once
    explained, it stays explained for the rest of the text.
    """
    sentences = _sentences(text or "")
    explained: dict[str, int] = {}  # each explained term, and the sentence that explained it
    found: dict[str, JargonUse] = {}
    first: dict[str, int] = {}  # the sentence of each term's first unexplained use
    for index, sentence in enumerate(sentences):
        # the longest term wins where two overlap ("pleural effusion", not "pleural" and "effusion")
        matches = sorted(((m.start(), m.end(), entry, gloss) for entry, pattern, gloss in _TERMS
                          for m in pattern.finditer(sentence)), key=lambda hit: hit[0] - hit[1])
        taken: list[tuple[int, int, Jargon, re.Pattern[str]]] = []
        for start, end, entry, gloss in matches:
            if not any(a < end and start < b for a, b, _, _ in taken):
                taken.append((start, end, entry, gloss))
        around = " ".join(sentences[max(0, index - 1):index + 2])
        # the next sentence may say what this one's term means: "... mild atelectasis. That's a fancy way of saying
        # a small area of lung isn't fully open."
        told_next = index + 1 < len(sentences) and bool(_DEFINES_THE_LAST.match(sentences[index + 1]))
        for start, end, entry, gloss in sorted(taken, key=lambda hit: hit[0]):  # in the order the text uses them
            if entry.term in explained:
                continue
            # a plain word nearby explains it, and so does a sentence that names or defines it: "a lump bigger than
            # a walnut is called a mass", "a lung nodule is a small growth"; and a word of a longer term explained
            # before it ("effusion" once "pleural effusion" is explained)
            if gloss.search(around) or _defined_here(sentence, start, end) or told_next or \
                    any(entry.term in _terms_within(done) for done in explained if " " in done):
                explained[entry.term] = index
                if index - first.get(entry.term, index) <= _EXPLAINED_WITHIN:
                    found.pop(entry.term, None)  # a heading's question, answered in the lines below it
            elif entry.term not in found:
                found[entry.term] = JargonUse(entry.term, sentence)
                first[entry.term] = index
    # a term made of terms is explained where each of them is, near it: "a pleural effusion" by "a lining called the
    # pleura" and "an effusion means extra fluid"
    for term in list(found):
        parts = _terms_within(term)
        if len(parts) > 1 and None not in parts and all(
                part in explained and explained[part] - first[term] <= _EXPLAINED_WITHIN for part in parts):
            del found[term]
    return list(found.values())


def _terms_within(term: str) -> list[str | None]:
    """The one-word term each word of a term spells ("pleural effusion": pleura, effusion), or None for a word
    that is no term of its own."""
    return [_TERM_OF_WORD.get(word.lower()) for word in term.split()]


# each one-word term and spelling, to the term it spells ("pleural": "pleura")
_TERM_OF_WORD = {word.lower(): entry.term for entry in JARGON for word in (entry.term, *entry.spellings)
                 if " " not in word}


_NAMED_AS = re.compile(r"\b(?:(?:(?:is|are)\s+)?(?:usually\s+|often\s+|sometimes\s+|also\s+)?(?:called|named|termed|"
                       r"known\s+as|referred\s+to\s+as)|(?:call|calls)(?:\s+(?:this|it|these|them|that|those))?|"
                       # "that's what the doctors mean by a pneumothorax"
                       r"what\s+(?:the\s+|your\s+)?(?:doctors?|we|they|radiologists?|people)\s+(?:mean\s+by|call))\s+"
                       # the second of two names: "doctors call these reticular or interstitial markings"
                       r"(?:an?\s+|the\s+)?[\"“‘']?(?:[A-Za-z-]+\s+(?:or|and)\s+)?$",
                       re.IGNORECASE)
# A plain description, then the term set beside it as its name: "fluid in this gap, the pleural space"
_NAMED_BY_APPOSITION = re.compile(r"\b(?:(?:this|that|these|those)\s+[a-z]+|(?:a|an|the|two|both)\s+(?:[a-z-]+\s+){1,4}"
                                  r"[a-z-]+),\s+(?:the\s+|an?\s+)?$|"
                                  # the term in brackets right after what it names: "the veins are fuller ('upper
                                  # lobe diversion', ...)"
                                  r"[a-z]\s*\(\s*[\"“‘']?$", re.IGNORECASE)
# A sentence that says what the one before it named: "That's a fancy way of saying ...", "This means ..."
_DEFINES_THE_LAST = re.compile(r"^\W*(?:that|this|it)(?:['’]s|\s+is|\s+means)\s+(?:(?:just|simply|basically)\s+)?"
                               r"(?:an?\s+(?:[a-z-]+\s+){0,2}(?:way\s+of\s+saying|word\s+for|name\s+for|term\s+for)|"
                               r"when|where|what\s+happens|that)\b|^\W*(?:that|this|it)\s+means\b", re.IGNORECASE)
# A sentence that opens with the term and goes on to say what it is defines it, whatever words it uses: "A lung
# nodule is a small growth", "Atelectasis (said at-uh-LEK-tuh-sis) is when part of a lung ...", "Bronchiectasis
# means ..."; so does a term followed by "meaning" or "which means" ("consolidation, meaning the lung has turned
# solid"), or named as the medical word for what follows
_OPENS_SENTENCE = re.compile(r"(?:^\W*|[,;:]\s*(?:and|but|while|whereas)?\s*)(?P<article>an?\s+|the\s+)?"
                             r"(?:(?!(?:your|my|his|her|their|our|this|that|these)\b)[A-Za-z-]+\s+){0,2}$",
                             re.IGNORECASE)
_DEFINITION_AFTER = re.compile(r"^(?:\s*\([^()]{0,60}\))?\s*,?\s*(?:(?:is|are)\s+(?:simply\s+|just\s+|basically\s+)?"
                               r"(?:when|where|what|(?P<kind>an?)|the\s+(?:medical|doctors?['’]?|technical|proper)\b)|"
                               r"means|describes)\b", re.IGNORECASE)
_GLOSS_AFTER = re.compile(r"^(?:\s*\([^()]{0,60}\))?\s*,?\s*(?:meaning|which\s+means|that\s+is|i\.e\.|(?<=,\s)where|"
                          # an apposition of three words or more says what it is: "the mediastinum, the central
                          # corridor of the chest"
                          r"(?<=,\s)(?:the|an?)\s+(?:(?!(?:and|or)\b)[A-Za-z-]+\s+){2}(?!(?:and|or)\b)[A-Za-z-]+|"
                          r"in\s+other\s+words|(?:the|a)\s+(?:medical|doctors?['’]?|technical)\s+(?:word|term|name)\s+"
                          r"for)\b", re.IGNORECASE)


# An explanation in brackets right after the term, of three words or more: "the mediastinum (the band of tissue
# down the middle of the chest)"; a pronunciation is none ("(say em-fuh-SEE-muh)")
_BRACKETED_AFTER = re.compile(r"^\s*\((?!\s*(?:say|said|pronounced|see)\b)\s*[^()\s]+(?:\s+[^()\s]+){2,}\s*\)",
                              re.IGNORECASE)


def _defined_here(sentence: str, start: int, end: int) -> bool:
    """Whether the sentence names or defines the term at start:end by its shape (_NAMED_AS to _BRACKETED_AFTER)."""
    before, after = sentence[:start], sentence[end:]
    if _NAMED_AS.search(before) or _NAMED_BY_APPOSITION.search(before) or _GLOSS_AFTER.search(after) or \
            _BRACKETED_AFTER.search(after):
        return True
    opening, definition = _OPENS_SENTENCE.search(before), _DEFINITION_AFTER.search(after)
    # "The effusion is a small one" tells of the patient's own: only "a"/"an" or no article opens a definition
    # by kind ("An effusion is a build-up of fluid")
    return bool(opening and definition and not (definition["kind"] and (opening["article"] or "").lower()
                                                .startswith("the")))


_EXPLAINED_WITHIN = 3  # sentences after a term's first use in which explaining it still counts


# ---------------------------------------------------------------- faithfulness


@dataclass(frozen=True)
class FaithfulnessCheck:
    """One finding: what the read (or key) says of it, what the explanation says, and the verdict.

    verdict: "kept" (said as the read says it), "dropped" (a finding the read asserts, or a pertinent one it
    denies, that the explanation leaves out, says otherwise or puts on the other side), "added" (asserted by the
    explanation, not by the read), or "" (not at stake: neither asserted nor a pertinent denial, and not asserted
    by the explanation).
    """

    finding: str
    read_status: str
    said_status: str
    verdict: str
    evidence: str = ""  # the explanation's sentence
    read_evidence: str = ""  # the read's sentence ("" when judged against the answer key)
    plain_words: tuple[str, ...] = ()  # a few plain wordings the checker knows, for a dropped finding
    wrong_side: str = ""  # "left, where the read has right": a finding kept in words but moved to the other side


def _findings_to_check(case: Case | Sequence[ReferenceFinding] | None) -> list[ReferenceFinding]:
    """The case's findings read without an image, then the built-in chest findings it lacks (to catch additions).

    Without a case, the built-in chest findings alone, none a pertinent negative.
    """
    if case is None:
        own: list[ReferenceFinding] = []
        chest = True
    else:
        findings = case.answer_key.findings if isinstance(case, Case) else tuple(case)
        own = [f for f in findings if not f.shown_on]
        chest = not isinstance(case, Case) or "chest" in case.modality.lower()
    covered = {entry.name for f in own for entry in standard_findings_for(f.name, tuple(f.synonyms))}
    extra = [ReferenceFinding(entry.name, entry.keys, "absent", pertinent=False)
             for entry in STANDARD_FINDINGS if chest and entry.name not in covered]
    return own + extra


_SAYS = ("present", "uncertain")
_PART_COLLAPSE = re.compile(r"atelecta|collaps|volume\s+loss|not\s+fully\s+(?:inflated|expanded)", re.IGNORECASE)
_PARTLY_COLLAPSED = (PLAIN_WORDING + "lung|lungs … partly|partially … collapsed|collapse|deflated",)
# Where the read has a finding worse low down, a plain text that places it low says so ("scarring in the lower parts
# of both lungs"); where it has none, the same words only say where (no predominance is added)
_LOW_PLACE = tuple(PLAIN_WORDING + phrase for phrase in _expand(("{low}",)))
_PARTLY_COLLAPSED_SAID = re.compile(r"\b(?:partly|partially|part\s+of|some\s+of)\s+(?:the\s+|your\s+)?"
                                    r"(?:collaps|deflat)|"
                                    # a part of a lung, then that it collapsed: "the bottom part of your right lung
                                    # has collapsed completely"
                                    r"\bparts?\s+of\s+(?:the|your|his|her|their|each|one|both)\s+(?:[a-z]+\s+){0,2}?"
                                    r"lungs?\s+(?:has|have|had|is|are|was|were)\s+(?:[a-z]+\s+)?(?:collaps|deflat)|"
                                    # ... or a small amount of collapsed lung: "a bit of collapsed lung", "small areas
                                    # of collapsed lung"
                                    r"\b(?:bit|area|patch|part|piece|section|segment|spot|strip|band)s?\s+of\s+"
                                    r"(?:[a-z]+\s+)?(?:collapsed|deflated)\s+lung",
                                    re.IGNORECASE)
_AIR = re.compile(r"\bair\b", re.IGNORECASE)
# A list of possibilities a read only leaves open: "nodes, or a tumour cannot be excluded", "cannot exclude A or B"
_NOT_EXCLUDED_LIST = re.compile(r"\bor\b[^.;]*\b(?:not|cannot|can\s*not|can['’]t|could\s+not)\s+(?:be\s+)?"
                                r"(?:excluded|ruled\s+out)\b|\b(?:cannot|can\s*not|can['’]t|could\s+not)\s+"
                                r"(?:exclude|rule\s+out)\b[^.;]*\bor\b", re.IGNORECASE)
# A follow-up the read recommends to exclude something
_ONLY_TO_EXCLUDE = re.compile(r"\b(?:to|and)\s+(?:exclude|rule\s+out)\b", re.IGNORECASE)
# A word de-identification hid before a finding may have been a hedge ("hazy markings, XXXX oedema")
_HIDDEN_WORD = re.compile(r"\bXXXX\b")


# "right" and "left" that are no side: "right at the top", "in the right place", "only a little is left", and a heart
# chamber's ("its end lies in the right upper chamber of the heart")
# A heart chamber's side ("its wire ends in the lower right pumping chamber") places the tip of a line in it, not a
# side of the chest: a plain wording with gaps may span it, so it is read without it
_CHAMBER_SIDE = re.compile(r"\b(?:right|left)(?=\s+(?:(?:upper|lower|top|bottom|pumping|main|heart)\s+){0,2}"
                           r"(?:chambers?|atri(?:um|a)|ventricles?)\b|[\s-]+(?:hand[\s-]+)?side\s+of\s+(?:your|the|his|"
                           r"her|their)\s+heart\b)", re.IGNORECASE)
_NOT_A_SIDE = re.compile(r"\bright(?=\s+(?:at|in|on|by|next|near|above|below|behind|beside|up|down|through|under|over|"
                         r"across|along|where|there|here|now|away)\b)|(?<=\bthe\s)right(?=\s+(?:place|position|spot|"
                         r"size|way|amount|level|length)\b)|\b(?:is|are|was|were|be|been|has|have|had)\s+left\b"
                         r"(?!\s+(?:side|lung|ribs?|arm|chest|half|part|upper|lower|middle)\b)|\bleft(?=\s+(?:over|behind|"
                         r"alone|out|in\s+place)\b)|"
                         # a thing set right or put right ("a shock to put its rhythm right")
                         r"\b(?:put|puts|putting|set|sets|setting)\s+(?:[a-z]+\s+){0,2}?right\b(?=\s*[,.;:!?)]|\s+again\b)|"
                         + _CHAMBER_SIDE.pattern, re.IGNORECASE)


def _side_of_sentence(sentence: str) -> str:
    """The side a plain sentence names anywhere in it: one side, both ("bilateral"), or ""."""
    # every place the sentence names, as a sentence pointing back to it would take them ("This is ...")
    return place_before("This", _NOT_A_SIDE.sub("", sentence)).side


# "the other lung" or "the other side": the side opposite the last one the text named
_OTHER_SIDE = re.compile(r"\b(?P<owner>the|your|his|her|their)\s+other\s+(?P<part>lung|side)\b", re.IGNORECASE)
_OPPOSITE = {"right": "left", "left": "right"}


def _with_other_side_named(text: str) -> str:
    """The text with "the other lung" named by its side, where a side was named before it ("the left lung")."""
    def named(match: re.Match[str]) -> str:
        before = re.findall(r"\b(right|left)\b", match.string[:match.start()], re.IGNORECASE)
        return f"{match['owner']} {_OPPOSITE[before[-1].lower()]} {match['part']}" if before else match.group()
    return _OTHER_SIDE.sub(named, text)


def _side_of_every_mention(text: str, finding: ReferenceFinding) -> str:
    """The side of a finding said in several sentences, each taking its sentence's side where it has none, or the
    side of the sentences it points back to ("This could be a patch of infection")."""
    sides = set()
    sentences = [" ".join(sentence.split()) for sentence in _sentences(text)]
    for sentence in sentences:
        said = check_findings(sentence, [finding], hypothetical="not_mentioned")[0]
        if said.status in _SAYS:
            in_sentence = _side_of_sentence(sentence) or _side_pointed_to(sentence, sentences)
            sides.add(in_sentence if in_sentence == "bilateral" or not said.side else said.side)
    return combine_sides(sides)


# A sentence that opens by pointing back at what the text just described: "These ...", "It ...", "We call that
# ...", "The spot ..." (a thing the sentence before described)
_POINTER = re.compile(r"^\W*(?:(?:both|all)\s+of\s+(?:these|this|them)|these|this|that|they|it|"
                      r"(?:we|doctors|they)\s+(?:call|name|describe)\s+(?:that|this|it|these|them)|"
                      r"(?:the|this|that|these|those)\s+(?:spot|spots|shadow|shadows|lump|lumps|area|areas|patch|"
                      r"patches|one|ones)|"
                      r"(?:the|this|that|these|those)\s+[a-z]+\s+(?:spot|spots|shadow|shadows|lump|lumps|area|"
                      r"areas|patch|patches))\b", re.IGNORECASE)


def _side_pointed_to(sentence: str, sentences: Sequence[str]) -> str:
    """The side a sentence that points back ("Both of these fit with ...") takes: of the last one or two before it."""
    if not _POINTER.match(sentence) or sentence not in sentences:
        return ""
    index = sentences.index(sentence)
    for before in reversed(sentences[max(0, index - 2):index]):
        side = _side_of_sentence(before)
        if side:
            return side
    return ""


# The side that holds more of a finding on both sides: "right greater than left", "more on the left than the right",
# "worse on the right", "predominantly left"
_DOMINANT_SIDE = re.compile(
    r"\b(?P<first>right|left)(?:[\s-]+sided)?\s+(?:greater|larger|bigger|more|worse)\s+than\s+(?:the\s+|on\s+the\s+)?"
    r"(?:right|left)\b|\b(?:more|larger|greater|bigger|worse|mainly|mostly|especially|particularly|predominantly)"
    r"(?:\s+so|\s+of\s+(?:it|them|the\s+fluid))?\s+(?:on|in|at)\s+(?:the\s+|your\s+)?(?P<on>right|left)\b|"
    r"\b(?:predominantly|mainly|mostly)\s+(?P<bare>right|left)\b", re.IGNORECASE)


def _dominant_side(sentence: str) -> str:
    """The side a sentence says holds more of a finding on both sides, or ""."""
    match = _DOMINANT_SIDE.search(sentence)
    return next((side.lower() for side in (match.group("first", "on", "bare") if match else ()) if side), "")


def _read_dominant_side(read: str, finding: ReferenceFinding) -> str:
    """The side a read says holds more of the finding, in any sentence that says the finding."""
    for sentence in _sentences(read):
        side = _dominant_side(sentence)
        if side and check_findings(sentence, [finding])[0].status in _SAYS:
            return side
    return ""


# Plain wordings that tell how a finding looks ("a patchy shadow", "a small round spot"), not what it is
_LOOKS = re.compile(r"\b(?:shadow|spot|patch|cloud|haz|white|dense|denser|solid|opaque|streak|dot|speck|blob|ball|"
                    r"area)", re.IGNORECASE)


def _named_only(finding: ReferenceFinding) -> ReferenceFinding:
    """The finding without the plain wordings that only tell how it looks: what a text names it as."""
    return dataclasses.replace(finding, synonyms=tuple(s for s in finding.synonyms
                                                       if not (s.startswith(PLAIN_WORDING) and _LOOKS.search(s))))


def _said_to_be_something_else(finding: ReferenceFinding, sentence: str) -> bool:
    """Whether a plain sentence that names the finding says its lookalike is something else (lay_terms not_it)."""
    return any(_term_pattern(PLAIN_WORDING + phrase).search(sentence) for phrase in lay_terms_of(finding).not_it)


def _other_readings(read: str, findings: Sequence[ReferenceFinding]) -> list[set[tuple[str, str]]]:
    """Per finding, the other certainties and sides a careful reader may take from the read, which a text may keep.

    Two findings joined by "or" ("scarring or atelectasis") are a differential, which a patient text may hedge, as
    may a finding the read hedges in one sentence and states in another;
    where de-identification hid a word, it may have been a hedge ("patchy shadowing, XXXX oedema"); and a read's
    patchy or focal opacity, whatever it goes on to call it, is the cloudy patch a patient text may tell.
    """
    readings = [check_findings(read, findings, differential=True)]
    if _HIDDEN_WORD.search(read):
        readings.append(check_findings(_HIDDEN_WORD.sub("possibly", read), findings, differential=True))
    if _PATCHY_OPACITY.search(read):
        readings.append(check_findings(_PATCHY_OPACITY.sub(r"\1 \2airspace opacity", read), findings,
                                       differential=True))
    other = [{(c.status, c.side) for c in checks if c.status in _SAYS} for checks in zip(*readings)]
    # a read that hedges a finding in one sentence and states it in another ("blunting suggesting small effusions
    # ... Small effusions.") may be told either way; one sentence alone cannot place it, so no side comes with it
    for sentence in _sentences(read):
        for index, check in enumerate(check_findings(sentence, findings, differential=True)):
            if check.status in _SAYS:
                other[index].add((check.status, ""))
    return other


# A read's opacity that is patchy or focal: an airspace opacity in other words, and a cloudy patch to a patient
_PATCHY_OPACITY = re.compile(r"\b(patchy|focal)\s+((?:[a-z-]+\s+){0,2}?)(?:area\s+of\s+)?opacit(?:y|ies)\b",
                             re.IGNORECASE)


_DISTRIBUTION = "lower-zone predominance"
# The words that say a finding is likely, which a patient text may use for a read's hedge ("suggesting oedema")
_LIKELY = re.compile(r"\b(?:(?:most|very|highly|quite)\s+)?(?:likely|probably|probable)\b", re.IGNORECASE)
# A read's size at the edge of normal that is still normal ("upper limits of normal", "high normal")
_WITHIN_NORMAL = re.compile(r"\b(?:upper|high)[\s-]+(?:limits?\s+of\s+)?normal\b|\btop[\s-]+(?:of\s+)?normal\b",
                            re.IGNORECASE)


def faithfulness(text: str, case: Case | Sequence[ReferenceFinding] | None, read: str | None = None
                 ) -> list[FaithfulnessCheck]:
    """Finding by finding, what a patient explanation kept, dropped or added, against the read or the case's key.

    Against a read: every finding it asserts (present or hedged, with the same certainty) and every pertinent one
    it denies must be said so in the explanation; against the key, likewise with the key's findings. A finding the
    explanation asserts that the read does not is added.
    """
    own = _findings_to_check(case)
    findings = [lay_finding(f) for f in own]
    reference_words = read if read is not None else " ".join(t for f in own if f.expected == "present" for t in f.terms)
    part_collapse_read = bool(_PART_COLLAPSE.search(reference_words))
    if not part_collapse_read:
        # "part of your lung has collapsed" is an atelectasis where the read has one; where it has none, the text
        # tells the patient of a collapse the read does not report: the collapsed lung a patient knows
        findings = [dataclasses.replace(f, synonyms=(*f.synonyms, *_PARTLY_COLLAPSED))
                    if "pneumothorax" in f.name.lower() else f for f in findings]
    if read is not None:
        read_checks = check_findings(read, findings)
        reference = [(c.status, c.evidence, c.side) for c in read_checks]
        borderline = [c.size == "borderline" and bool(_WITHIN_NORMAL.search(c.evidence)) for c in read_checks]
        findings = [dataclasses.replace(f, synonyms=(*f.synonyms, *_LOW_PLACE))
                    if f.name == _DISTRIBUTION and status in _SAYS else f
                    for f, (status, _, _) in zip(findings, reference)]
        also = _other_readings(read, findings)
    else:
        reference = [(f.expected, "", f.side) for f in findings]
        borderline = [False for _ in findings]
        also = [set() for _ in findings]
    said = check_findings(text, findings, hypothetical="not_mentioned")  # "if there were fluid..." says nothing
    # the text read as a careful reader may take a hedged read: "most likely" and "probably" as hedges, and two
    # findings offered as alternatives ("either a little fluid or some thickening") as a differential
    hedged = check_findings(_LIKELY.sub("possibly", text), findings, hypothetical="not_mentioned", differential=True)
    text_for_sides = _with_other_side_named(_NOT_A_SIDE.sub("", text))
    if text_for_sides != text:
        # where a finding is said, its side as read without the words "right" and "left" that are no side (the heart
        # chambers' sides, "right up to", "the right place"), and with "the other lung" named by its side
        sides = check_findings(text_for_sides, findings, hypothetical="not_mentioned")
        said = [dataclasses.replace(check, side=other.side) if other.status == check.status else check
                for check, other in zip(said, sides)]
    sentences = [" ".join(sentence.split()) for sentence in _sentences(text)]
    checks = []
    for finding, explained, (status, quote, side), other, at_the_limit, as_hedged in zip(
            findings, said, reference, also, borderline, hedged):
        if explained.status in _SAYS and _said_to_be_something_else(finding, explained.evidence):
            # "the faint spots are only your nipples": the sentence names what the lookalike is
            explained = dataclasses.replace(explained, status="not_mentioned", evidence="", side="")
        if part_collapse_read and "pneumothorax" in finding.name.lower() and explained.status in _SAYS and \
                _PARTLY_COLLAPSED_SAID.search(explained.evidence) and not _AIR.search(explained.evidence):
            # where the read has a part collapse, "small areas of partly collapsed lung" tell it, not a collapsed lung
            explained = dataclasses.replace(explained, status="not_mentioned", evidence="", side="")
        if explained.status in _SAYS and not explained.side and explained.evidence:
            # the side in another clause of its sentence ("at the base of your left lung there is a streak, which
            # may be scarring"), or in the sentences a pointer refers to ("Both of these fit with emphysema.")
            explained = dataclasses.replace(explained, side=_side_of_sentence(explained.evidence)
                                            or _side_pointed_to(explained.evidence, sentences))
        if explained.status == "present" and any(_term_pattern(PLAIN_WORDING + phrase).search(explained.evidence)
                                                 for phrase in lay_terms_of(finding).borderline):
            # "your heart is on the large side, right at the borderline of normal": said as borderline
            explained = dataclasses.replace(explained, status="uncertain")
        if status not in _SAYS and explained.status == "uncertain" and any(
                _term_pattern(PLAIN_WORDING + phrase).search(explained.evidence)
                for phrase in lay_terms_of(finding).borderline):
            # "your heart is at the top end of normal" tells a heart within normal: it adds no finding
            explained = dataclasses.replace(explained, status="not_mentioned", evidence="", side="")
        at_stake = status in _SAYS or (status == "absent" and finding.pertinent)
        if finding.name == _DISTRIBUTION and not at_stake:
            # where a read gives no distribution, "mostly at the base" only says where a finding lies (an effusion
            # settles there): a place is no finding added
            explained = dataclasses.replace(explained, status="not_mentioned")
        if at_the_limit and explained.status not in _SAYS:
            # "heart size at the upper limit of normal" is within normal (a "borderline" heart is not): an
            # explanation may leave it out or call it normal
            at_stake = False
        if status == "uncertain" and explained.status not in _SAYS and _ONLY_TO_EXCLUDE.search(quote):
            # a possibility the read only asks to exclude ("follow-up to exclude an underlying mass") may be told as
            # the check ("to make sure there is no lump") or left out: it is no finding
            at_stake = False
        if status == "uncertain" and explained.status not in _SAYS and _NOT_EXCLUDED_LIST.search(quote):
            # one of a list of causes a read leaves open ("nodes, or a tumour cannot be excluded") after the finding
            # they would explain: the explanation may give that finding and the further look without the list
            at_stake = False
        if side == "bilateral" and explained.side in _OPPOSITE:
            # a finding on both sides in the read, said on one side with a side of its own and on the other in another
            # clause: "low in the left lung, behind the heart, a dense area, and a patchier one in the right lung";
            # "your right lung is scarred ... the other lung has a small scar, though"
            explained = dataclasses.replace(explained, side=_side_of_every_mention(text_for_sides, finding))
        if status in _SAYS and not side:
            # the side another reading gives where the read's own gives none ("focal opacity at the right base,
            # worrisome for pneumonitis")
            side = next((place for _, place in sorted(other) if place), "")
        # a finding moved to the other side is not kept, however plainly it is named (unless another reading of the
        # read puts it there)
        moved = f"{explained.side}, where {'the read' if read is not None else 'the key'} has {side}" \
            if status in _SAYS and explained.side and side and explained.side != side and \
            (explained.status, explained.side) not in other else ""
        if read is not None and not moved and status in _SAYS and side == explained.side == "bilateral":
            # both sides, with more on the other one: "more fluid on the left" where the read has right > left
            more_here = _dominant_side(explained.evidence)
            more_in_read = _read_dominant_side(read, finding) if more_here else ""
            if more_in_read and more_here != more_in_read:
                moved = f"both sides, more on the {more_here}, where the read has more on the {more_in_read}"
        # another reading of the read says it so, on the same side where both give one
        also_said = any(certainty == explained.status and (not explained.side or not place or place == explained.side)
                        for certainty, place in other)
        said_so = explained.status == status or (status in _SAYS and also_said) or (
            status == "uncertain" and explained.status in _SAYS and as_hedged.status == "uncertain") or (
            # a shadow told as seen, then what it may be ("a patchy shadow. It could be an infection"): what the
            # text names it as carries the hedge, as a read's "opacity, possibly pneumonia" does
            status == "uncertain" and explained.status == "present" and
            check_findings(_LIKELY.sub("possibly", text), [_named_only(finding)], hypothetical="not_mentioned",
                           differential=True)[0].status == "uncertain")
        if at_stake and said_so and not moved:
            verdict = "kept"
        elif explained.status in _SAYS and status not in _SAYS and not also_said:
            verdict = "added"
        elif at_stake:
            verdict = "dropped"
        else:
            verdict = ""
        plain = lay_terms_of(finding).examples[:4] if verdict == "dropped" else ()
        checks.append(FaithfulnessCheck(finding.name, status, explained.status, verdict, explained.evidence, quote,
                                        plain, moved))
    return checks
