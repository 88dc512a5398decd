"""Linked data: organizations and people as JSON-LD, in W3C ORG's, Popolo's and schema.org's
vocabularies.

A record's identity (`@id`) is its permanent page, `/organizations/<id>/` or `/people/<id>/`:
the address a reader cites is the thing described. The context is inline, so each document is
whole on its own (no fetch of a context from elsewhere). Names come with their languages
(`en`, `zh-Hans`, `zh-Latn-pinyin`); dates are typed at their precision (`xsd:gYear`,
`xsd:gYearMonth`, `xsd:date`), never padded into a day.

Served at `/api/v1/organizations/<id>.jsonld` and `/api/v1/persons/<id>.jsonld`, and embedded
in each organization's and person's page for search engines.
"""

from __future__ import annotations

import json

from django.conf import settings
from django.urls import reverse
from django.utils import translation
from django.utils.safestring import SafeString, mark_safe

from ..dates import PartialDate
from ..models import Organization, OtherName, Person

CONTEXT = {
    "org": "http://www.w3.org/ns/org#",
    "opengov": "http://www.w3.org/ns/opengov#",
    "schema": "http://schema.org/",
    "skos": "http://www.w3.org/2004/02/skos/core#",
    "dcterms": "http://purl.org/dc/terms/",
    "foaf": "http://xmlns.com/foaf/0.1/",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
    "name": "skos:prefLabel",
    "schemaName": "schema:name",
    "otherName": "opengov:otherName",
    "alternateName": "schema:alternateName",
    "classification": "org:classification",
    "subOrganizationOf": {"@id": "org:subOrganizationOf", "@type": "@id"},
    "parentOrganization": {"@id": "schema:parentOrganization", "@type": "@id"},
    "foundingDate": "schema:foundingDate",
    "dissolutionDate": "schema:dissolutionDate",
    "description": "dcterms:abstract",
    "identifier": "org:identifier",
    "sameAs": {"@id": "schema:sameAs", "@type": "@id"},
    "url": {"@id": "schema:url", "@type": "@id"},
    "seeAlso": {"@id": "rdfs:seeAlso", "@type": "@id"},
    "predecessor": {"@id": "dcterms:replaces", "@type": "@id"},
    "successor": {"@id": "dcterms:isReplacedBy", "@type": "@id"},
}
_PRECISION = {1: "xsd:gYear", 2: "xsd:gYearMonth", 3: "xsd:date"}


def _date(value: PartialDate | None) -> dict | None:
    if value is None:
        return None
    text = str(value)
    return {"@value": text, "@type": _PRECISION[text.count("-") + 1]}


def _text(value: str, language: str) -> dict:
    return {"@value": value, "@language": language}


def _page(request, record) -> str:
    return _page_of(request, record._meta.model_name, record.pk)


def _page_of(request, name: str, pk: str) -> str:
    """The record's permanent page: its unprefixed address, whatever the language of the page
    that embeds the document."""
    with translation.override(settings.LANGUAGE_CODE):
        return request.build_absolute_uri(reverse(f"registry:{name}", kwargs={"pk": pk}))


def _without_empty(document: dict) -> dict:
    return {key: value for key, value in document.items() if value not in (None, [], "")}


def _sameas(identifiers) -> list[str]:
    return [
        f"http://www.wikidata.org/entity/{i.identifier}"
        for i in identifiers
        if i.scheme == "wikidata"
    ]


def organization_document(
    request,
    organization: Organization,
    *,
    predecessors: list[str],
    successors: list[str],
    identifiers=(),
) -> dict:
    """`organization` (read with its labels: kind, rank, other names) as JSON-LD."""
    names = [_text(organization.name, "en")]
    if organization.name_zh:
        names.append(_text(organization.name_zh, "zh-Hans"))
    other = []
    if organization.short_name_zh:
        other.append(_text(organization.short_name_zh, "zh-Hans"))
    if pinyin := organization.pinyin_shown:
        other.append(_text(pinyin, "zh-Latn-pinyin"))
    for name in organization.other_names_in_order:
        if name.name_type != OtherName.Type.DESIGNATION:
            other.append(_text(name.name, name.language or "en"))
    parent = _page_of(request, "organization", organization.parent_id)
    return _without_empty(
        {
            "@context": CONTEXT,
            "@id": _page(request, organization),
            "@type": ["org:Organization", "schema:GovernmentOrganization"],
            "name": names,
            "schemaName": names,
            "otherName": other,
            "alternateName": other,
            "classification": [
                _text(organization.kind.name, "en"),
                *(
                    [_text(organization.kind.name_zh, "zh-Hans")]
                    if organization.kind.name_zh
                    else []
                ),
            ],
            "subOrganizationOf": parent if organization.parent_id else None,
            "parentOrganization": parent if organization.parent_id else None,
            "foundingDate": _date(organization.formed),
            "dissolutionDate": _date(organization.dissolved),
            "description": organization.summary,
            "identifier": organization.pk,
            "predecessor": [_page_of(request, "organization", pk) for pk in predecessors],
            "successor": [_page_of(request, "organization", pk) for pk in successors],
            "sameAs": _sameas(identifiers),
            "url": _page(request, organization),
        }
    )


def person_document(request, person: Person, *, identifiers=()) -> dict:
    names = [_text(person.name, "en")]
    if person.name_zh:
        names.append(_text(person.name_zh, "zh-Hans"))
    other = [_text(p, "zh-Latn-pinyin")] if (p := person.pinyin_shown) else []
    return _without_empty(
        {
            "@context": CONTEXT,
            "@id": _page(request, person),
            "@type": ["foaf:Person", "schema:Person"],
            "name": names,
            "schemaName": names,
            "alternateName": other,
            "identifier": person.pk,
            "sameAs": _sameas(identifiers),
            "url": _page(request, person),
        }
    )


# What a script data block may not hold literally: `</script>` (or `<!--`) in a name would end
# the block early; as JSON escapes they are the same text.
_SCRIPT_ESCAPES = {ord("<"): "\\u003C", ord(">"): "\\u003E", ord("&"): "\\u0026"}


def script_block(document: dict) -> SafeString:
    """`document` as the `<script type="application/ld+json">` block of a page (a data block:
    never run, so the Content-Security-Policy has nothing to allow)."""
    text = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    return mark_safe(
        f'<script type="application/ld+json">{text.translate(_SCRIPT_ESCAPES)}</script>'
    )
