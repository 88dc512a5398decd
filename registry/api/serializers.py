"""The API's documents: Popolo's shapes, with the registry's own fields as extensions.

Each serializer declares the keys of one document (the OpenAPI schema is generated from these
declarations, and the tests check every document against Popolo's JSON Schemas and against the
generated schema). Keys Popolo has keep Popolo's names and meaning; the rest are extensions,
each documented in its `help_text`.

Names in other languages and forms are Popolo `other_names`, told apart by `note`: the type of
an other name (`second_name`, `designation`, `abbreviation`, `former_name`, `translation`), or
`chinese_name`, `chinese_short_form` and `pinyin` for the official Chinese name, its short form
and its pinyin (which are also given as the extension keys `name_zh`, `short_name_zh` and
`pinyin`). `lang` is a BCP 47 tag (`en`, `zh-Hans`, `zh-Latn-pinyin`).
"""

from __future__ import annotations

from urllib.parse import quote

from django.urls import reverse
from django.utils.encoding import iri_to_uri
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ..dates import PartialDate
from ..models import Holding, OtherName, Person, Post
from ..validtime import name_on

PARTIAL_DATE = r"^[0-9]{4}(-[0-9]{2}){0,2}$"
CHINESE = "zh-Hans"
PINYIN = "zh-Latn-pinyin"


def partial_date(value: PartialDate | None) -> str | None:
    """A date at the precision it is known to (1949-10 stays a month), or null."""
    return str(value) if value is not None else None


@extend_schema_field({"type": "string", "nullable": True, "pattern": PARTIAL_DATE})
class PartialDateField(serializers.Field):
    """A date known to the year, month or day: `1954`, `1949-10`, `1980-12-30`."""

    def __init__(self, **kwargs):
        kwargs.setdefault("read_only", True)
        super().__init__(**kwargs)

    def to_representation(self, value):
        return partial_date(value)


class OtherNameSerializer(serializers.Serializer):
    name = serializers.CharField()
    note = serializers.CharField(
        help_text="What the name is: second_name, designation, abbreviation, former_name, "
        "translation, or chinese_name, chinese_short_form, pinyin."
    )
    lang = serializers.CharField(help_text="BCP 47 language tag of the name.")
    start_date = PartialDateField(help_text="When the name came into use, if known.")
    end_date = PartialDateField(help_text="When the name stopped being used, if known.")


class IdentifierSerializer(serializers.Serializer):
    identifier = serializers.CharField()
    scheme = serializers.CharField()


class LinkSerializer(serializers.Serializer):
    url = serializers.URLField(
        help_text="A URI: an address with other than ASCII characters (a Chinese page title) "
        "comes percent-encoded, as RFC 3987 maps it (the citations give it as stored)."
    )
    note = serializers.CharField(allow_null=True)


class CodeSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable code (the CSV files use it).")
    name = serializers.CharField(help_text="English name.")
    name_zh = serializers.CharField(help_text="Chinese name (empty if none is recorded).")


class KindSerializer(CodeSerializer):
    section = serializers.CharField(
        help_text="Where units of this kind are listed under their parent: `structure` "
        "(departments: what an office is composed of) or `affiliated` (directly affiliated "
        "institutions)."
    )


class CitationSerializer(serializers.Serializer):
    title = serializers.CharField()
    url = serializers.CharField(help_text="Web address of the source; empty if it has none.")
    publisher = serializers.CharField()
    locator = serializers.CharField(help_text="Where in the source, e.g. a section.")


def _names(name_zh: str, short_name_zh: str, pinyin: str) -> list[dict]:
    names = []
    for name, note, lang in (
        (name_zh, "chinese_name", CHINESE),
        (short_name_zh, "chinese_short_form", CHINESE),
        (pinyin, "pinyin", PINYIN),
    ):
        if name:
            names.append(
                {"name": name, "note": note, "lang": lang, "start_date": None, "end_date": None}
            )
    return names


def _other_name(other: OtherName) -> dict:
    return {
        "name": other.name,
        "note": other.name_type,
        "lang": other.language or "en",
        "start_date": partial_date(other.start),
        "end_date": partial_date(other.end),
    }


# Stands for a record's id in an address reversed once (see `address`).
_SENTINEL = "0000sentinel0000"
_SENTINEL_NUMBER = 987654321987


def address(context: dict, name: str, pk) -> str:
    """The absolute address of route `name` for the record `pk`. A page of a thousand documents
    needs thousands of addresses: each route is reversed once per request, with a sentinel for
    the id, and the ids put in by text."""
    templates = context.setdefault("address_templates", {})
    numeric = isinstance(pk, int)
    template = templates.get(name)
    if template is None:
        sentinel = _SENTINEL_NUMBER if numeric else _SENTINEL
        template = context["request"].build_absolute_uri(reverse(name, kwargs={"pk": sentinel}))
        templates[name] = template
    return template.replace(str(_SENTINEL_NUMBER) if numeric else _SENTINEL, quote(str(pk)))


def _links(page: str, identifiers: list) -> list[dict]:
    links = [{"url": page, "note": "Registry page"}]
    links += [
        {"url": f"https://www.wikidata.org/wiki/{i.identifier}", "note": "Wikidata"}
        for i in identifiers
        if i.scheme == "wikidata"
    ]
    return links


def _identifiers(record) -> list:
    """The record's identifiers, prefetched by the view (`prefetched_identifiers`)."""
    return record.prefetched_identifiers


def _sources(citations) -> list[dict]:
    """Popolo `sources` are links: the cited sources that have a web address."""
    return [
        {"url": iri_to_uri(c.source.web_url), "note": _citation_note(c)}
        for c in citations
        if c.source.web_url
    ]


def _citation_note(citation) -> str:
    return (
        f"{citation.source.title}, {citation.locator}"
        if citation.locator
        else citation.source.title
    )


def _code(value, *, section: bool = False) -> dict | None:
    if value is None:
        return None
    document = {"code": value.code, "name": value.name, "name_zh": value.name_zh}
    if section:
        document["section"] = value.section
    return document


class OrganizationSerializer(serializers.Serializer):
    """A Popolo organization. Read with `Organization.objects` narrowed by `api.views`
    (labels, names, citations, lineage prefetched): no query per organization."""

    id = serializers.CharField(help_text="Stable identifier (the CSV files' `id`).")
    name = serializers.SerializerMethodField(help_text="Official English name.")
    other_names = serializers.SerializerMethodField()
    identifiers = serializers.SerializerMethodField()
    classification = serializers.SerializerMethodField(
        help_text="The kind of unit, in English (see `kind`)."
    )
    parent_id = serializers.SerializerMethodField()
    founding_date = PartialDateField(source="formed")
    dissolution_date = PartialDateField(source="dissolved")
    abstract = serializers.CharField(source="summary")
    links = serializers.SerializerMethodField()
    sources = serializers.SerializerMethodField()
    # Extensions.
    name_zh = serializers.SerializerMethodField(
        help_text="Extension: official Chinese name (simplified characters); empty if unknown."
    )
    short_name_zh = serializers.CharField(
        help_text="Extension: the Chinese short form the name is cited by."
    )
    pinyin = serializers.CharField(
        source="pinyin_shown", help_text="Extension: pinyin of the Chinese name, with tones."
    )
    kind = serializers.SerializerMethodField(help_text="Extension: the kind of unit.")
    rank = serializers.SerializerMethodField(
        help_text="Extension: administrative rank (行政级别), null when unrecorded."
    )
    designations = serializers.SerializerMethodField(
        help_text="Extension: numbered designations (e.g. 'first bureau')."
    )
    type = serializers.CharField(help_text="Extension: what the unit is, as its sources say.")
    location = serializers.CharField(help_text="Extension: postal address.")
    history = serializers.CharField(help_text="Extension: the history section.")
    functions = serializers.CharField(help_text="Extension: the functions section.")
    predecessor_ids = serializers.SerializerMethodField(
        help_text="Extension: units this one succeeded."
    )
    successor_ids = serializers.SerializerMethodField(
        help_text="Extension: units that succeeded it."
    )
    citations = serializers.SerializerMethodField(
        help_text="Extension: every cited source, with or without a web address."
    )
    url = serializers.SerializerMethodField(help_text="Extension: this document's address.")

    def _on(self):
        return self.context.get("on")

    def get_name(self, organization) -> str:
        on = self._on()
        return name_on(organization, on) if on else organization.name

    def get_name_zh(self, organization) -> str:
        on = self._on()
        return name_on(organization, on, chinese=True) if on else organization.name_zh

    @extend_schema_field(OtherNameSerializer(many=True))
    def get_other_names(self, organization) -> list[dict]:
        names = _names(organization.name_zh, organization.short_name_zh, organization.pinyin_shown)
        return names + [_other_name(o) for o in organization.other_names_in_order]

    @extend_schema_field(IdentifierSerializer(many=True))
    def get_identifiers(self, organization) -> list[dict]:
        return [
            {"identifier": i.identifier, "scheme": i.scheme} for i in _identifiers(organization)
        ]

    def get_classification(self, organization) -> str:
        return organization.kind.name

    @extend_schema_field({"type": "string", "nullable": True})
    def get_parent_id(self, organization) -> str | None:
        parents = self.context.get("parents_then", {})
        return parents.get(organization.pk, organization.parent_id)

    @extend_schema_field(LinkSerializer(many=True))
    def get_links(self, organization) -> list[dict]:
        page = address(self.context, "registry:organization", organization.pk)
        return _links(page, _identifiers(organization))

    @extend_schema_field(LinkSerializer(many=True))
    def get_sources(self, organization) -> list[dict]:
        return _sources(organization.prefetched_citations)

    @extend_schema_field(KindSerializer)
    def get_kind(self, organization) -> dict:
        return _code(organization.kind, section=True)

    @extend_schema_field(CodeSerializer(allow_null=True))
    def get_rank(self, organization) -> dict | None:
        ranks = self.context.get("ranks_then")
        if ranks is not None and organization.pk in ranks:
            return _code(ranks[organization.pk])
        return _code(organization.rank)

    def get_designations(self, organization) -> list[str]:
        return [
            o.name
            for o in organization.other_names_in_order
            if o.name_type == OtherName.Type.DESIGNATION and o.is_english
        ]

    def get_predecessor_ids(self, organization) -> list[str]:
        return [link.predecessor_id for link in organization.prefetched_predecessors]

    def get_successor_ids(self, organization) -> list[str]:
        return [link.successor_id for link in organization.prefetched_successors]

    @extend_schema_field(CitationSerializer(many=True))
    def get_citations(self, organization) -> list[dict]:
        return [
            {
                "title": c.source.title,
                "url": c.source.web_url,
                "publisher": c.source.publisher,
                "locator": c.locator,
            }
            for c in organization.prefetched_citations
        ]

    def get_url(self, organization) -> str:
        return address(self.context, "api:organization-detail", organization.pk)

    def to_representation(self, organization) -> dict:
        # The declared fields' values, built directly: DRF's field-by-field path costs more
        # than the document itself on a page of a thousand (the keys and their order are the
        # declared fields', which a test checks).
        return {
            "id": organization.pk,
            "name": self.get_name(organization),
            "other_names": self.get_other_names(organization),
            "identifiers": self.get_identifiers(organization),
            "classification": organization.kind.name,
            "parent_id": self.get_parent_id(organization),
            "founding_date": partial_date(organization.formed),
            "dissolution_date": partial_date(organization.dissolved),
            "abstract": organization.summary,
            "links": self.get_links(organization),
            "sources": self.get_sources(organization),
            "name_zh": self.get_name_zh(organization),
            "short_name_zh": organization.short_name_zh,
            "pinyin": organization.pinyin_shown,
            "kind": self.get_kind(organization),
            "rank": self.get_rank(organization),
            "designations": self.get_designations(organization),
            "type": organization.type,
            "location": organization.location,
            "history": organization.history,
            "functions": organization.functions,
            "predecessor_ids": self.get_predecessor_ids(organization),
            "successor_ids": self.get_successor_ids(organization),
            "citations": self.get_citations(organization),
            "url": self.get_url(organization),
        }


class SubtreeOrganizationSerializer(OrganizationSerializer):
    depth = serializers.SerializerMethodField(
        help_text="Extension: levels below the subtree's root (its direct units: 1)."
    )

    def get_depth(self, organization) -> int:
        return self.context["depths"][organization.pk]

    def to_representation(self, organization) -> dict:
        return {**super().to_representation(organization), "depth": self.get_depth(organization)}


class PersonSerializer(serializers.Serializer):
    """A Popolo person."""

    id = serializers.CharField(help_text="Stable identifier (the CSV files' `id`).")
    name = serializers.CharField()
    other_names = serializers.SerializerMethodField()
    identifiers = serializers.SerializerMethodField()
    summary = serializers.CharField(source="note")
    links = serializers.SerializerMethodField()
    sources = serializers.SerializerMethodField()
    name_zh = serializers.CharField(help_text="Extension: the person's name in Chinese.")
    pinyin = serializers.CharField(
        source="pinyin_shown", help_text="Extension: pinyin of the Chinese name, with tones."
    )
    url = serializers.SerializerMethodField(help_text="Extension: this document's address.")

    @extend_schema_field(OtherNameSerializer(many=True))
    def get_other_names(self, person: Person) -> list[dict]:
        return _names(person.name_zh, "", person.pinyin_shown)

    @extend_schema_field(IdentifierSerializer(many=True))
    def get_identifiers(self, person: Person) -> list[dict]:
        return [{"identifier": i.identifier, "scheme": i.scheme} for i in _identifiers(person)]

    @extend_schema_field(LinkSerializer(many=True))
    def get_links(self, person: Person) -> list[dict]:
        return _links(address(self.context, "registry:person", person.pk), _identifiers(person))

    @extend_schema_field(LinkSerializer(many=True))
    def get_sources(self, person: Person) -> list[dict]:
        return [
            {"url": iri_to_uri(s.web_url), "note": s.title}
            for s in person.sources.all()
            if s.web_url
        ]

    def get_url(self, person: Person) -> str:
        return address(self.context, "api:person-detail", person.pk)


class PostSerializer(serializers.Serializer):
    """A Popolo post: a position in an organization."""

    id = serializers.SerializerMethodField()
    label = serializers.CharField(source="title")
    other_label = serializers.SerializerMethodField(
        help_text="Other labels: the title used when the post has several holders."
    )
    role = serializers.CharField(source="title")
    organization_id = serializers.CharField()
    seniority = serializers.IntegerField(
        source="position", help_text="Extension: order of seniority in the organization, 1 first."
    )
    url = serializers.SerializerMethodField(help_text="Extension: this document's address.")

    def get_id(self, post: Post) -> str:
        return str(post.pk)

    def get_other_label(self, post: Post) -> list[str]:
        return [post.plural_title] if post.plural_title else []

    def get_url(self, post: Post) -> str:
        return address(self.context, "api:post-detail", post.pk)


class MembershipSerializer(serializers.Serializer):
    """A Popolo membership: a person holding a post of an organization, for a period."""

    id = serializers.SerializerMethodField()
    label = serializers.SerializerMethodField()
    role = serializers.CharField(source="post.title")
    person_id = serializers.CharField()
    organization_id = serializers.CharField(source="post.organization_id")
    post_id = serializers.SerializerMethodField()
    start_date = PartialDateField(source="start")
    end_date = PartialDateField(source="end")
    position = serializers.IntegerField(
        help_text="Extension: order among the post's holders, 1 first."
    )
    url = serializers.SerializerMethodField(help_text="Extension: this document's address.")

    def get_id(self, holding: Holding) -> str:
        return str(holding.pk)

    def get_label(self, holding: Holding) -> str:
        return f"{holding.post.title}, {holding.post.organization.name}"

    def get_post_id(self, holding: Holding) -> str:
        return str(holding.post_id)

    def get_url(self, holding: Holding) -> str:
        return address(self.context, "api:membership-detail", holding.pk)


class BadParameterSerializer(serializers.Serializer):
    error = serializers.CharField(help_text="Always `bad_parameter`.")
    parameter = serializers.CharField(help_text="The query parameter that is wrong.")
    message = serializers.CharField(help_text="What is wrong with it, and what it takes.")


class NotFoundSerializer(serializers.Serializer):
    detail = serializers.CharField()


class RateLimitedSerializer(serializers.Serializer):
    error = serializers.CharField(help_text="Always `rate_limited`.")
    message = serializers.CharField()
