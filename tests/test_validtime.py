"""The registry through time, read as readers read it: pages over HTTP with `?on=DATE`, and the
dated records curated in the admin (issue "through time"; the rules are in docs/time.md)."""

from __future__ import annotations

import re

import pytest
from django.core.exceptions import ValidationError

from registry.dates import On
from registry.models import ChangeEvent, EventOrganization, Organization, OtherName, Placement

from .conftest import admin_form_data

GO = "/organizations/cppcc-general-office/"


def _links(html: str) -> list[str]:
    """The page's links to records, but those that change the date on purpose ("back to
    today", a timeline's dates)."""
    # The Atom feed of an organization's changes lists every date: it has none to keep.
    links = re.findall(r'<a href="(/(?:organizations|people)/[^"]*)"', html)
    return [link for link in links if not link.endswith("/changes.atom")]


def _page(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, url
    return response.content.decode()


@pytest.fixture
def reform(seeded, make_org):
    """A unit that sat under the NPCSC General Office until March 2000, and under the CPPCC
    General Office since; with one unit of its own below it."""
    moved = make_org(
        "Moved Bureau",
        parent=Organization.objects.get(pk="cppcc-general-office"),
        id="moved-bureau",
        formed="1990",
    )
    make_org("Bureau Section", parent=moved, id="bureau-section")
    Placement.objects.create(
        organization=moved,
        parent=Organization.objects.get(pk="npcsc-general-office"),
        start="1990",
        end="2000-03",
    )
    return moved


def test_a_unit_formed_later_says_so_and_links_what_existed_then(client, seeded):
    response = client.get(f"{GO}?on=1970")
    html = response.content.decode()
    assert response.status_code == 404
    assert "Not in existence in 1970" in html
    assert 'href="/organizations/cppcc-secretariat/?on=1970"' in html  # its predecessor then
    assert 'href="/organizations/cppcc-national-committee/?on=1970"' in html  # its parent then
    assert f'href="{GO}?on=1980-12-30"' in html


def test_every_link_on_a_dated_page_keeps_the_date(client, seeded):
    html = _page(client, f"{GO}?on=1990")
    assert "as it stood in 1990" in html
    links = _links(html)
    assert len(links) > 30
    assert all(link.endswith("?on=1990") for link in links), [
        link for link in links if not link.endswith("?on=1990")
    ]


def test_the_home_page_lists_current_bodies_and_the_succeeded_ones_on_request(client, seeded):
    today = _page(client, "/")
    assert "/organizations/cppcc-secretariat/" not in today
    assert "/organizations/cppcc-general-office/" in today
    assert "/organizations/cppcc-secretariat/" in _page(client, "/?ended=1")


def test_the_home_page_on_a_date_lists_what_existed_then(client, seeded):
    html = _page(client, "/?on=1960")
    assert "/organizations/cppcc-secretariat/?on=1960" in html
    assert "/organizations/cppcc-general-office/" not in html
    assert "/organizations/npcsc-general-office/?on=1960" in html  # formed 1954-09-27


@pytest.mark.parametrize(
    ("on", "status"),
    [("1954", 200), ("1954-09", 200), ("1954-09-27", 200), ("1954-09-26", 404), ("1953", 404)],
)
def test_partial_dates_count_for_their_whole_period(client, seeded, on, status):
    """Formed 27 September 1954: present in 1954 and in September 1954 (some time during the
    period asked), not on the day before."""
    assert client.get(f"/organizations/npcsc-general-office/?on={on}").status_code == status


@pytest.mark.parametrize("on", ["1990-13", "19", "1990-02-30", " 1990", "1990-1"])
def test_a_bad_date_is_refused_with_a_message_naming_it(client, seeded, on):
    response = client.get("/", {"on": on})
    assert response.status_code == 400
    assert "?on=" in response.content.decode()


def test_a_unit_moved_in_a_reform_is_under_its_parent_then(client, reform):
    before = _page(client, "/organizations/npcsc-general-office/?on=1995")
    after = _page(client, "/organizations/npcsc-general-office/?on=2005")
    assert "/organizations/moved-bureau/?on=1995" in before
    assert "/organizations/bureau-section/?on=1995" in before  # its own units come along
    assert "moved-bureau" not in after
    assert "moved-bureau" not in _page(client, f"{GO}?on=1995")
    assert "/organizations/moved-bureau/?on=2005" in _page(client, f"{GO}?on=2005")
    # Today's page is the current tree.
    assert "/organizations/moved-bureau/" in _page(client, GO)


def test_in_the_year_of_a_move_the_later_placement_applies(client, reform):
    assert "/organizations/moved-bureau/?on=2000" in _page(client, f"{GO}?on=2000")
    assert "moved-bureau" not in _page(client, f"{GO}?on=2000-02")
    breadcrumbs = _page(client, "/organizations/bureau-section/?on=1995")
    assert "/organizations/npcsc-general-office/?on=1995" in breadcrumbs


def test_the_timeline_tells_the_move_and_the_establishment(client, reform):
    html = _page(client, "/organizations/moved-bureau/")
    assert "Moved from General Office of the Standing Committee" in html
    assert 'datetime="2000-03"' in html
    go = _page(client, GO)
    timeline = go[go.index('id="timeline"') :]
    assert "Established" in timeline and "30 December 1980" in timeline
    assert "/organizations/cppcc-secretariat/" in timeline


def test_a_move_recorded_as_an_event_is_told_once_with_the_event(client, reform):
    event = ChangeEvent.objects.create(id="bureau-moved-2000", type="moved", date="2000-03")
    EventOrganization.objects.create(event=event, organization=reform, role="original")
    EventOrganization.objects.create(event=event, organization=reform, role="result")
    Placement.objects.filter(organization=reform).update(event=event)
    html = _page(client, "/organizations/moved-bureau/")
    timeline = html[html.index('id="timeline"') :]
    assert timeline.count('datetime="2000-03"') == 1
    assert "Moved from General Office of the Standing Committee" in timeline
    assert 'href="/events/bureau-moved-2000/"' in timeline


def test_a_former_name_names_the_page_only_where_its_period_is_known(client, seeded):
    former = OtherName.objects.get(name="General Office of the CPPCC Standing Committee")
    # The seed gives no end: the name is listed but does not replace today's.
    assert "<h1>General Office of the National Committee" in _page(client, f"{GO}?on=1981")
    former.end = "1983"
    former.save()
    assert "<h1>General Office of the CPPCC Standing Committee</h1>" in _page(
        client, f"{GO}?on=1982"
    )
    assert "<h1>General Office of the National Committee" in _page(client, f"{GO}?on=1984")


def test_in_the_period_of_a_renaming_the_new_name_applies(client, seeded):
    former = OtherName.objects.get(name="General Office of the CPPCC Standing Committee")
    former.end = "1983-03"
    former.save()
    before = _page(client, f"{GO}?on=1983-02")
    assert "<h1>General Office of the CPPCC Standing Committee</h1>" in before
    for on in ("1983-03", "1983-03-15", "1983"):  # rule 4: the later name, as for a move
        assert "<h1>General Office of the National Committee" in _page(client, f"{GO}?on={on}")


def test_the_chart_file_linked_from_a_dated_page_shows_that_date(client, reform):
    chart = "/organizations/npcsc-general-office/chart.svg"
    assert "/organizations/moved-bureau/?on=1995" in _page(client, f"{chart}?on=1995")
    assert "moved-bureau" not in _page(client, chart)  # under the CPPCC office today
    assert f'href="{chart}?on=1995"' in _page(
        client, "/organizations/npcsc-general-office/?on=1995"
    )
    assert client.get(f"{GO}chart.svg?on=1970").status_code == 404  # formed in 1980


def test_an_empty_date_box_means_today(client, seeded):
    assert _page(client, "/?on=") == _page(client, "/")


def test_a_date_far_too_long_is_refused_without_repeating_it(client, seeded):
    response = client.get("/", {"on": "1" * 100_000})
    assert response.status_code == 400
    assert len(response.content) < 200
    assert b"100,000 characters are not a date" in response.content


def test_placements_of_one_unit_may_not_overlap(reform):
    overlapping = Placement(organization=reform, parent=None, start="1995", end="1999")
    with pytest.raises(ValidationError, match="overlaps"):
        overlapping.full_clean()
    touching = Placement(organization=reform, parent=None, start="1985", end="1990")
    touching.full_clean()  # ends the day (year) the next begins: allowed


def test_a_placement_lies_within_its_parents_existence(reform):
    placement = Placement(
        organization=reform,
        parent=Organization.objects.get(pk="cppcc-general-office"),
        start="1970",
        end="1975",
    )
    with pytest.raises(ValidationError, match="formed in 30 December 1980"):
        placement.full_clean()


def test_the_admin_refuses_an_overlapping_placement_and_writes_nothing(editor_client, reform):
    url = "/admin/registry/organization/moved-bureau/change/"
    page = editor_client.get(url)
    data = admin_form_data(page)
    data |= {
        "placements-TOTAL_FORMS": "2",
        "placements-1-parent": "",
        "placements-1-start": "1998",
        "placements-1-end": "1999",
    }
    response = editor_client.post(url, data)
    assert response.status_code == 200
    assert "overlaps" in response.content.decode()
    assert Placement.objects.filter(organization=reform).count() == 1


def test_a_change_event_is_curated_in_the_admin(editor_client, seeded):
    response = editor_client.post(
        "/admin/registry/changeevent/add/",
        {
            "id": "npcsc-office-rank-1990",
            "type": "rank_changed",
            "date": "1990-05",
            "note": "",
            "participants-TOTAL_FORMS": "1",
            "participants-INITIAL_FORMS": "0",
            "participants-0-organization": "npcsc-general-office",
            "participants-0-role": "original",
            "participants-0-position": "0",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    event = ChangeEvent.objects.get(pk="npcsc-office-rank-1990")
    assert [p.organization_id for p in event.participants.all()] == ["npcsc-general-office"]
    assert EventOrganization.objects.filter(event=event).count() == 1


def test_on_names_its_period():
    on = On.parse("1980")
    assert (str(on.first), str(on.last)) == ("1980-01-01", "1980-12-31")
    assert on.phrase() == "in 1980"
    assert On.parse("1980-12-30").phrase() == "on 30 December 1980"
