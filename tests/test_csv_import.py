"""The CSV contract: lossless round trips, rows in any order, all-or-nothing rejection."""

import pytest

from registry.imports import import_organizations, import_posts
from registry.models import Organization, OtherName, Person, Post
from registry.schema import POSTS

from .conftest import assert_tree_valid, tree_snapshot
from .csvtools import empty_registry, export_text, parse, write


def _rows_by_id(text: str) -> dict[str, dict[str, str]]:
    return {row["id"]: row for row in parse(text)}


def test_export_then_import_changes_nothing_and_says_so(seeded):
    before = tree_snapshot()
    organizations = import_organizations(export_text().encode())
    posts = import_posts(export_text("posts").encode())
    assert organizations.ok and posts.ok
    assert organizations.changed == 0 and organizations.count("unchanged") == 53
    assert posts.changed == 0 and posts.count("unchanged") == 21
    assert tree_snapshot() == before


def test_seed_round_trips_byte_identically_through_an_empty_database(seeded):
    organizations, posts = export_text(), export_text("posts")
    empty_registry()
    assert import_organizations(organizations.encode()).count("new") == 53
    assert import_posts(posts.encode()).count("new") == 21
    assert export_text() == organizations
    assert export_text("posts") == posts
    assert_tree_valid()


def test_rows_may_come_in_any_order(seeded):
    text = export_text()
    rows = parse(text)
    empty_registry()
    report = import_organizations(write(list(reversed(rows))))
    assert report.ok, report.problems
    assert export_text() == text
    assert_tree_valid()


def test_import_updates_by_id_and_leaves_absent_rows_alone(seeded):
    rows = _rows_by_id(export_text())
    row = rows["npcsc-go-research-office"] | {"name": "Research Office of the General Office"}
    report = import_organizations(write([row]))
    assert (report.count("update"), report.count("unchanged")) == (1, 0)
    assert report.outcomes[0].changes == ["name"]
    assert Organization.objects.get(pk=row["id"]).name == "Research Office of the General Office"
    assert Organization.objects.count() == 53


def test_import_moves_an_organization_whose_parent_changed(seeded):
    rows = _rows_by_id(export_text())
    row = rows["npcsc-go-trade-union"] | {"parent": "npcsc-go-personnel-bureau", "order": "1"}
    report = import_organizations(write([row]))
    assert report.outcomes[0].changes == [
        "moved from npcsc-general-office to npcsc-go-personnel-bureau"
    ]
    moved = Organization.objects.get(pk="npcsc-go-trade-union")
    assert moved.parent_id == "npcsc-go-personnel-bureau"
    assert_tree_valid()


def test_import_keeps_sibling_order_as_the_file_gives_it(seeded):
    rows = _rows_by_id(export_text())
    swapped = [
        rows["npcsc-go-secretariat"] | {"order": "2"},
        rows["npcsc-go-research-office"] | {"order": "1"},
    ]
    report = import_organizations(write(swapped))
    assert [o.changes for o in report.outcomes] == [["reordered"], ["reordered"]]
    children = Organization.objects.get(pk="npcsc-general-office").get_children()
    assert [c.pk for c in children[:3]] == [
        "npcsc-go-research-office",
        "npcsc-go-secretariat",
        "npcsc-go-liaison-bureau",
    ]
    assert_tree_valid()


def test_new_rows_are_created_under_existing_parents(seeded):
    new = {
        "id": "npcsc-go-new-bureau",
        "parent": "npcsc-general-office",
        "name": "New Bureau",
        "kind": "internal-department",
        "rank": "bureau",
        "other_names": '[{"type": "translation", "name": "新局", "language": "zh-Hans"}]',
        "formed": "2025-01",
    }
    report = import_organizations(write([new]))
    assert report.count("new") == 1
    created = Organization.objects.get(pk="npcsc-go-new-bureau")
    assert created.get_ancestors().last().pk == "npcsc-general-office"
    assert created.get_next_sibling() is None
    assert OtherName.objects.get(organization=created).name == "新局"
    assert_tree_valid()


def test_dry_run_reports_but_writes_nothing(seeded):
    rows = _rows_by_id(export_text())
    report = import_organizations(
        write([rows["npcsc-go-secretariat"] | {"name": "Renamed"}]), dry_run=True
    )
    assert report.count("update") == 1 and not report.applied
    assert Organization.objects.get(pk="npcsc-go-secretariat").name == "Secretariat"


GOOD = {
    "id": "ok-unit",
    "parent": "npcsc-general-office",
    "name": "A good unit",
    "kind": "internal-department",
    "rank": "",
}


def _reject(rows, header=None):
    before = export_text(), export_text("posts")
    report = import_organizations(write(rows, header))
    assert not report.ok
    assert (export_text(), export_text("posts")) == before, "a rejected file wrote something"
    return [str(problem) for problem in report.problems]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"parent": "no-such-unit"}, "line 3, column parent: unknown parent “no-such-unit”"),
        ({"kind": "ministry"}, "column kind: “ministry” is not allowed; use one of: "),
        ({"rank": "general"}, "column rank: “general” is not allowed; use one of: bureau,"),
        ({"formed": "1949-13"}, "column formed: “1949-13” has no month 13."),
        ({"formed": "30/12/1980"}, "column formed: “30/12/1980” is not a date"),
        ({"formed": "1981-02-29"}, "column formed: “1981-02-29” is not a real day"),
        (
            {"formed": "1980-12-30", "dissolved": "1980-11"},
            "column dissolved: the dissolution date (November 1980) is before the formation",
        ),
        ({"name": "  "}, "column name: only spaces; a name is required."),
        ({"name": "x" * 301}, "column name: 301 characters long; the limit is 300."),
        ({"id": "Bad Id"}, "column id: “Bad Id” is not an identifier"),
        ({"other_names": '[{"type": "nickname", "name": "X"}]'}, "type “nickname” is not"),
        ({"other_names": "CPPCC; NPC"}, "column other_names: is not a JSON array"),
        ({"predecessors": '[{"id": "ghost"}]'}, "column predecessors: unknown id “ghost”."),
    ],
)
def test_a_bad_row_is_rejected_with_line_column_and_reason(seeded, change, expected):
    problems = _reject([GOOD | {"id": "other-unit"}, GOOD | change])
    assert any(expected in problem for problem in problems), problems
    assert not Organization.objects.filter(pk__in=["ok-unit", "other-unit"]).exists()


def test_every_bad_row_is_reported_not_just_the_first(seeded):
    rows = [
        GOOD,
        GOOD | {"id": "bad-kind", "kind": "x"},
        GOOD | {"id": "bad-parent", "parent": "nowhere"},
        GOOD | {"id": "bad-date", "formed": "1949-00"},
    ]
    problems = _reject(rows)
    assert [problem.split(",")[0] for problem in problems] == ["line 3", "line 5", "line 4"]


def test_a_missing_required_column_is_named(seeded):
    rows = [{key: value for key, value in GOOD.items() if key != "kind"}]
    problems = _reject(rows)
    assert problems == [
        "header (line 1), column kind: required column missing; the required columns are "
        "id, parent, name, kind, rank."
    ]


def test_an_unknown_column_is_named_rather_than_ignored(seeded):
    problems = _reject([GOOD | {"formd": "1949"}])
    assert "column formd: unknown column" in problems[0]


def test_a_duplicate_id_names_both_lines(seeded):
    problems = _reject([GOOD, GOOD | {"name": "Again"}])
    assert problems == ["line 3, column id: “ok-unit” is also on line 2."]


def test_a_cycle_in_the_file_is_refused(seeded):
    rows = [
        GOOD | {"id": "unit-a", "parent": "unit-b"},
        GOOD | {"id": "unit-b", "parent": "unit-a"},
    ]
    problems = _reject(rows)
    assert problems == [
        "line 2, column parent: the parents form a cycle: unit-a → unit-b → unit-a.",
        "line 3, column parent: the parents form a cycle: unit-b → unit-a → unit-b.",
    ]


def test_a_move_under_its_own_descendant_is_refused(seeded):
    row = _rows_by_id(export_text())["cppcc-go-research-office"]
    problems = _reject([row | {"parent": "cppcc-go-research-office-office"}])
    assert problems == [
        "line 2, column parent: this move would make it its own ancestor: "
        "cppcc-go-research-office → cppcc-go-research-office-office → cppcc-go-research-office."
    ]


def test_a_file_that_is_not_csv_at_all_is_refused(seeded):
    report = import_organizations(b'id,parent,name,kind,rank\n"unterminated,\n')
    assert not report.ok
    assert "the CSV is malformed" in str(report.problems[0])


# --- Posts ------------------------------------------------------------------------------------

POST = {
    "organization": "npcsc-general-office",
    "post": "Deputy Secretary-General",
    "post_plural": "Deputy Secretaries-General",
    "post_order": "2",
    "person": "new-deputy",
    "person_name": "New Deputy",
    "holder_order": "6",
    "start": "2025-03",
    "end": "",
}


def test_posts_import_adds_a_holder_and_creates_the_person(seeded):
    report = import_posts(write([POST]))
    assert report.count("new") == 1
    post = Post.objects.get(organization="npcsc-general-office", title=POST["post"])
    holders = [h.person_id for h in post.holdings.order_by("position")]
    assert holders[-1] == "new-deputy" and len(holders) == 6
    assert Person.objects.get(pk="new-deputy").name == "New Deputy"


def test_posts_row_naming_an_unknown_organization_is_refused(seeded):
    before = export_text("posts")
    report = import_posts(write([POST, POST | {"organization": "ghost-office"}]))
    assert [str(p) for p in report.problems] == [
        "line 3, column organization: unknown organization “ghost-office”: import it first "
        "(organizations file)."
    ]
    assert export_text("posts") == before


def test_posts_row_for_a_new_person_needs_a_name(seeded):
    report = import_posts(write([POST | {"person_name": ""}]))
    assert "“new-deputy” is a new person: give their name in person_name." in str(
        report.problems[0]
    )


def test_posts_row_with_end_before_start_is_refused(seeded):
    report = import_posts(write([POST | {"start": "2025-03", "end": "2024"}]))
    assert "column end: the end (2024) is before the start (March 2025)." in str(
        report.problems[0]
    )


def test_a_post_without_holders_round_trips(seeded):
    Post.objects.create(organization_id="npcsc-go-secretariat", title="Director", position=1)
    text = export_text("posts")
    # The post's four columns, then every holder column empty.
    assert "npcsc-go-secretariat,Director,,1" + "," * (len(POSTS.columns) - 4) + "\r\n" in text
    organizations = export_text()
    empty_registry()
    import_organizations(organizations.encode())
    assert import_posts(text.encode()).ok
    assert export_text("posts") == text
