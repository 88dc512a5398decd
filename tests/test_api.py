"""The JSON API over HTTP, as a data user calls it: Popolo's shapes (checked against Popolo's own
JSON Schemas), filters, dates, cursors that hold while curators write, caching, CORS, the rate
limit, and a JSON 400 naming every bad parameter."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.cache import cache
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from registry.models import Holding, Identifier, Kind, Organization, Person, Placement, Post
from registry.services import organization_add, organization_move
from tests.conftest import admin_submit, assert_valid


def add_unit(pk: str, parent: Organization) -> Organization:
    kind = Kind.objects.get(code="internal-department")
    return organization_add(organization=Organization(id=pk, name=pk, parent=parent, kind=kind))


def get(client, url: str, **headers):
    response = client.get(url, headers=headers)
    assert response["Content-Type"].startswith("application/json"), response.content[:200]
    return response


def every_page(client, url: str) -> list[dict]:
    found = []
    while url:
        page = get(client, url).json()
        found += page["results"]
        url = page["next"]
    return found


def test_every_document_of_the_seed_validates_against_the_popolo_schemas(client, seeded, popolo):
    organizations = every_page(client, "/api/v1/organizations/?limit=7")
    persons = every_page(client, "/api/v1/persons/")
    posts = every_page(client, "/api/v1/posts/")
    memberships = every_page(client, "/api/v1/memberships/")
    assert len(organizations) == Organization.objects.count()
    assert len(persons) == Person.objects.count()
    assert len(posts) == Post.objects.count()
    assert len(memberships) == Holding.objects.count()
    for name, documents in (
        ("organization", organizations),
        ("person", persons),
        ("post", posts),
        ("membership", memberships),
    ):
        for document in documents:
            assert_valid(popolo[name], document)
            # Each list document is the same as its own address's.
            assert get(client, document["url"]).json() == document


def test_the_popolo_check_can_fail(popolo):
    assert list(popolo["organization"].iter_errors({"founding_date": "30 December 1980"}))
    assert list(popolo["identifier"].iter_errors({"scheme": "wikidata"}))


def test_an_organization_in_popolo_shape_with_its_chinese_names_dates_and_rank(client, seeded):
    office = get(client, "/api/v1/organizations/cppcc-general-office/").json()
    assert office["name"] == Organization.objects.get(pk="cppcc-general-office").name
    assert office["parent_id"] == "cppcc-national-committee"
    assert office["founding_date"] == "1980-12-30"
    assert office["dissolution_date"] is None
    assert office["name_zh"] == "中国人民政治协商会议全国委员会办公厅"
    assert office["short_name_zh"] == "全国政协办公厅"
    names = {(n["note"], n["lang"]): n for n in office["other_names"]}
    assert names[("chinese_short_form", "zh-Hans")]["name"] == "全国政协办公厅"
    assert names[("former_name", "en")]["start_date"] == "1980-12-30"
    assert office["classification"] == office["kind"]["name"]
    assert office["links"][0]["url"] == "http://testserver/organizations/cppcc-general-office/"
    assert all(source["url"].startswith("http") for source in office["sources"])
    assert office["citations"]
    # A month stays a month: the predecessor's "October 1949".
    secretariat = Organization.objects.get(formed="1949-10")
    assert get(client, f"/api/v1/organizations/{secretariat.pk}/").json()["founding_date"] == (
        "1949-10"
    )
    assert office["successor_ids"] == [] and secretariat.pk in office["predecessor_ids"]
    research = get(client, "/api/v1/organizations/cppcc-go-research-office/").json()
    assert research["rank"]["name_zh"] == "副部级"


def test_filters_by_kind_parent_root_and_names_in_any_language(client, seeded):
    def ids(query: str) -> list[str]:
        return [o["id"] for o in every_page(client, f"/api/v1/organizations/?{query}")]

    office = Organization.objects.get(pk="cppcc-general-office")
    kind = Kind.objects.get(code="internal-department")
    assert ids(f"kind={kind.code}") == sorted(
        Organization.objects.filter(kind=kind).values_list("pk", flat=True)
    )
    assert ids("parent=cppcc-general-office") == sorted(
        office.children.values_list("pk", flat=True)
    )
    assert ids("root=cppcc-general-office") == sorted(
        Organization.objects.subtree(office).values_list("pk", flat=True)
    )
    assert ids("rank=deputy-ministerial") == sorted(
        Organization.objects.filter(rank="deputy-ministerial").values_list("pk", flat=True)
    )
    for query in ("研究室", "全國政協", "zhengxie", "qgzxbgt", "Research Office"):
        found = ids(f"q={query}")
        assert found, query
        assert set(found) == set(Organization.objects.matching(query).values_list("pk", flat=True))
    assert "cppcc-general-office" in ids("q=quánguó zhèngxié")


def test_a_raw_utf8_query_comes_back_in_next_as_the_same_text(client, seeded):
    page = get(client, "/api/v1/organizations/?q=办公&limit=1").json()
    assert parse_qs(urlsplit(page["next"]).query)["q"] == ["办公"]
    assert get(client, page["next"]).status_code == 200


def test_the_registry_on_a_date(client, seeded):
    """On 1955-01-01 the CPPCC General Office (formed 1980) did not exist; the NPCSC office
    (1954) did, with its name of then."""
    found = {o["id"]: o for o in every_page(client, "/api/v1/organizations/?on=1955-01-01")}
    assert "cppcc-general-office" not in found
    assert "npcsc-general-office" in found
    assert all(
        Organization.objects.get(pk=pk).formed is None
        or Organization.objects.get(pk=pk).formed.earliest.year <= 1955
        for pk in found
    )


def test_a_unit_placed_elsewhere_then_is_listed_under_its_parent_of_then(client, seeded):
    unit = Organization.objects.get(pk="cppcc-go-research-office")
    other = Organization.objects.get(pk="npcsc-general-office")
    Placement.objects.create(organization=unit, parent=other, start="1990", end="2000")
    then = get(client, f"/api/v1/organizations/{unit.pk}/?on=1995").json()
    assert then["parent_id"] == other.pk
    assert get(client, f"/api/v1/organizations/{unit.pk}/").json()["parent_id"] == (
        "cppcc-general-office"
    )
    children_then = [
        o["id"] for o in every_page(client, f"/api/v1/organizations/?parent={other.pk}&on=1995")
    ]
    assert unit.pk in children_then
    subtree_then = every_page(client, f"/api/v1/organizations/{other.pk}/subtree/?on=1995")
    # Under its parent of then, one level down, with its own units below it.
    depths = {o["id"]: o["depth"] for o in subtree_then}
    assert depths[other.pk] == 0 and depths[unit.pk] == 1


def test_a_subtree_comes_in_tree_order_across_pages_with_depths(client, seeded):
    root = Organization.objects.get(pk="cppcc-national-committee")
    listed = every_page(client, f"/api/v1/organizations/{root.pk}/subtree/?limit=4")
    expected = list(Organization.objects.subtree(root).in_tree_order())
    assert [o["id"] for o in listed] == [o.pk for o in expected]
    assert [o["depth"] for o in listed] == [o.level - root.level for o in expected]


def test_a_subtree_cursor_continues_after_its_unit_while_curators_write(client, seeded):
    root = Organization.objects.get(pk="cppcc-general-office")
    first = get(client, f"/api/v1/organizations/{root.pk}/subtree/?limit=5").json()
    shown = [o["id"] for o in first["results"]]
    # A curator adds a unit at the very start of the subtree's units.
    organization_move(
        organization=add_unit("a-new-first-unit", root), target=root, position="first-child"
    )
    rest = every_page(client, first["next"])
    after = [o["id"] for o in rest]
    expected = [o.pk for o in Organization.objects.subtree(root).in_tree_order()]
    assert shown + after == [pk for pk in expected if pk != "a-new-first-unit"]


def test_list_cursors_neither_skip_nor_repeat_while_curators_write(client, seeded):
    first = get(client, "/api/v1/organizations/?limit=10").json()
    shown = [o["id"] for o in first["results"]]
    office = Organization.objects.get(pk="cppcc-general-office")
    # One unit sorted before the cursor, one after.
    add_unit("aaa-before", office)
    add_unit("zzz-after", office)
    rest = [o["id"] for o in every_page(client, first["next"])]
    assert not set(shown) & set(rest)
    assert "zzz-after" in rest and "aaa-before" not in rest
    everything = set(Organization.objects.values_list("pk", flat=True)) - {"aaa-before"}
    assert set(shown) | set(rest) == everything


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("kinds=internal-department", "kinds"),
        ("kind=no-such-kind", "kind"),
        ("rank=nope", "rank"),
        ("parent=no-such-unit", "parent"),
        ("on=1980-13", "on"),
        ("on=yesterday", "on"),
        ("on=1980-02-30", "on"),
        ("updated_since=last week", "updated_since"),
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=ten", "limit"),
        ("cursor=not-a-cursor", "cursor"),
        ("q=", "q"),
        ("q=%00", "q"),
        ("q=" + "x" * 201, "q"),
        ("kind=a&kind=b", "kind"),
        ("root=cppcc-general-office&on=1990", "root"),
    ],
)
def test_every_bad_parameter_is_a_json_400_naming_it(client, seeded, query, parameter):
    response = get(client, f"/api/v1/organizations/?{query}")
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "bad_parameter" and body["parameter"] == parameter
    assert body["message"]
    assert len(response.content) < 1000  # a long value is not sent back whole


def test_other_endpoints_refuse_bad_parameters_and_answer_404_in_json(client, seeded):
    assert get(client, "/api/v1/memberships/?post=abc").json()["parameter"] == "post"
    assert get(client, "/api/v1/memberships/?post=999999").json()["parameter"] == "post"
    assert get(client, "/api/v1/persons/?name=x").json()["parameter"] == "name"
    assert get(client, "/api/v1/posts/?organization=nope").json()["parameter"] == "organization"
    subtree = "/api/v1/organizations/cppcc-general-office/subtree/"
    assert get(client, f"{subtree}?cursor=%%%").json()["parameter"] == "cursor"
    assert get(client, f"{subtree}?on=1950").json()["parameter"] == "on"
    for url in (
        "/api/v1/organizations/no-such-unit/",
        "/api/v1/organizations/no-such-unit/subtree/",
        "/api/v1/persons/nobody/",
        "/api/v1/posts/999999/",
        "/api/v1/memberships/999999/",
    ):
        response = get(client, url)
        assert response.status_code == 404 and "detail" in response.json()


def test_memberships_by_person_post_organization_and_date(client, seeded):
    holding = Holding.objects.select_related("post").first()
    by_person = every_page(client, f"/api/v1/memberships/?person={holding.person_id}")
    assert {m["id"] for m in by_person} == {
        str(pk)
        for pk in Holding.objects.filter(person=holding.person).values_list("pk", flat=True)
    }
    by_post = every_page(client, f"/api/v1/memberships/?post={holding.post_id}")
    assert {m["post_id"] for m in by_post} == {str(holding.post_id)}
    office = holding.post.organization_id
    by_office = every_page(client, f"/api/v1/memberships/?organization={office}")
    assert {m["organization_id"] for m in by_office} == {office}
    Holding.objects.filter(pk=holding.pk).update(start="2001-03", end="2005")
    ids = {
        m["id"] for m in every_page(client, f"/api/v1/memberships/?post={holding.post_id}&on=2003")
    }
    assert str(holding.pk) in ids
    ids = {
        m["id"]
        for m in every_page(client, f"/api/v1/memberships/?post={holding.post_id}&on=2001-02")
    }
    assert str(holding.pk) not in ids
    ids = {
        m["id"] for m in every_page(client, f"/api/v1/memberships/?post={holding.post_id}&on=2006")
    }
    assert str(holding.pk) not in ids


def test_updated_since_lists_what_curators_saved_since(client, seeded, editor_client):
    response = editor_client.get(reverse("admin:registry_organization_changelist"))
    assert response.status_code == 200
    before = get(client, "/api/v1/organizations/?updated_since=2999-01-01").json()
    assert before["results"] == []
    moment = timezone.now().isoformat()
    office = Organization.objects.get(pk="cppcc-go-research-office")
    admin_submit(
        editor_client,
        reverse("admin:registry_organization_change", args=[office.pk]),
        summary="Saved by a curator.",
    )
    found = every_page(
        client, f"/api/v1/organizations/?updated_since={moment.replace('+', '%2B')}"
    )
    assert [o["id"] for o in found] == [office.pk]


def test_etag_304_and_a_write_changes_the_answer(client, seeded):
    url = "/api/v1/organizations/cppcc-general-office/"
    first = get(client, url)
    assert first.status_code == 200 and first["ETag"]
    assert "s-maxage" in first["Cache-Control"]
    again = client.get(url, headers={"if-none-match": first["ETag"]})
    assert again.status_code == 304
    Organization.objects.filter(pk="cppcc-general-office").update(summary="Changed.")
    Organization.objects.get(pk="cppcc-general-office").save()
    changed = client.get(url, headers={"if-none-match": first["ETag"]})
    assert changed.status_code == 200 and changed.json()["abstract"] == "Changed."


def test_cors_lets_any_page_read_and_nothing_else(client, seeded):
    response = client.get("/api/v1/persons/", headers={"origin": "https://example.org"})
    assert response["Access-Control-Allow-Origin"] == "*"
    preflight = client.options(
        "/api/v1/persons/",
        headers={"origin": "https://example.org", "access-control-request-method": "GET"},
    )
    assert preflight.status_code == 200
    assert "POST" not in preflight["Access-Control-Allow-Methods"]
    assert client.post("/api/v1/persons/").status_code == 405
    # The site's pages are not opened to other origins.
    page = client.get("/", headers={"origin": "https://example.org"})
    assert "Access-Control-Allow-Origin" not in page


@override_settings(API_RATE_LIMIT="3/minute")
def test_a_client_over_the_rate_limit_gets_429_with_retry_after(client, seeded):
    cache.clear()
    statuses = [client.get("/api/v1/persons/").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    refused = client.get("/api/v1/persons/")
    assert refused.json()["error"] == "rate_limited" and int(refused["Retry-After"]) >= 1
    # Another address has its own allowance.
    assert client.get("/api/v1/persons/", REMOTE_ADDR="10.0.0.9").status_code == 200
    cache.clear()


def test_the_openapi_schema_and_its_docs_are_served_by_the_site(client, seeded):
    schema = client.get("/api/v1/schema/?format=json")
    assert schema.status_code == 200
    document = json.loads(schema.content)
    assert document["openapi"].startswith("3.")
    assert "/api/v1/organizations/{id}/subtree/" in document["paths"]
    docs = client.get("/api/v1/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "<style" not in html and "<script>" not in html  # the CSP allows neither
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        assert f"/static/drf_spectacular_sidecar/swagger-ui-dist/{asset}" in html
    assert "http" not in html.split("<body>")[1]  # nothing from elsewhere
    assert client.get("/api/v1/docs/?script=").status_code == 200


def test_identifiers_travel_in_the_documents(client, seeded, popolo):
    office = Organization.objects.get(pk="cppcc-general-office")
    Identifier.objects.create(organization=office, scheme="wikidata", identifier="Q42")
    Identifier.objects.create(
        person=Person.objects.get(pk="liu-qi"), scheme="isni", identifier="0000000121032683"
    )
    document = get(client, "/api/v1/organizations/cppcc-general-office/").json()
    assert document["identifiers"] == [{"identifier": "Q42", "scheme": "wikidata"}]
    assert {"url": "https://www.wikidata.org/wiki/Q42", "note": "Wikidata"} in document["links"]
    assert_valid(popolo["organization"], document)
    person = get(client, "/api/v1/persons/liu-qi/").json()
    assert person["identifiers"] == [{"identifier": "0000000121032683", "scheme": "isni"}]
    assert_valid(popolo["person"], person)


def test_documents_hold_exactly_the_declared_fields(client, seeded):
    """The organization documents are built directly (for speed): their keys must stay the
    serializer's declared fields, which the OpenAPI schema documents."""
    from registry.api.serializers import OrganizationSerializer, SubtreeOrganizationSerializer

    document = get(client, "/api/v1/organizations/cppcc-general-office/").json()
    assert list(document) == list(OrganizationSerializer().fields)
    subtree = get(client, "/api/v1/organizations/cppcc-general-office/subtree/?limit=1").json()
    assert list(subtree["results"][0]) == list(SubtreeOrganizationSerializer().fields)


@pytest.mark.parametrize(
    ("url", "made"),
    [
        ("/api/v1/posts/", "p=abc"),
        ("/api/v1/memberships/", "p=99999999999999999999999"),
        ("/api/v1/organizations/", "p=a\x00b"),
        ("/api/v1/persons/", "p=" + "x" * 500),
        ("/api/v1/organizations/cppcc-general-office/subtree/", "a\x00b"),
    ],
)
def test_a_cursor_made_by_hand_is_a_400_not_a_500(client, seeded, url, made):
    import base64

    cursor = base64.urlsafe_b64encode(made.encode()).decode()
    response = get(client, f"{url}?cursor={cursor}")
    assert response.status_code == 400 and response.json()["parameter"] == "cursor"


@pytest.mark.parametrize(
    "moment", ["0001-01-01", "0001-01-01T00:00:00", "9999-12-31T23:59:59-12:00"]
)
def test_a_moment_at_the_edge_of_time_is_a_400_or_an_answer_never_a_500(client, seeded, moment):
    response = get(client, f"/api/v1/organizations/?updated_since={moment.replace('+', '%2B')}")
    assert response.status_code in (200, 400)
