"""The dated facts travel as CSV (placements and change events), and the organizations and posts
downloads read `?on=DATE` as the registry stood then. Through the users' paths: the downloads
over HTTP, the commands, the models' own objects to build what is exported."""

from __future__ import annotations

import io
import random

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from registry import validtime
from registry.dates import On
from registry.imports import import_events, import_organizations, import_placements
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
from registry.schema import EVENTS, PLACEMENTS

from .csvtools import export_dataset, export_text, parse, write

MOVED = "npcsc-go-research-office"  # under the NPCSC General Office today
CPPCC_GO = "cppcc-general-office"  # formed 1980-12-30
NPCSC_GO = "npcsc-general-office"
RANKED = "npcsc-go-secretariat"
HOSTILE = '=HYPERLINK("x") He said "no", twice,\r\nthen:\n+1 -2 @x 國務院辦公廳 \'quoted\' '


@pytest.fixture
def dated(seeded):
    """The seed with a recorded move (the Research Office sat under the CPPCC General Office
    from 1981 until March 1998), a rank change, a dated former name and a later holding."""
    source = Source.objects.create(title="Gazette 1998", url="https://example.org/1998")
    move = ChangeEvent.objects.create(
        id="research-office-moved-1998",
        type=ChangeEvent.Type.MOVED,
        date="1998-03",
        note=HOSTILE,
        source=source,
        locator="p. 3",
    )
    EventOrganization.objects.create(event=move, organization_id=MOVED, role="original")
    EventOrganization.objects.create(event=move, organization_id=MOVED, role="result")
    Placement.objects.create(
        organization_id=MOVED, parent_id=CPPCC_GO, start="1981", end="1998-03", event=move
    )
    rank = ChangeEvent.objects.create(
        id="secretariat-rank-1995",
        type=ChangeEvent.Type.RANK_CHANGED,
        date="1995",
        rank_before=Rank.objects.get(pk="bureau"),
        rank_after=Rank.objects.get(pk="deputy-ministerial"),
    )
    EventOrganization.objects.create(event=rank, organization_id=RANKED, role="original")
    OtherName.objects.create(
        organization_id=NPCSC_GO,
        name_type=OtherName.Type.FORMER_NAME,
        name="Office of the Standing Committee",
        start="1954",
        end="1993",
    )
    post = Post.objects.filter(organization__isnull=False).first()
    person = Person.objects.create(id="later-holder", name="Later Holder")
    Holding.objects.create(post=post, person=person, start="2005", position=9)
    return post


def _dump() -> str:
    out = io.StringIO()
    call_command("dumpdata", "registry", stdout=out)
    return out.getvalue()


def _download(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, response.content
    return b"".join(response.streaming_content).decode()


def _import(tmp_path, dataset: str, data: bytes) -> str:
    """`import_registry DATASET FILE`; what it writes to stdout."""
    path = tmp_path / f"{dataset}.csv"
    path.write_bytes(data)
    out = io.StringIO()
    call_command("import_registry", dataset, str(path), stdout=out, stderr=io.StringIO())
    return out.getvalue()


# --- Round trips ----------------------------------------------------------------------------


def test_the_downloads_are_the_exports_with_the_declared_columns(client, dated):
    for dataset in (PLACEMENTS, EVENTS):
        text = _download(client, f"/{dataset.name}.csv")
        assert text == export_dataset(dataset.name)
        assert text.splitlines()[0] == ",".join(dataset.columns)
    placements = parse(export_dataset("placements"))
    assert placements == [
        {
            "organization": MOVED,
            "parent": CPPCC_GO,
            "start": "1981",
            "end": "1998-03",
            "event": "research-office-moved-1998",
        }
    ]
    events = {row["id"]: row for row in parse(export_dataset("events"))}
    assert set(events) == {
        "cppcc-general-office-established-1980",
        "research-office-moved-1998",
        "secretariat-rank-1995",
    }
    seed = events["cppcc-general-office-established-1980"]
    assert seed["organizations"] == (
        '[{"organization": "cppcc-secretariat", "role": "original"}, '
        '{"organization": "cppcc-general-office", "role": "result"}]'
    )
    assert seed["successions"] == (
        '[{"predecessor": "cppcc-secretariat", "successor": "cppcc-general-office"}]'
    )
    assert events["secretariat-rank-1995"]["rank_before"] == "bureau"
    assert events["research-office-moved-1998"]["source_url"] == "https://example.org/1998"


def test_export_then_import_changes_nothing(tmp_path, dated):
    before = _dump()
    for dataset in ("events", "placements"):
        out = _import(tmp_path, dataset, export_dataset(dataset).encode())
        assert "0 new, 0 updated" in out
    assert _dump() == before


def _empty_dated_facts() -> None:
    Placement.objects.all().delete()
    ChangeEvent.objects.all().delete()  # their organizations go, lineage links lose the event


@pytest.mark.parametrize("shuffled", [False, True])
def test_placements_and_events_round_trip_byte_identically(tmp_path, dated, shuffled):
    events, placements = export_dataset("events"), export_dataset("placements")
    _empty_dated_facts()
    assert not Succession.objects.exclude(event=None).exists()
    for dataset, text in (("events", events), ("placements", placements)):
        rows = parse(text)
        if shuffled:
            random.Random(7).shuffle(rows)
            rows.reverse()
        assert "new" in _import(tmp_path, dataset, write(rows, list(parse(text)[0])))
    assert export_dataset("events") == events
    assert export_dataset("placements") == placements
    assert Succession.objects.get(successor=CPPCC_GO).event_id == (
        "cppcc-general-office-established-1980"
    )


def test_hostile_text_in_an_event_survives_the_round_trip(client, tmp_path, dated):
    text = _download(client, "/events.csv")
    assert "'=HYPERLINK" in text  # a spreadsheet would not run it
    _empty_dated_facts()
    _import(tmp_path, "events", text.encode())
    assert ChangeEvent.objects.get(pk="research-office-moved-1998").note == HOSTILE
    assert _download(client, "/events.csv") == text


def test_an_organizations_import_keeps_the_event_of_the_links_it_rewrites(dated):
    rows = parse(export_text())
    for row in rows:
        if row["id"] == CPPCC_GO:
            row["predecessors"] = '[{"id": "cppcc-secretariat", "note": "renamed"}]'
    assert import_organizations(write(rows)).count("update") == 1
    link = Succession.objects.get(successor=CPPCC_GO)
    assert (link.note, link.event_id) == ("renamed", "cppcc-general-office-established-1980")


def test_an_event_row_updates_its_fields_organizations_and_links(tmp_path, dated):
    rows = parse(export_dataset("events"))
    for row in rows:
        if row["id"] == "cppcc-general-office-established-1980":
            row.update(type="renamed", successions="", source="", locator="")
            row["organizations"] = '[{"organization": "cppcc-general-office", "role": "result"}]'
    report = import_events(write(rows))
    assert report.ok, report.problems
    assert (report.count("update"), report.count("unchanged")) == (1, 2)
    event = ChangeEvent.objects.get(pk="cppcc-general-office-established-1980")
    assert (event.type, event.source, event.locator) == ("renamed", None, "")
    assert list(event.participants.values_list("organization", "role")) == [(CPPCC_GO, "result")]
    assert Succession.objects.get(successor=CPPCC_GO).event is None  # the link is kept


def test_rows_absent_from_a_file_are_left_alone(dated):
    extra = Placement.objects.create(organization_id=MOVED, parent=None, end="1981")
    report = import_placements(
        write([{"organization": RANKED, "parent": "", "start": "", "end": "1960", "event": ""}])
    )
    assert report.ok, report.problems
    assert Placement.objects.filter(pk=extra.pk).exists()
    assert Placement.objects.count() == 3
    assert import_events(export_dataset("events").encode().splitlines()[0] + b"\r\n").ok
    assert ChangeEvent.objects.count() == 3


# --- Refusals: line, column, reason; nothing written ----------------------------------------

PLACEMENT = {
    "organization": RANKED,
    "parent": NPCSC_GO,
    "start": "1960",
    "end": "1970",
    "event": "",
}


def _placements(*changes: dict) -> bytes:
    return write([PLACEMENT | change for change in changes], list(PLACEMENTS.columns))


def _events(**changes: dict) -> bytes:
    rows = parse(export_dataset("events"))
    for row in rows:
        row.update(changes.get(row["id"], {}))
    return write(rows, list(EVENTS.columns))


def _line_of_event(pk: str) -> int:
    return [row["id"] for row in parse(export_dataset("events"))].index(pk) + 2


REFUSALS = [
    (
        "unknown organization",
        "placements",
        lambda: _placements({}, {"organization": "no-such-unit", "end": "1980"}),
        3,
        "organization",
        "unknown organization “no-such-unit”",
    ),
    (
        "unknown parent",
        "placements",
        lambda: _placements({"parent": "no-such-unit"}),
        2,
        "parent",
        "unknown organization “no-such-unit”",
    ),
    (
        "unknown event",
        "placements",
        lambda: _placements({"event": "no-such-event"}),
        2,
        "event",
        "unknown change event “no-such-event”",
    ),
    (
        "overlap within the file",
        "placements",
        lambda: _placements({}, {"start": "1965", "end": "1980"}),
        3,
        "start",
        "overlaps the one until 1970",
    ),
    (
        "overlap with a stored placement",
        "placements",
        lambda: _placements({"organization": MOVED, "start": "1990", "end": "2000"}),
        2,
        "start",
        "(that one is in the registry.)",
    ),
    (
        "end before start",
        "placements",
        lambda: _placements({"start": "1971"}),
        2,
        "end",
        "the end (1970) is before the start (1971)",
    ),
    (
        "empty end",
        "placements",
        lambda: _placements({"end": ""}),
        2,
        "end",
        "empty; every row needs a date here.",
    ),
    (
        "outside the parent's existence",
        "placements",
        lambda: _placements({"parent": CPPCC_GO}),
        2,
        "parent",
        "was formed in 30 December 1980, after this placement ended (1970)",
    ),
    (
        "bad date",
        "placements",
        lambda: _placements({"start": "1960-13"}),
        2,
        "start",
        "has no month 13",
    ),
    (
        "duplicate key",
        "placements",
        lambda: _placements({}, {"start": ""}),
        3,
        "organization, end",
        f"“{RANKED}” has a placement until 1970 also on line 2",
    ),
    (
        "unknown event type",
        "events",
        lambda: _events(**{"secretariat-rank-1995": {"type": "vanished"}}),
        lambda: _line_of_event("secretariat-rank-1995"),
        "type",
        "“vanished” is not allowed; use one of: abolished, established",
    ),
    (
        "unknown organization in an event",
        "events",
        lambda: _events(
            **{
                "secretariat-rank-1995": {
                    "organizations": '[{"organization": "nowhere", "role": "original"}]'
                }
            }
        ),
        lambda: _line_of_event("secretariat-rank-1995"),
        "organizations",
        "unknown organization “nowhere”",
    ),
    (
        "duplicate event id",
        "events",
        lambda: _events(**{"secretariat-rank-1995": {"id": "research-office-moved-1998"}}),
        lambda: max(_line_of_event(pk) for pk in ("secretariat-rank-1995", MOVE)),
        "id",
        "“research-office-moved-1998” is also on line",
    ),
    (
        "a lineage link claimed twice",
        "events",
        lambda: _events(
            **{
                "secretariat-rank-1995": {
                    "successions": '[{"predecessor": "cppcc-secretariat", '
                    '"successor": "cppcc-general-office"}]'
                }
            }
        ),
        lambda: max(
            _line_of_event(pk)
            for pk in ("secretariat-rank-1995", "cppcc-general-office-established-1980")
        ),
        "successions",
        "is also claimed on line",
    ),
    (
        "bad event date",
        "events",
        lambda: _events(**{MOVE: {"date": "1998-02-30"}}),
        lambda: _line_of_event(MOVE),
        "date",
        "is not a real day",
    ),
]
MOVE = "research-office-moved-1998"


@pytest.mark.parametrize(
    ("dataset", "data", "line", "column", "message"),
    [case[1:] for case in REFUSALS],
    ids=[case[0] for case in REFUSALS],
)
def test_a_bad_row_is_refused_with_its_line_and_column_and_nothing_is_written(
    tmp_path, dated, dataset, data, line, column, message
):
    before = _dump()
    path = tmp_path / "bad.csv"
    path.write_bytes(data())
    line = line() if callable(line) else line
    errors = io.StringIO()
    with pytest.raises(CommandError, match="nothing was written"):
        call_command("import_registry", dataset, str(path), stderr=errors, stdout=io.StringIO())
    problems = errors.getvalue().splitlines()
    assert any(
        p.startswith(f"line {line}, column {column}: ") and message in p for p in problems
    ), problems
    assert _dump() == before


def test_an_event_cannot_take_a_link_from_a_stored_event_the_file_leaves_out(tmp_path, dated):
    rows = [row for row in parse(export_dataset("events")) if row["id"] == "secretariat-rank-1995"]
    rows[0]["successions"] = (
        '[{"predecessor": "cppcc-secretariat", "successor": "cppcc-general-office"}]'
    )
    before = _dump()
    path = tmp_path / "events.csv"
    path.write_bytes(write(rows))
    errors = io.StringIO()
    with pytest.raises(CommandError, match="nothing was written"):
        call_command("import_registry", "events", str(path), stderr=errors, stdout=io.StringIO())
    expected = (
        "line 2, column successions: the link cppcc-secretariat → cppcc-general-office "
        "belongs to the event “cppcc-general-office-established-1980”"
    )
    assert expected in errors.getvalue()
    assert _dump() == before


def test_placements_that_touch_are_accepted(dated):
    report = import_placements(
        _placements({"start": "", "end": "1970-06"}, {"start": "1970-06", "end": "1980"})
    )
    assert report.ok, report.problems
    assert report.count("new") == 2


# --- ?on= on the organizations and posts downloads -------------------------------------------


def _rows(client, url: str) -> dict[str, dict[str, str]]:
    return {row.get("id") or row["organization"]: row for row in parse(_download(client, url))}


def test_the_organizations_download_shows_the_registry_as_it_stood(client, dated):
    then = parse(_download(client, "/organizations.csv?on=1990"))
    by_id = {row["id"]: row for row in then}
    # Under its parent then, placed after that parent's children of today, in tree order then.
    assert by_id[MOVED]["parent"] == CPPCC_GO
    ids = [row["id"] for row in then]
    assert ids.index(CPPCC_GO) < ids.index(MOVED)
    assert ids.index(MOVED) < ids.index("npcsc")
    under_cppcc = [row for row in then if row["parent"] == CPPCC_GO]
    assert [row["order"] for row in under_cppcc] == [
        str(n) for n in range(1, len(under_cppcc) + 1)
    ]
    # Its name and rank then; units not formed yet left out.
    assert by_id[NPCSC_GO]["name"] == "Office of the Standing Committee"
    assert by_id[RANKED]["rank"] == "bureau"
    assert "cppcc-general-office" not in {
        row["id"] for row in parse(_download(client, "/organizations.csv?on=1970"))
    }
    # After the move: where it sits today, with today's name and the rank after the change.
    after = {row["id"]: row for row in parse(_download(client, "/organizations.csv?on=1998-04"))}
    today = {row["id"]: row for row in parse(export_text())}
    assert after[MOVED]["parent"] == NPCSC_GO == today[MOVED]["parent"]
    assert after[NPCSC_GO]["name"] == today[NPCSC_GO]["name"]
    assert after[RANKED]["rank"] == "deputy-ministerial"
    # On the day of the move's month, the later placement applies (docs/time.md, rule 4).
    assert _rows(client, "/organizations.csv?on=1998")[MOVED]["parent"] == NPCSC_GO
    assert _rows(client, "/organizations.csv?on=1998-02")[MOVED]["parent"] == CPPCC_GO


@pytest.mark.parametrize(
    ("on", "rank"),
    [
        ("1990", "bureau"),
        ("1994-12", "bureau"),
        ("1995", "deputy-ministerial"),
        ("2000", "deputy-ministerial"),
    ],
)
def test_the_rank_then_follows_the_recorded_change(dated, on, rank):
    # Changed from bureau-level to deputy ministerial-level in 1995 (the fixture's event).
    assert validtime.ranks_on(On.parse(on))[RANKED] == rank
    assert validtime.rank_on(Organization.objects.get(pk=RANKED), On.parse(on)).pk == rank


def test_a_subtree_as_it_stood(client, dated):
    then = parse(_download(client, f"/organizations.csv?on=1990&root={CPPCC_GO}"))
    assert then[0]["id"] == CPPCC_GO
    assert MOVED in {row["id"] for row in then}
    today = parse(_download(client, f"/organizations.csv?on=1999&root={CPPCC_GO}"))
    assert MOVED not in {row["id"] for row in today}
    assert client.get(f"/organizations.csv?on=1970&root={CPPCC_GO}").status_code == 404


def test_the_posts_download_holds_the_holdings_that_ran_then(client, dated):
    post = dated
    then = parse(_download(client, "/posts.csv?on=1990"))
    later = parse(_download(client, "/posts.csv?on=2010"))
    assert "later-holder" not in {row["person"] for row in then}
    assert "later-holder" in {row["person"] for row in later}
    assert post.title in {
        row["post"] for row in then if row["organization"] == post.organization_id
    }


def test_a_dated_download_imports_as_it_is(client, dated):
    organizations = _download(client, "/organizations.csv?on=1990").encode()
    report = import_organizations(organizations, dry_run=True)
    assert report.ok, report.problems
    assert any(f"moved from {NPCSC_GO} to {CPPCC_GO}" in o.changes for o in report.outcomes)
    posts = _download(client, "/posts.csv?on=1990").encode()
    assert import_organizations(organizations).ok
    from registry.imports import import_posts

    assert import_posts(posts).ok


@pytest.mark.parametrize("url", ["/organizations.csv", "/posts.csv"])
def test_a_bad_date_is_a_400_naming_it(client, seeded, url):
    response = client.get(f"{url}?on=1990-13")
    assert response.status_code == 400
    assert "1990-13" in response.content.decode()


@pytest.mark.parametrize("url", ["/placements.csv", "/events.csv"])
def test_the_dated_facts_refuse_a_date(client, seeded, url):
    assert client.get(f"{url}?on=1990").status_code == 400


@pytest.mark.parametrize(
    "url", ["/organizations.csv", "/posts.csv", "/placements.csv", "/events.csv"]
)
def test_dated_downloads_take_as_many_queries_for_more_rows(client, dated, url, make_org):
    dated_url = url if url in ("/placements.csv", "/events.csv") else f"{url}?on=1990"

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            _download(client, dated_url)
        return len(captured)

    small = queries()
    parent = Organization.objects.get(pk=CPPCC_GO)
    for n in range(30):
        unit = make_org(f"Unit {n}", parent=parent, id=f"unit-{n}")
        Placement.objects.create(organization=unit, parent_id=NPCSC_GO, end=f"{1990 + n}")
        Post.objects.create(organization=unit, title="Director", position=1)
        event = ChangeEvent.objects.create(id=f"unit-{n}-moved", type="moved", date=f"{1990 + n}")
        EventOrganization.objects.create(event=event, organization=unit, role="original")
    assert queries() == small


def test_an_events_import_by_the_command_records_each_changed_event_in_the_history(
    tmp_path, dated
):
    from reversion.models import Version

    rows = parse(export_dataset("events"))
    for row in rows:
        if row["id"] == "cppcc-general-office-established-1980":
            row["note"] = "Corrected by a curator."
    event = ChangeEvent.objects.get(pk="cppcc-general-office-established-1980")
    before = Version.objects.get_for_object(event).count()
    _import(tmp_path, "events", write(rows))
    versions = Version.objects.get_for_object(event)  # newest first
    assert versions.count() == before + 1
    assert versions[0].revision.comment.startswith("CSV import of events.csv")
    assert versions[0].field_dict["note"] == "Corrected by a curator."
