"""External identifiers by scheme: what each scheme accepts, in one place for the admin (the
model's `clean`), the CSV import (registry/imports/checks.py) and the pages.

A curator's input is never normalised: `q42`, ` Q42` or a code in lower case are refused with a
message that says what to type, not silently uppercased or trimmed (a stored value must be
what was typed, so that a file exported and imported again changes nothing).
"""

from __future__ import annotations

import re

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

WIKIDATA = "wikidata"
USCC = "uscc"
# Any other scheme: a short lowercase token (`isni`, `gov-cn-site`).
SCHEME = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*")
SCHEME_MAX = 30
IDENTIFIER_MAX = 200

# How the known schemes are named on pages and in the admin's help.
SCHEME_LABELS = {
    WIKIDATA: _("Wikidata"),
    USCC: _("Unified social credit code"),
}

QID = re.compile(r"Q[1-9][0-9]*")

# GB 32100-2015, the unified social credit code (统一社会信用代码): 18 characters from this
# alphabet (no I, O, S, V, Z), the 18th a check character over the first 17.
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
USCC_LENGTH = 18


def uscc_check_character(first17: str) -> str:
    """The check character (18th) of a unified social credit code from its first 17
    characters, all of which must be in `USCC_ALPHABET`: 31 - (sum of value * weight, mod 31),
    where 31 stands for 0 (GB 32100-2015)."""
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(first17, USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def wikidata_problem(value: str) -> str | None:
    if QID.fullmatch(value):
        return None
    return gettext(
        "A Q-number must be Q followed by digits without leading zero, e.g. Q42: got “%(value)s”."
    ) % {"value": value}


def uscc_problem(value: str) -> str | None:
    if len(value) != USCC_LENGTH:
        return gettext(
            "A unified social credit code has 18 characters: “%(value)s” has %(length)s."
        ) % {"value": value, "length": len(value)}
    # The 18th character is compared with the check character below, whatever it is.
    wrong = [c for c in value[:17] if c not in USCC_ALPHABET]
    if wrong:
        return gettext(
            "A unified social credit code uses the digits and the capital letters "
            "ABCDEFGHJKLMNPQRTUWXY only (no I, O, S, V, Z, no lowercase, no spaces): "
            "“%(value)s” has “%(wrong)s”."
        ) % {"value": value, "wrong": wrong[0]}
    expected = uscc_check_character(value[:17])
    if value[17] != expected:
        return gettext(
            "The check character (the 18th) should be %(expected)s for %(first)s, not "
            "%(given)s: check the code for a typing error."
        ) % {"expected": expected, "first": value[:17], "given": value[17]}
    return None


_RULES = {WIKIDATA: wikidata_problem, USCC: uscc_problem}


def scheme_problem(scheme: str) -> str | None:
    """Why `scheme` is not a scheme name, or None."""
    if len(scheme) <= SCHEME_MAX and SCHEME.fullmatch(scheme):
        return None
    return gettext(
        "A scheme is a short lowercase name: letters a-z, digits and single hyphens, at most "
        "%(limit)s characters, e.g. wikidata, uscc, isni: got “%(value)s”."
    ) % {"limit": SCHEME_MAX, "value": scheme}


def identifier_problem(scheme: str, value: str) -> str | None:
    """Why `value` is not an identifier of `scheme` (a valid scheme name), or None. Free schemes
    take any text without spaces around it; the known ones their own format. The length limit
    (`IDENTIFIER_MAX`) is the model field's, checked where fields are."""
    if not value:
        return gettext("The identifier is empty.")
    if value != value.strip():
        return gettext(
            "“%(value)s” has spaces (or other blank characters) before or after it; remove them."
        ) % {"value": value}
    rule = _RULES.get(scheme)
    return rule(value) if rule else None


def wikidata_url(qid: str) -> str:
    """The address of a Wikidata item (only for a valid Q-number)."""
    return f"https://www.wikidata.org/wiki/{qid}"


def searched_scheme(text: str) -> str | None:
    """The scheme a search text is a well-formed identifier of (a Q-number, a unified social
    credit code), for finding a record by it; None for any other text."""
    if QID.fullmatch(text):
        return WIKIDATA
    if len(text) == USCC_LENGTH and uscc_problem(text) is None:
        return USCC
    return None
