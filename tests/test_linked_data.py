"""Linked data over HTTP: each organization and person as JSON-LD, read by a real RDF parser
(rdflib) into the triples of W3C ORG, schema.org and SKOS; and the same document embedded in
the page for search engines, safely."""

from __future__ import annotations

import json
import re

import pytest
from rdflib import RDF, Graph, Literal, Namespace, URIRef
from rdflib.namespace import SKOS, XSD

from registry.models import Identifier, Organization

ORG = Namespace("http://www.w3.org/ns/org#")
SCHEMA = Namespace("http://schema.org/")
DCTERMS = Namespace("http://purl.org/dc/terms/")
PAGE = "http://testserver/organizations/{}/"
# rdflib's JSON-LD parser uses its own deprecated class internally.
pytestmark = pytest.mark.filterwarnings("ignore:ConjunctiveGraph is deprecated:DeprecationWarning")


def graph_of(text: str) -> Graph:
    return Graph().parse(data=text, format="json-ld")


def embedded(client, url: str) -> str:
    page = client.get(url).content.decode()
    blocks = re.findall(r'<script type="application/ld\+json">(.*?)</script>', page, re.S)
    assert len(blocks) == 1
    return blocks[0]


def test_an_organization_as_linked_data(client, seeded):
    response = client.get("/api/v1/organizations/cppcc-general-office.jsonld")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/ld+json"
    assert response["ETag"]
    graph = graph_of(response.content.decode())
    office = URIRef(PAGE.format("cppcc-general-office"))
    assert (office, RDF.type, ORG.Organization) in graph
    assert (office, RDF.type, SCHEMA.GovernmentOrganization) in graph
    parent = URIRef(PAGE.format("cppcc-national-committee"))
    assert (office, ORG.subOrganizationOf, parent) in graph
    assert (
        office,
        SKOS.prefLabel,
        Literal("中国人民政治协商会议全国委员会办公厅", lang="zh-Hans"),
    ) in graph
    assert (office, SCHEMA.alternateName, Literal("全国政协办公厅", lang="zh-Hans")) in graph
    assert (office, SCHEMA.foundingDate, Literal("1980-12-30", datatype=XSD.date)) in graph
    secretariat = Organization.objects.get(formed="1949-10")
    assert (office, DCTERMS.replaces, URIRef(PAGE.format(secretariat.pk))) in graph
    # A month stays a month.
    then = graph_of(client.get(f"/api/v1/organizations/{secretariat.pk}.jsonld").content.decode())
    assert (
        URIRef(PAGE.format(secretariat.pk)),
        SCHEMA.foundingDate,
        Literal("1949-10", datatype=XSD.gYearMonth),
    ) in then


def test_the_page_embeds_the_same_graph(client, seeded):
    for page, document in (
        (
            "/organizations/cppcc-general-office/",
            "/api/v1/organizations/cppcc-general-office.jsonld",
        ),
        ("/people/liu-qi/", "/api/v1/persons/liu-qi.jsonld"),
        ("/zh-hans/people/liu-qi/", "/api/v1/persons/liu-qi.jsonld"),
    ):
        served = graph_of(client.get(document).content.decode())
        assert len(served) > 3
        assert graph_of(embedded(client, page)).isomorphic(served), page


def test_a_hostile_name_cannot_end_the_embedded_block(client, seeded):
    hostile = '</script><script>alert(1)</script><!-- "&'
    Organization.objects.filter(pk="cppcc-go-research-office").update(name=hostile)
    Organization.objects.get(pk="cppcc-go-research-office").save()
    block = embedded(client, "/organizations/cppcc-go-research-office/")
    assert "<" not in block and ">" not in block
    assert json.loads(block)["name"][0]["@value"] == hostile


def test_linked_data_answers_404_and_400_in_json(client, seeded):
    missing = client.get("/api/v1/organizations/no-such-unit.jsonld")
    assert missing.status_code == 404 and "no-such-unit" in missing.json()["detail"]
    refused = client.get("/api/v1/persons/liu-qi.jsonld?lang=zh")
    assert refused.status_code == 400 and refused.json()["parameter"] == "lang"


@pytest.mark.parametrize("url", ["/organizations/cppcc-general-office/", "/people/liu-qi/"])
def test_the_page_needs_nothing_from_the_csp_for_it(client, seeded, url):
    """A data block is never run: the page still has no script the CSP would have to allow."""
    page = client.get(url).content.decode()
    assert re.findall(r"<script(?![^>]*application/ld\+json)[^>]*>", page) == []


def test_a_wikidata_identifier_is_the_same_thing(client, seeded):
    office = Organization.objects.get(pk="cppcc-general-office")
    Identifier.objects.create(organization=office, scheme="wikidata", identifier="Q42")
    wikidata = URIRef("http://www.wikidata.org/entity/Q42")
    node = URIRef(PAGE.format(office.pk))
    for text in (
        client.get("/api/v1/organizations/cppcc-general-office.jsonld").content.decode(),
        embedded(client, "/organizations/cppcc-general-office/"),
    ):
        assert (node, SCHEMA.sameAs, wikidata) in graph_of(text)
