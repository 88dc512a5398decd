"""The organizations list in whole trees, and reordering without a mouse (issue 15)."""

from __future__ import annotations

import re
from html import unescape

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.messages import get_messages
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from reversion.models import Version

from registry.admin.organizations import OrganizationAdmin
from registry.models import Organization

from .conftest import assert_tree_valid, tree_snapshot

CHANGELIST = "/admin/registry/organization/"
STEP = f"{CHANGELIST}move/"


def _rows(client, params=None) -> list[Organization]:
    response = client.get(CHANGELIST, params or {})
    assert response.status_code == 200
    return list(response.context["cl"].result_list)


def _children(pk: str) -> list[str]:
    return list(Organization.objects.get(pk=pk).get_children().values_list("pk", flat=True))


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def _assert_sibling_groups_whole(rows: list[Organization]) -> None:
    """Every unit on the page whose sub-units are shown has all of them shown, in order."""
    shown = {row.pk for row in rows}
    parents = {row.parent_id for row in rows if row.parent_id in shown}
    for parent in parents:
        on_page = [row.pk for row in rows if row.parent_id == parent]
        assert on_page == _children(parent), parent


def test_the_whole_seed_registry_is_on_one_page(editor_client, seeded):
    response = editor_client.get(CHANGELIST)
    changelist = response.context["cl"]
    assert not changelist.multi_page
    assert len(changelist.result_list) == Organization.objects.count() == 53
    assert [o.pk for o in changelist.result_list] == list(
        Organization.objects.in_tree_order().values_list("pk", flat=True)
    )


def test_a_large_registry_is_paged_by_whole_trees(editor_client):
    call_command("generate_registry", organizations=400, people=10, seed=5, verbosity=0)
    first = editor_client.get(CHANGELIST).context["cl"]
    assert first.multi_page
    seen_roots = []
    for number in range(1, first.paginator.num_pages + 1):
        rows = _rows(editor_client, {"p": number})
        assert rows and rows[0].parent_id is None  # a page starts with a top-level body
        _assert_sibling_groups_whole(rows)
        roots = [row for row in rows if row.parent_id is None]
        seen_roots += [root.pk for root in roots]
        if len(roots) > 1:  # several trees share a page only when they fit whole
            assert len(rows) == sum(root.get_descendant_count() + 1 for root in roots)
            assert len(rows) <= OrganizationAdmin.tree_page_rows
    assert seen_roots == list(
        Organization.objects.roots().order_by("tree_id").values_list("pk", flat=True)
    )


@pytest.fixture
def big_tree(make_org):
    """One body of 1 + 4 + 4 * 30 + 10 * 20 = 325 units: larger than a page."""
    root = make_org("Big Body", id="big")
    offices = [make_org(f"Office {i}", root, id=f"big-{i}") for i in range(4)]
    departments = [
        make_org(f"Department {i}.{j}", office, id=f"big-{i}-{j}")
        for i, office in enumerate(offices)
        for j in range(30)
    ]
    for department in departments[:10]:
        for k in range(20):
            make_org(f"Section {k}", department, id=f"{department.pk}-{k}")
    return root


def test_a_tree_larger_than_a_page_is_cut_at_a_level_and_opened_by_subtree(
    editor_client, big_tree
):
    response = editor_client.get(CHANGELIST)
    rows = response.context["cl"].result_list
    # With the departments 125 rows would not fit a page: the body and its offices.
    assert OrganizationAdmin.tree_page_rows < 1 + 4 + 120
    assert {row.level for row in rows} == {0, 1}
    _assert_sibling_groups_whole(rows)
    html = response.content.decode()
    closed = [
        row
        for row in rows
        if row.get_descendant_count() and row.level == max(r.level for r in rows)
    ]
    assert closed
    for row in closed:
        assert f'href="?subtree={row.pk}"' in html

    unit = closed[0]
    sub = editor_client.get(CHANGELIST, {"subtree": unit.pk})
    sub_rows = sub.context["cl"].result_list
    deepest = max(r.level for r in sub_rows)
    assert deepest > unit.level  # its sub-units, at least
    assert [r.pk for r in sub_rows] == list(
        unit.get_descendants(include_self=True)
        .filter(level__lte=deepest)
        .values_list("pk", flat=True)
    )
    _assert_sibling_groups_whole(sub_rows)
    path = sub.content.decode()
    path = path[path.index('class="tree-path"') :]
    path = path[: path.index("</nav>")]
    assert [unescape(name) for name in re.findall(r">([^<>]+)</a>", path)][1:] == [
        str(a) for a in unit.get_ancestors()
    ]
    assert 'aria-current="page">' in path


def test_a_subtree_view_of_a_missing_unit_says_so(editor_client, seeded):
    response = editor_client.get(CHANGELIST, {"subtree": "no-such-unit"})
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == []
    assert "There is no organization “no-such-unit”" in response.content.decode()


@pytest.mark.parametrize("params", [{"subtree": "big-1"}, {"tree_find": "Big"}])
def test_tree_views_keep_a_constant_number_of_queries(editor_client, make_org, params):
    root = make_org("Big Body", id="big")
    for i in range(3):
        make_org(f"Office {i}", root, id=f"big-{i}")

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert editor_client.get(CHANGELIST, params).status_code == 200
        return len(queries)

    small = count()
    office = Organization.objects.get(pk="big-1")
    for j in range(40):
        make_org(f"Department {j}", office)
    assert count() == small


def test_the_tree_filter_finds_bodies_by_english_or_chinese_name_and_shows_one(
    editor_client, seeded
):
    npcsc = Organization.objects.get(pk="npcsc")
    for term in ("Standing Committee", npcsc.name_zh[:4], "npcsc"):
        html = editor_client.get(CHANGELIST, {"tree_find": term}).content.decode()
        found = html[html.index('class="tree-filter-found"') :]
        found = found[: found.index("</ul>")]
        assert f"?tree={npcsc.tree_id}" in found, term
        assert "cppcc" not in found.lower()
    rows = _rows(editor_client, {"tree": npcsc.tree_id})
    assert rows[0].pk == "npcsc" and all(row.tree_id == npcsc.tree_id for row in rows)
    assert len(rows) == npcsc.get_descendant_count() + 1
    html = editor_client.get(CHANGELIST, {"tree_find": "nothing like it"}).content.decode()
    assert "No top-level body matches “nothing like it”." in html


def test_a_hostile_name_is_shown_as_text_everywhere_on_the_list(editor_client, make_org):
    name = "<script>alert(\"x\")</script> & “quotes” 'single'"
    root = make_org(name, id="hostile")
    make_org("Child", root, id="hostile-child")
    make_org("Second child", root, id="hostile-child-2")
    for params in ({}, {"tree_find": "script"}, {"subtree": "hostile-child"}):
        html = editor_client.get(CHANGELIST, params).content.decode()
        assert "<script>alert" not in html, params
        assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html, params


def _step(client, pk: str, side: str, neighbour: str, next_url: str = CHANGELIST):
    position = {"up": "left", "down": "right"}[side]
    return client.post(STEP, {"move": f"{pk} {position} {neighbour}", "next": next_url})


def test_each_row_offers_up_down_and_move_under_to_a_curator(editor_client, seeded):
    html = editor_client.get(CHANGELIST).content.decode()
    up = re.search(r'<button[^>]*id="move-cppcc-go-research-office-up"', html)
    assert up is None  # the first department has nothing above it
    down = re.search(r'<button[^>]*id="move-cppcc-go-research-office-down"[^>]*>', html)[0]
    assert 'value="cppcc-go-research-office right cppcc-go-secretariat"' in down
    assert 'form="tree-move-form"' in down
    assert "Move “Research Office” down, after “Secretariat”" in unescape(down)
    assert 'id="move-cppcc-go-research-office-under"' in html
    assert re.search(r'<form id="tree-move-form" method="post" action="/admin/[^"]+/move/">', html)
    assert 'role="status" aria-live="polite"' in html


def test_moving_up_and_down_by_post_reorders_and_the_public_page_follows(
    editor_client, client, seeded
):
    before = _children("npcsc-general-office")
    second, first = before[1], before[0]
    response = _step(editor_client, second, "up", first, f"{CHANGELIST}?tree=2")
    assert response.status_code == 302
    assert response["Location"] == f"{CHANGELIST}?tree=2#move-{second}-up"
    assert _children("npcsc-general-office")[:2] == [second, first]
    moved, target = Organization.objects.get(pk=second), Organization.objects.get(pk=first)
    assert _messages(response) == [f"“{moved}” moved up, before “{target}”."]
    html = client.get("/organizations/npcsc-general-office/").content.decode()
    assert html.index(f">{moved.name}<") < html.index(f">{target.name}<")

    response = _step(editor_client, second, "down", first)
    assert _children("npcsc-general-office") == before
    assert_tree_valid()


def test_a_move_is_logged_and_recorded_in_the_history(editor_client, editor, seeded):
    before = _children("cppcc-general-office")
    _step(editor_client, before[1], "up", before[0])
    entry = LogEntry.objects.filter(object_id=before[1]).latest("action_time")
    assert entry.user == editor
    version = Version.objects.get_for_object_reference(Organization, before[1]).first()
    assert "Moved before" in version.revision.comment


def test_a_viewer_gets_no_move_controls_and_a_move_is_refused(viewer_client, seeded):
    html = viewer_client.get(CHANGELIST).content.decode()
    assert 'id="tree-move-form"' not in html
    assert "tree-move-up" not in html and "tree-move-down" not in html
    before = tree_snapshot()
    children = _children("npcsc-general-office")
    assert _step(viewer_client, children[1], "up", children[0]).status_code == 403
    assert viewer_client.get(f"{CHANGELIST}{children[1]}/move/").status_code == 403
    assert tree_snapshot() == before


def test_a_move_from_a_stale_list_is_refused_and_nothing_moves(editor_client, seeded):
    children = _children("npcsc-general-office")
    # The list showed children[2] below children[1]; someone has since moved children[0]
    # between them.
    Organization.objects.get(pk=children[0]).move_to(
        Organization.objects.get(pk=children[2]), "left"
    )
    before = tree_snapshot()
    response = _step(editor_client, children[2], "up", children[1])
    assert response.status_code == 302
    assert tree_snapshot() == before
    (message,) = _messages(response)
    assert "is no longer next to" in message and "Nothing was moved" in message


def test_a_move_of_a_deleted_unit_is_refused_with_a_message(editor_client, seeded, make_org):
    office = Organization.objects.get(pk="npcsc-general-office")
    gone = make_org("Short-lived", office, id="short-lived")
    last = _children("npcsc-general-office")[-2]
    gone.delete()
    before = tree_snapshot()
    response = _step(editor_client, "short-lived", "up", last)
    assert tree_snapshot() == before
    (message,) = _messages(response)
    assert "“short-lived” no longer exists" in message


def test_an_unreadable_move_instruction_is_refused(editor_client, seeded):
    before = tree_snapshot()
    response = editor_client.post(STEP, {"move": "npcsc first-child npcsc", "next": CHANGELIST})
    assert _messages(response) == ["Did not understand moving instruction."]
    assert editor_client.get(STEP).status_code == 405
    assert tree_snapshot() == before


def test_a_next_address_elsewhere_is_not_followed(editor_client, seeded):
    children = _children("npcsc-general-office")
    response = _step(editor_client, children[1], "up", children[0], "https://evil.example/")
    assert response["Location"].startswith(CHANGELIST)


def _move_under(client, pk: str, **data):
    url = f"{CHANGELIST}{pk}/move/"
    page = client.get(url)
    assert page.status_code == 200
    seen = page.context["form"]["seen_parent"].value()
    return client.post(url, {"seen_parent": seen} | data)


def test_move_under_puts_the_unit_at_the_chosen_position(editor_client, client, seeded):
    target = _children("cppcc-go-research-office")
    response = _move_under(
        editor_client, "npcsc-go-trade-union", parent="cppcc-go-research-office", position="2"
    )
    assert response.status_code == 302
    assert response["Location"] == (
        f"{CHANGELIST}?subtree=cppcc-go-research-office#move-npcsc-go-trade-union-under"
    )
    assert _children("cppcc-go-research-office") == [
        target[0],
        "npcsc-go-trade-union",
        *target[1:],
    ]
    html = client.get("/organizations/cppcc-go-research-office/").content.decode()
    assert html.index("Trade Union of the NPCSC") < html.index(
        Organization.objects.get(pk=target[1]).name
    )
    _move_under(editor_client, "npcsc-go-trade-union", parent="npcsc-general-office", position="")
    assert _children("npcsc-general-office")[-1] == "npcsc-go-trade-union"
    assert_tree_valid()


def test_move_under_refuses_a_position_past_the_end_or_a_place_inside_itself(
    editor_client, seeded
):
    before = tree_snapshot()
    count = len(_children("cppcc-go-research-office"))
    response = _move_under(
        editor_client, "npcsc-go-trade-union", parent="cppcc-go-research-office", position="9"
    )
    assert response.status_code == 200
    assert f"choose 1 to {count + 1}" in response.content.decode()
    response = _move_under(
        editor_client,
        "cppcc-general-office",
        parent="cppcc-go-research-office",
        position="1",
    )
    assert "a unit cannot go under itself" in unescape(response.content.decode())
    assert tree_snapshot() == before


def test_move_under_from_a_stale_form_is_refused(editor_client, seeded):
    url = f"{CHANGELIST}npcsc-go-trade-union/move/"
    page = editor_client.get(url)
    seen = page.context["form"]["seen_parent"].value()
    Organization.objects.get(pk="npcsc-go-trade-union").move_to(
        Organization.objects.get(pk="npcsc-go-personnel-bureau"), "last-child"
    )
    before = tree_snapshot()
    response = editor_client.post(
        url, {"seen_parent": seen, "parent": "cppcc-go-research-office", "position": "1"}
    )
    assert response.status_code == 200
    assert "was moved elsewhere after this form was opened" in unescape(response.content.decode())
    assert tree_snapshot() == before


def test_move_under_uses_the_parent_autocomplete(editor_client, seeded):
    html = editor_client.get(f"{CHANGELIST}npcsc-go-trade-union/move/").content.decode()
    field = html[html.index('name="parent"') - 400 : html.index('name="parent"') + 400]
    assert "admin-autocomplete" in field
    assert field.count("<option") <= 2  # the current parent (and the empty choice), no more


def test_a_move_without_the_csrf_token_is_refused(editor, seeded):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(editor)
    children = _children("npcsc-general-office")
    before = tree_snapshot()
    assert _step(client, children[1], "up", children[0]).status_code == 403
    assert tree_snapshot() == before


def test_the_tree_list_leaves_out_the_navigation_sidebar_and_other_lists_keep_it(
    seeded, editor_client
):
    """The tree's names need the width; every other admin page keeps Django's sidebar."""
    tree = editor_client.get("/admin/registry/organization/").content.decode()
    posts = editor_client.get("/admin/registry/post/").content.decode()
    assert 'id="nav-sidebar"' not in tree
    assert 'id="nav-sidebar"' in posts
