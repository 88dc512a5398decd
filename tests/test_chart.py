"""The organization chart (registry/charts.py) and its SVG route."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from django.db import connection
from django.test.utils import CaptureQueriesContext

from registry.charts import MAX_COLUMNS, MAX_STACK, MAX_TOPS, organization_chart, wrap
from registry.models import Kind, Organization
from registry.trees import children_by_parent

SVG = "{http://www.w3.org/2000/svg}"


def _chart(organization: Organization) -> str:
    organization.refresh_from_db()
    descendants = list(organization.get_descendants().with_labels())
    return organization_chart(organization, children_by_parent(descendants))


def _links(svg: str) -> dict[str, str]:
    root = ET.fromstring(svg)
    return {a.get("aria-label"): a.get("href") for a in root.iter(f"{SVG}a")}


def _group(svg: str, label: str) -> ET.Element:
    root = ET.fromstring(svg)
    return next(g for g in root.iter(f"{SVG}g") if g.get("aria-label") == label)


def test_names_are_escaped_as_text(make_org):
    top = make_org('<script>alert("x")</script> & Co')
    make_org("R&D <b>Bureau</b>", parent=top)
    svg = _chart(top)
    assert "<script>" not in svg and "<b>" not in svg
    assert "&lt;script&gt;" in svg and "&amp; Co" in svg
    root = ET.fromstring(svg)  # well-formed XML
    texts = ["".join(a.itertext()) for a in root.iter(f"{SVG}a")]
    assert any("R&D <b>Bureau</b>" in text for text in texts)


def test_a_name_with_characters_xml_cannot_carry_leaves_the_chart_well_formed(
    client, seeded, make_org
):
    make_org("Bad\x0bname\x01", parent=Organization.objects.get(pk="cppcc-general-office"))
    response = client.get("/organizations/cppcc-general-office/chart.svg")
    assert response.status_code == 200
    root = ET.fromstring(response.content)  # well-formed XML
    titles = [title.text for title in root.iter(f"{SVG}title")]
    assert "Bad\ufffdname\ufffd" in titles


def test_the_cppcc_general_office_has_one_linked_box_per_unit(seeded):
    office = Organization.objects.get(pk="cppcc-general-office")
    svg = _chart(office)
    root = ET.fromstring(svg)
    hrefs = [a.get("href") for a in root.iter(f"{SVG}a")]
    units = [office, *office.get_descendants()]
    assert sorted(hrefs) == sorted(unit.get_absolute_url() for unit in units)
    assert len(hrefs) == 29
    for a in root.iter(f"{SVG}a"):
        assert a.get("aria-label")  # every link has an accessible name


def test_the_chart_is_titled_described_and_scalable(seeded):
    root = ET.fromstring(_chart(Organization.objects.get(pk="cppcc-general-office")))
    assert root.get("role") == "group"
    title = root.find(f"{SVG}title")
    desc = root.find(f"{SVG}desc")
    assert title.get("id") == root.get("aria-labelledby")
    assert desc.get("id") == root.get("aria-describedby")
    assert "Organization chart of General Office" in title.text
    assert "17 internal departments and 8 directly affiliated institutions" in desc.text
    assert root.get("viewBox").startswith("0 0 ")
    assert root.find(f".//{SVG}style") is None  # the CSP forbids inline <style>


def test_affiliated_institutions_are_grouped_apart(seeded):
    svg = _chart(Organization.objects.get(pk="cppcc-general-office"))
    departments = _group(svg, "Internal departments")
    affiliated = _group(svg, "Directly affiliated institutions")
    department_names = {a.get("aria-label") for a in departments.iter(f"{SVG}a")}
    affiliated_names = {a.get("aria-label") for a in affiliated.iter(f"{SVG}a")}
    # Each box is labelled with both names (the English page's first).
    assert "Research Office 研究室" in department_names
    assert "Theoretical Bureau of the Research Office" in department_names
    assert "Huangpu Magazine" in affiliated_names
    assert not department_names & affiliated_names
    expected = {
        f"{name} {name_zh}".strip()
        for name, name_zh in Organization.objects.filter(
            parent_id="cppcc-general-office", kind__section=Kind.Section.AFFILIATED
        ).values_list("name", "name_zh")
    }
    assert affiliated_names == expected


def test_long_names_wrap_in_fixed_width_boxes():
    lines = wrap(
        "Office of the Committee for Liaison with Hong Kong, Macao, Taiwan and Overseas Chinese"
    )
    assert 2 < len(lines) <= 4
    assert all(len(line) <= 24 for line in lines)
    assert all(len(line) <= 12 for line in wrap("全国人民代表大会常务委员会办公厅研究室信息局"))
    assert wrap("x" * 500)[-1].endswith("…")


def test_a_few_hundred_units_collapse_into_more_boxes(make_org):
    institution = Kind.objects.get(pk="affiliated-institution")
    top = make_org("Large office")
    branches = [make_org(f"Branch {n}", parent=top) for n in range(MAX_TOPS + 5)]
    for n in range(MAX_STACK + 3):
        sub = make_org(f"Sub {n}", parent=branches[0])
        make_org(f"Deep {n}", parent=sub)
        make_org(f"Deeper {n}", parent=Organization.objects.get(name=f"Deep {n}"))
    for n in range(200):
        make_org(f"Unit {n}", parent=branches[1 + n % 10])
    for n in range(30):
        make_org(f"Institution {n}", parent=top, kind=institution)
    top.refresh_from_db()
    assert top.get_descendant_count() > 250

    svg = _chart(top)
    links = _links(svg)
    assert len(links) < 150  # not one box per unit
    assert "Unit 199" not in links
    assert "+5 more internal departments" in links
    assert links["+5 more internal departments"] == f"{top.get_absolute_url()}#departments"
    assert links["+10 more directly affiliated institutions"].endswith("#affiliated")
    assert f"+3 more under {branches[0].name}" in links
    # Two levels below the unit at most: deeper units are counted, linked to their parent.
    assert "Deep 0" not in links
    assert (
        links["+2 more under Sub 0"] == Organization.objects.get(name="Sub 0").get_absolute_url()
    )
    width = float(ET.fromstring(svg).get("viewBox").split()[2])
    assert width < 1100  # at most MAX_COLUMNS columns: text is never shrunk to fit
    assert MAX_COLUMNS == 5


def test_the_svg_route_serves_a_standalone_file(client, seeded):
    response = client.get("/organizations/cppcc-general-office/chart.svg")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("image/svg+xml")
    assert response["Content-Disposition"] == 'inline; filename="cppcc-general-office-chart.svg"'
    root = ET.fromstring(response.content)
    hrefs = [a.get("href") for a in root.iter(f"{SVG}a")]
    assert "http://testserver/organizations/cppcc-go-research-office/" in hrefs
    assert client.get("/organizations/nowhere/chart.svg").status_code == 404


def test_the_page_shows_the_chart_and_links_the_svg(client, seeded):
    html = client.get("/organizations/cppcc-general-office/").content.decode()
    assert '<svg xmlns="http://www.w3.org/2000/svg" class="org-chart"' in html
    assert 'href="/organizations/cppcc-general-office/chart.svg"' in html
    assert "Download the chart (SVG)" in html
    leaf = client.get("/organizations/cppcc-go-research-office-office/").content.decode()
    assert "org-chart" not in leaf  # nothing to draw under a leaf


def _queries_for(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def test_the_chart_route_query_count_does_not_depend_on_the_tree(client, make_org):
    small = make_org("Small office")
    make_org("Department", parent=small)
    baseline = _queries_for(client, f"/organizations/{small.pk}/chart.svg")
    large = make_org("Large office")
    branches = [make_org(f"Branch {n}", parent=large) for n in range(10)]
    for n in range(100):
        make_org(f"Unit {n}", parent=branches[n % 10])
    assert _queries_for(client, f"/organizations/{large.pk}/chart.svg") == baseline
