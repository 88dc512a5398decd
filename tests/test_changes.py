"""What changed between two dates, read as readers read it: the compare page, its CSV, the
Atom feeds and the change-event pages, over HTTP (issue "through time"; rules in docs/time.md)."""

from __future__ import annotations

import csv
import datetime
import io
import re

import feedparser
import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from registry.models import (
    ChangeEvent,
    EventOrganization,
    Holding,
    Organization,
    OtherName,
    Person,
    Placement,
    Post,
    Rank,
    Source,
    Succession,
)

GO = "cppcc-general-office"
NPC_GO = "npcsc-general-office"


def _get(client, url: str, status: int = 200):
    response = client.get(url)
    assert response.status_code == status, (url, response.content[:500])
    return response


def _page(client, url: str) -> str:
    return _get(client, url).content.decode()


def _section(html: str, kind: str) -> str:
    """The compare page's list of one kind of change ("" when the page has none)."""
    found = re.search(rf'<section class="change-kind" id="{kind}".*?</section>', html, re.S)
    return found.group(0) if found else ""


def _csv(client, url: str) -> list[dict[str, str]]:
    response = _get(client, url)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


@pytest.fixture
def reforms(seeded, make_org):
    """One of each kind of change, in 2000-2003, inside the CPPCC General Office's subtree
    (and one outside it, in the NPCSC's)."""
    go = Organization.objects.get(pk=GO)
    npc_go = Organization.objects.get(pk=NPC_GO)
    source = Source.objects.first()
    moved = make_org("Moved Bureau", parent=go, id="moved-bureau", formed="1990")
    Placement.objects.create(organization=moved, parent=npc_go, start="1990", end="2001-03")
    renamed = make_org("New Name Office", parent=go, id="renamed-office", formed="1985")
    OtherName.objects.create(
        organization=renamed,
        name_type="former_name",
        name="Old Name Office",
        start="1985",
        end="2002",
    )
    first = make_org("First Bureau", parent=go, id="first-bureau", formed="1990", dissolved="2003")
    second = make_org("Second Bureau", parent=go, id="second-bureau", dissolved="2003-06")
    merged = make_org("Merged Bureau", parent=go, id="merged-bureau", formed="2003-07")
    merger = ChangeEvent.objects.create(
        id="bureaus-merged-2003", type="merged", date="2003-07", source=source, locator="p. 4"
    )
    for unit, role in ((first, "original"), (second, "original"), (merged, "result")):
        EventOrganization.objects.create(event=merger, organization=unit, role=role)
    for old in (first, second):
        Succession.objects.create(predecessor=old, successor=merged, date="2003-07", event=merger)
    rank = ChangeEvent.objects.create(
        id="npc-office-rank-2002",
        type="rank_changed",
        date="2002-05",
        rank_before=Rank.objects.get(pk="bureau"),
        rank_after=Rank.objects.get(pk="deputy-ministerial"),
    )
    EventOrganization.objects.create(event=rank, organization=npc_go, role="original")
    post = Post.objects.filter(organization=go).first()
    person = Person.objects.create(id="new-leader", name="New Leader")
    Holding.objects.create(post=post, person=person, start="2002-01-15", position=99)
    make_org("Outside Unit", parent=npc_go, id="outside-unit", formed="2002")
    make_org("Abolished Office", parent=go, id="abolished-office", dissolved="2002-11")
    return post


def test_without_dates_the_page_asks_for_them(client, seeded):
    html = _page(client, "/changes/")
    assert 'name="from"' in html and 'name="to"' in html
    assert 'class="change-kind"' not in html


def test_the_seed_bodies_established_between_two_dates_are_listed_and_linked(client, seeded):
    established = _section(_page(client, "/changes/?from=1949&to=1990"), "established")
    for pk, date in (("npcsc", "1954"), (NPC_GO, "1954-09-27"), (GO, "1980-12-30")):
        assert f'href="/organizations/{pk}/?on={date}"' in established
    assert "cppcc-secretariat" not in established  # formed October 1949: it existed in 1949
    # The General Office's establishment is a recorded change with its source.
    assert 'href="/events/cppcc-general-office-established-1980/"' in established


def test_a_later_first_date_leaves_out_what_existed_by_then(client, seeded):
    established = _section(_page(client, "/changes/?from=1955&to=1990"), "established")
    assert f"/organizations/{GO}/" in established
    assert "/organizations/npcsc/" not in established


def test_each_kind_of_change_is_listed_with_its_date(client, reforms):
    html = _page(client, "/changes/?from=2000&to=2004")
    moved = _section(html, "moved")
    assert "Moved Bureau" in moved and "2001-03" in moved
    assert "From under General Office of the Standing Committee" in moved
    renamed = _section(html, "renamed")
    assert "New Name Office" in renamed and "Formerly Old Name Office." in renamed
    assert "Abolished Office" in _section(html, "abolished")
    merged = _section(html, "merged")
    assert "Merged Bureau" in merged and 'href="/events/bureaus-merged-2003/"' in merged
    assert "First Bureau" in merged and "Second Bureau" in merged and "p. 4" in merged
    rank = _section(html, "rank_changed")
    assert "From bureau-level to deputy ministerial-level" in _text(rank)


def test_a_merger_is_told_once_not_also_as_formations_and_dissolutions(client, reforms):
    html = _page(client, "/changes/?from=2000&to=2004")
    assert "Merged Bureau" not in _section(html, "established")
    assert "First Bureau" not in _section(html, "abolished")
    assert "New Leader took office as" in _section(html, "appointed")
    assert "Outside Unit" in _section(html, "established")


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html)).replace("&#x27;", "'")


def test_a_unit_that_existed_in_the_second_period_is_not_yet_abolished(client, reforms):
    # Dissolved "2002-11": it existed at some time during 2002 (docs/time.md, rule 3).
    during = _page(client, "/changes/?from=2000&to=2002")
    after = _page(client, "/changes/?from=2000&to=2002-12")
    assert "Abolished Office" not in _section(during, "abolished")
    assert "Abolished Office" in _section(after, "abolished")


def test_a_change_after_the_second_date_is_not_listed(client, reforms):
    html = _page(client, "/changes/?from=2000&to=2002")
    assert _section(html, "merged") == ""  # 2003-07
    assert "Moved Bureau" in _section(html, "moved")


def test_a_change_within_the_first_period_is_not_listed(client, reforms):
    # Moved in March 2001: on ?from=2001 the unit is already under its new parent.
    assert "Moved Bureau" not in _section(_page(client, "/changes/?from=2001&to=2003"), "moved")


def test_scoped_to_a_subtree_it_keeps_units_that_moved_in_and_leaves_out_other_trees(
    client, reforms
):
    html = _page(client, f"/changes/?from=2000&to=2003&root={GO}")
    assert "Moved Bureau" in _section(html, "moved")
    assert "Outside Unit" not in html
    assert _section(html, "rank_changed") == ""  # the NPCSC office's
    npc = _page(client, f"/changes/?from=2000&to=2003&root={NPC_GO}")
    assert "Moved Bureau" in _section(npc, "moved")  # it left that subtree in 2001
    assert "Merged Bureau" not in npc


def test_every_link_of_a_change_keeps_a_date(client, reforms):
    html = _page(client, "/changes/?from=2000&to=2003")
    links = re.findall(r'href="(/(?:organizations|people)/[^"]*)"', html)
    assert links
    assert all("?on=" in link for link in links), [x for x in links if "?on=" not in x]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("from=19x", "?from= is not valid"),
        ("from=1990&to=2000-13", "?to= is not valid"),
        ("from=2000&to=1990", "?from= (2000) is after ?to= (1990)"),
        ("to=1990", "Give the first date too"),
        ("from=1990&kind=nonsense", "?kind= must be one of"),
        ("from=1990-02-30", "not a real day"),
    ],
)
def test_a_bad_comparison_is_refused_naming_what_is_wrong(client, seeded, query, message):
    response = _get(client, f"/changes/?{query}", status=400)
    assert message in response.content.decode()


def test_the_form_for_one_organization_keeps_it(client, seeded):
    html = _page(client, f"/changes/?root={GO}")
    assert f'<input type="hidden" name="root" value="{GO}">' in html
    assert "In <a href=" in html


def test_an_unknown_root_is_not_found(client, seeded):
    _get(client, "/changes/?root=no-such-unit", status=404)
    _get(client, "/changes/?from=1990&root=no-such-unit", status=404)
    _get(client, "/changes.csv?from=1990&root=no-such-unit", status=404)


def test_to_defaults_to_today_named_in_the_url(client, seeded):
    today = datetime.date.today().isoformat()
    for path in ("/changes/", "/changes.csv"):
        response = _get(client, f"{path}?from=1979&root={GO}", status=302)
        assert response["Location"] == f"{path}?from=1979&root={GO}&to={today}"
    html = _page(client, f"/changes/?from=1979&to={today}")
    assert f"/organizations/{GO}/" in _section(html, "established")


def test_the_changes_download_as_csv_with_every_change(client, reforms):
    rows = _csv(client, "/changes.csv?from=2000&to=2003")
    kinds = {(row["kind"], row["organization"]) for row in rows}
    assert ("moved", "moved-bureau") in kinds
    assert ("merged", "merged-bureau") in kinds
    assert ("appointed", GO) in kinds
    merger = next(row for row in rows if row["kind"] == "merged")
    assert merger["related"].split() == ["first-bureau", "second-bureau"]
    assert merger["event"] == "bureaus-merged-2003"
    assert merger["date"] == "2003-07"
    appointed = next(row for row in rows if row["kind"] == "appointed")
    assert appointed["person"] == "new-leader"


def test_the_csv_escapes_a_hostile_name(client, reforms):
    Organization.objects.filter(pk="merged-bureau").update(name='=HYPERLINK("x")')
    rows = _csv(client, "/changes.csv?from=2000&to=2003")
    names = {row["name"] for row in rows if row["organization"] == "merged-bureau"}
    assert names == {'\'=HYPERLINK("x")'}


def test_the_csv_without_dates_is_refused(client, seeded):
    assert b"Give the dates" in _get(client, "/changes.csv", status=400).content


def _feed(client, url: str):
    response = _get(client, url)
    assert response["Content-Type"].startswith("application/atom+xml")
    parsed = feedparser.parse(response.content)
    assert not parsed.bozo, parsed.bozo_exception
    assert parsed.version == "atom10"
    return parsed


def test_the_atom_feed_lists_structural_changes_newest_first(client, reforms):
    parsed = _feed(client, "/changes.atom")
    titles = [entry.title for entry in parsed.entries]
    assert titles[0] == "Merged: Merged Bureau"
    assert "Established: Merged Bureau" not in titles  # told once, as the merger
    assert "Moved: Moved Bureau" in titles and "Established: Moved Bureau" in titles
    assert "Renamed: New Name Office" in titles
    dates = [entry.updated_parsed for entry in parsed.entries]
    assert dates == sorted(dates, reverse=True)
    assert (
        "Established: General Office of the Standing Committee of the National People's Congress"
        in titles
    )
    assert not any("took office" in title for title in titles)  # people are not structure
    ids = [entry.id for entry in parsed.entries]
    assert len(set(ids)) == len(ids) and all(i.startswith("http://testserver/") for i in ids)
    assert parsed.entries[0].link == "http://testserver/organizations/merged-bureau/?on=2003-07"


def test_an_organization_feed_holds_its_subtree_only(client, reforms):
    parsed = _feed(client, f"/organizations/{GO}/changes.atom")
    titles = {entry.title for entry in parsed.entries}
    assert "Moved: Moved Bureau" in titles
    assert not any("Outside Unit" in title for title in titles)
    assert parsed.feed.title.startswith("Changes in General Office of the National Committee")
    _get(client, "/organizations/no-such-unit/changes.atom", status=404)


def test_pages_name_their_feed_for_feed_readers(client, seeded):
    html = _page(client, f"/organizations/{GO}/")
    assert 'type="application/atom+xml" title="Changes in General Office' in html
    assert f'href="/organizations/{GO}/changes.atom"' in html
    assert 'href="/changes.atom"' in _page(client, "/")


def test_an_event_page_shows_the_change_with_its_organizations_and_source(client, seeded):
    html = _page(client, "/events/cppcc-general-office-established-1980/")
    assert 'Established, <time datetime="1980-12-30">30 December 1980</time>' in html
    before, after = html.split("After the change")
    assert "/organizations/cppcc-secretariat/?on=1980-12-30" in before
    assert f"/organizations/{GO}/?on=1980-12-30" in after
    assert "History" in after
    _get(client, "/events/no-such-event/", status=404)


def test_the_timeline_links_its_recorded_change_and_the_compare_page(client, seeded):
    html = _page(client, f"/organizations/{GO}/")
    assert 'href="/events/cppcc-general-office-established-1980/"' in html
    assert f'href="/changes/?root={GO}"' in html


def test_a_long_range_shows_a_page_of_each_kind_and_links_to_the_rest(client, db):
    call_command("generate_registry", organizations=1000, people=10, seed=2, verbosity=0)
    html = _page(client, "/changes/?from=1950&to=2020")
    established = _section(html, "established")
    count = int(re.search(r'<span class="aside">\((\d+)\)</span>', established).group(1))
    assert count > 100
    assert established.count("<li>") == 100
    assert f"All {count} changes of this kind" in established
    page = _page(client, "/changes/?from=1950&to=2020&kind=established&page=2")
    assert _section(page, "moved") == ""
    assert 'rel="prev"' in page and "kind=established" in page


def _queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        _get(client, url)
    return len(queries)


def test_comparing_takes_the_same_queries_at_any_size(client, db):
    call_command("generate_registry", organizations=1000, people=10, seed=2, verbosity=0)
    small = _queries(client, "/changes/?from=1960&to=2000")
    call_command("generate_registry", organizations=3000, people=10, seed=8, verbosity=0)
    assert _queries(client, "/changes/?from=1960&to=2000") == small


def test_a_name_with_characters_xml_cannot_carry_leaves_the_feed_well_formed(
    client, seeded, make_org
):
    go = Organization.objects.get(pk=GO)
    make_org("Bad\x0bname\x01", parent=go, id="control-characters", formed="2001")
    parsed = _feed(client, "/changes.atom")
    assert "Established: Bad\ufffdname\ufffd" in [entry.title for entry in parsed.entries]
    parsed = _feed(client, f"/organizations/{GO}/changes.atom")
    assert Organization.objects.get(pk="control-characters").name == "Bad\x0bname\x01"


def test_a_range_with_more_than_a_thousand_events_is_compared(client, db):
    # SQLite refuses a query of more than 1,000 OR terms, which is how Django prefetches the
    # organizations of that many event rows (found by the benchmark at 100,000).
    call_command("generate_registry", organizations=1500, people=10, seed=2, verbosity=0)
    units = list(Organization.objects.values_list("pk", flat=True)[:1100])
    ChangeEvent.objects.bulk_create(
        ChangeEvent(id=f"rank-{n}", type="rank_changed", date="2005") for n in range(len(units))
    )
    EventOrganization.objects.bulk_create(
        EventOrganization(event_id=f"rank-{n}", organization_id=pk, role="original")
        for n, pk in enumerate(units)
    )
    html = _page(client, "/changes/?from=2004&to=2006")
    assert f"({len(units)})" in _section(html, "rank_changed")
    assert len(_csv(client, "/changes.csv?from=2004&to=2006")) >= len(units)


@pytest.mark.parametrize(
    "url", ["/changes/?from=1990&to=2020&root={}", "/organizations/{}/changes.atom"]
)
def test_a_large_subtree_is_one_range_not_a_list_of_its_ids(client, db, url):
    # SQLite takes at most 32,766 values in one query: a subtree listed id by id would fail
    # for a large body (and costs a long query for any).
    call_command("generate_registry", organizations=3000, people=10, seed=2, verbosity=0)
    root = Organization.objects.filter(parent=None).order_by("lft").with_descendant_count()
    root = max(root, key=lambda unit: unit.descendants)
    assert root.descendants > 300
    with CaptureQueriesContext(connection) as queries:
        _get(client, url.format(root.pk))
    assert max(len(query["sql"]) for query in queries) < 5000
