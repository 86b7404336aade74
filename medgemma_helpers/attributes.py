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

Layer: cases and concordance. May import nothing from the package.
"""

from __future__ import annotations

import re

__all__ = ["SIDES", "SIZES", "coarse_size", "site_zones", "same_site", "read_attributes"]

SIDES = ("right", "left", "bilateral")
SIZES = ("minimal", "small", "mild", "moderate", "large", "severe", "borderline")
_COARSE = {"minimal": "small", "small": "small", "mild": "small", "moderate": "moderate", "large": "large",
           "severe": "large", "borderline": "borderline"}

# Site words and the zones they name: a lobe is read as the zone it mostly projects over on a frontal film.
_SITE_ZONES: tuple[tuple[str, frozenset[str]], ...] = (
    (r"apex|apices|apical|biapical", frozenset({"upper"})),
    (r"upper\s+(?:zones?|lobes?|lungs?)", frozenset({"upper"})),
    (r"(?:mid|middle)[\s-]*(?:zones?|lungs?)|middle\s+lobe|lingula|lingular", frozenset({"middle"})),
    (r"lower\s+(?:zones?|lobes?|lungs?)|bases?|basal|basilar|bibasilar|bibasal|costophrenic|"
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


def read_attributes(clause: str, start: int, end: int) -> tuple[str, str, str]:
    """(side, size, site) that a clause attaches to the finding mentioned at clause[start:end]; "" where none."""
    return "", "", ""
