"""Organizations as QuickStatements V1 commands, so that curators can give what they verified
back to Wikidata (https://quickstatements.toolforge.org, "Import commands", V1 format).

One line per command, its fields separated by tabs:

- an organization without a Wikidata Q-number: `CREATE`, then `LAST` for the item just made,
  its names as labels (`Len`, `Lzh-hans`); with one, its Q-number, its names as aliases (`Aen`,
  `Azh-hans`): a label would replace the one the item has, an alias only adds;
- other names that are forms of the current name (the Chinese short form, second official
  names, abbreviations) as aliases; former names and names in other languages stay out;
- parent organization (P749) when the parent has a Q-number; inception (P571) and dissolved
  (P576) at their precision (`/11` day, `/10` month, `/9` year);
- each statement once per cited source with a web address: reference URL (S854) and retrieved
  (S813, the day of the export). The sources on one line make one reference, so a statement is
  repeated with each; QuickStatements adds the reference to the statement already there.

Nothing is guessed: no instance of (P31), since the registry's kinds are not Wikidata classes,
and no descriptions, which the registry does not have. Strings are written as curators typed
them. V1 has no escape for a double quote, a tab or a line break inside a string, so an
organization whose text holds one is refused (`refusals`), never written altered.
"""

from __future__ import annotations

import datetime
import unicodedata
from collections.abc import Iterable, Iterator, Sequence

from django.db.models import Prefetch, QuerySet
from django.utils.encoding import iri_to_uri
from django.utils.translation import gettext

from .dates import PartialDate
from .identifiers import QID, WIKIDATA
from .models import Citation, Identifier, Organization, OtherName

PARENT_ORGANIZATION = "P749"
INCEPTION = "P571"
DISSOLVED = "P576"
REFERENCE_URL = "S854"
RETRIEVED = "S813"
# The registry's Chinese names are in simplified characters. MediaWiki's `zh` falls back to
# `zh-hans`, so readers of plain `zh` see these labels too, and no script is claimed wrongly.
ENGLISH = "en"
CHINESE = "zh-hans"
# Wikidata's limit for a label or an alias (the registry allows 300 characters in a name).
TERM_MAX = 250
# Other names written as aliases: current forms of the name (former ones are history).
ALIAS_TYPES = (OtherName.Type.SECOND_NAME, OtherName.Type.ABBREVIATION)

_PRECISION = {"day": 11, "month": 10, "year": 9}


def wikidata_time(date: PartialDate) -> str:
    """A date as QuickStatements writes a time value, at its own precision:
    `+1980-12-30T00:00:00Z/11`, `+1949-10-00T00:00:00Z/10`, `+1954-00-00T00:00:00Z/9`."""
    return (
        f"+{date.year:04d}-{date.month or 0:02d}-{date.day or 0:02d}T00:00:00Z"
        f"/{_PRECISION[date.precision]}"
    )


def for_quickstatements(queryset: QuerySet[Organization]) -> QuerySet[Organization]:
    """The organizations with everything the commands read, in a fixed number of queries."""
    return queryset.select_related("parent").prefetch_related(
        Prefetch("identifiers", queryset=Identifier.objects.filter(scheme=WIKIDATA)),
        Prefetch(
            "parent__identifiers",
            queryset=Identifier.objects.filter(scheme=WIKIDATA),
        ),
        Prefetch(
            "other_names",
            queryset=OtherName.objects.filter(name_type__in=ALIAS_TYPES),
            to_attr="alias_names",
        ),
        Prefetch("citations", queryset=Citation.objects.select_related("source")),
    )


def _qids(organization: Organization) -> list[str]:
    return sorted(i.identifier for i in organization.identifiers.all())


def qid(organization: Organization) -> str | None:
    """The organization's Q-number, when it has exactly one and it is well formed."""
    qids = _qids(organization)
    return qids[0] if len(qids) == 1 and QID.fullmatch(qids[0]) else None


def _wikidata_language(tag: str) -> str | None:
    """The Wikidata language code of an other name's language tag, for the two written."""
    tag = tag.lower()
    if not tag or tag == "en" or tag.startswith("en-"):
        return ENGLISH
    return CHINESE if tag == "zh-hans" else None


def _terms(organization: Organization) -> list[tuple[str, str, str]]:
    """(kind, language, text) of the names written: kind L (label) or A (alias)."""
    existing = qid(organization) is not None
    names = [(ENGLISH, organization.name)]
    if organization.name_zh:
        names.append((CHINESE, organization.name_zh))
    terms = [("A" if existing else "L", language, text) for language, text in names]
    aliases = []
    if organization.short_name_zh:
        aliases.append((CHINESE, organization.short_name_zh))
    for other in organization.alias_names:  # see for_quickstatements
        language = _wikidata_language(other.language)
        if language and other.end is None:
            aliases.append((language, other.name))
    for language, text in aliases:
        if (language, text) not in names:
            names.append((language, text))
            terms.append(("A", language, text))
    return terms


def _reference_urls(organization: Organization) -> list[str]:
    urls: list[str] = []
    for citation in organization.citations.all():
        # As a URI (RFC 3987's mapping: Chinese in a path percent-encoded), as the API gives it.
        url = iri_to_uri(citation.source.web_url)
        if url and url not in urls:
            urls.append(url)
    return urls


def _string_problem(text: str) -> str | None:
    if '"' in text:
        return gettext('it contains a double quote (")')
    if "\t" in text:
        return gettext("it contains a tab")
    if any(c in text for c in "\n\r\u2028\u2029\x85"):
        return gettext("it contains a line break")
    if any(unicodedata.category(c) == "Cc" for c in text):
        return gettext("it contains a control character")
    return None


def refusals(organizations: Iterable[Organization]) -> list[tuple[Organization, str]]:
    """Each organization that cannot be written as it is recorded, with why."""
    refused = []
    for organization in organizations:
        qids = _qids(organization)
        if len(qids) > 1:
            refused.append(
                (
                    organization,
                    gettext("it has several Wikidata identifiers (%(qids)s); keep one")
                    % {"qids": ", ".join(qids)},
                )
            )
            continue
        if qids and not QID.fullmatch(qids[0]):
            refused.append(
                (
                    organization,
                    gettext("its Wikidata identifier “%(qid)s” is not a Q-number")
                    % {"qid": qids[0]},
                )
            )
            continue
        for _kind, _language, text in _terms(organization):
            problem = _string_problem(text)
            if problem is None and len(text) > TERM_MAX:
                problem = gettext(
                    "it is longer than the %(limit)s characters Wikidata allows in a label"
                ) % {"limit": TERM_MAX}
            if problem:
                refused.append(
                    (
                        organization,
                        gettext("the name “%(name)s” cannot be written: %(problem)s")
                        % {"name": text, "problem": problem},
                    )
                )
                break
        else:
            for url in _reference_urls(organization):
                if problem := _string_problem(url):
                    refused.append(
                        (
                            organization,
                            gettext("the source address “%(url)s” cannot be written: %(problem)s")
                            % {"url": url, "problem": problem},
                        )
                    )
                    break
    return refused


def parents_without_qid(organizations: Iterable[Organization]) -> list[Organization]:
    """The organizations whose parent has no Q-number, so no parent organization (P749) is
    written: a file can name only the item it has just created (LAST), not any other."""
    return [o for o in organizations if o.parent_id and qid(o.parent) is None]


def quickstatements(
    organizations: Sequence[Organization], *, retrieved: datetime.date
) -> Iterator[str]:
    """The commands (lines without their line break) for the organizations, in their order.
    Each must pass `refusals`; read them with `for_quickstatements`."""
    if refused := refusals(organizations):
        organization, reason = refused[0]
        raise ValueError(f"{organization.pk}: {reason}")
    stamp = f"+{retrieved.isoformat()}T00:00:00Z/11"
    for organization in organizations:
        item = qid(organization)
        if item is None:
            yield "CREATE"
        subject = item or "LAST"
        for kind, language, text in _terms(organization):
            yield f'{subject}\t{kind}{language}\t"{text}"'
        statements = []
        if organization.parent_id and (parent := qid(organization.parent)):
            statements.append((PARENT_ORGANIZATION, parent))
        if organization.formed:
            statements.append((INCEPTION, wikidata_time(organization.formed)))
        if organization.dissolved:
            statements.append((DISSOLVED, wikidata_time(organization.dissolved)))
        urls = _reference_urls(organization)
        for prop, value in statements:
            if not urls:
                yield f"{subject}\t{prop}\t{value}"
            for url in urls:
                yield f'{subject}\t{prop}\t{value}\t{REFERENCE_URL}\t"{url}"\t{RETRIEVED}\t{stamp}'
