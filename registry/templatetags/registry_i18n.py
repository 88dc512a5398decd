"""The registry's vocabulary in the reader's language.

Kinds and ranks are curated rows with a Chinese name beside the English one (正部级, 内设机构):
a Chinese page shows the Chinese name, or the English one while a curator has given none. Fixed
labels that reach the templates as values (a change's kind, a timeline's "Established") are
translated by the catalog with `{% translate value %}`; `VOCABULARY` marks them for
`makemessages`, which cannot see a value.
"""

from __future__ import annotations

from typing import Any

from django import template
from django.utils import translation
from django.utils.translation import gettext_noop

register = template.Library()

# Labels the pages receive as values, kept in the catalog (models.py and changes.py hold them).
VOCABULARY = (
    # changes.KINDS: the sections of /changes/ and the feeds' entries.
    gettext_noop("Established"),
    gettext_noop("Abolished"),
    gettext_noop("Renamed"),
    gettext_noop("Moved"),
    gettext_noop("Merged"),
    gettext_noop("Split"),
    gettext_noop("Functions transferred"),
    gettext_noop("Rank changed"),
    gettext_noop("Took office"),
    gettext_noop("Left office"),
    # A timeline's own moments (validtime.timeline).
    gettext_noop("Dissolved"),
    # OtherName.Type: the infobox's headings for other names.
    gettext_noop("Second official name (one organization, two nameplates)"),
    gettext_noop("Numbered designation (e.g. first bureau)"),
    gettext_noop("Abbreviation"),
    gettext_noop("Former name"),
    gettext_noop("Name in another language"),
)


def _chinese() -> bool:
    return (translation.get_language() or "").startswith("zh")


@register.filter
def in_language(record: Any) -> str:
    """A kind's or a rank's name in the page's language: its `name_zh` on a Chinese page (the
    English name while it has none)."""
    if record is None:
        return ""
    if _chinese() and getattr(record, "name_zh", ""):
        return record.name_zh
    return record.name


@register.filter
def parenthetical(organization: Any) -> list[str]:
    """What the sources write in parentheses after the name (`Organization.parenthetical`),
    with the rank, which ends it, in the page's language."""
    parts = list(organization.parenthetical)
    if parts and organization.rank_id and _chinese():
        parts[-1] = in_language(organization.rank)
    return parts
