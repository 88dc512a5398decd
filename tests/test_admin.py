"""Curation in the admin: who may enter, the tree, validation and deletes that never cascade."""

import json
import re
from html import unescape

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission, User
from django.contrib.messages import get_messages
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from reversion.models import Version

from registry.admin import organizations as admin_module
from registry.admin.organizations import OrganizationAdmin
from registry.models import Organization, Post
from registry.services import organization_delete, organization_move

from .conftest import (
    admin_drag,
    admin_form_data,
    admin_submit,
    assert_tree_valid,
    empty_inlines,
    tree_snapshot,
)

CHANGELIST = "/admin/registry/organization/"


def _children(pk: str) -> list[str]:
    return list(Organization.objects.get(pk=pk).get_children().values_list("pk", flat=True))


@pytest.mark.parametrize("url", [CHANGELIST, "/admin/", "/admin/registry/person/"])
def test_anonymous_visitors_are_sent_to_the_login_page(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_users_without_staff_status_cannot_enter(client, db):
    client.force_login(User.objects.create_user("reader", password="a-long-test-password"))
    assert client.get(CHANGELIST).status_code == 302


def test_editors_may_change_registry_data_but_not_users(editor_client, editor):
    assert editor.has_perm("registry.change_organization")
    assert editor.has_perm("registry.delete_holding")
    assert not editor.has_perm("auth.change_user")
    assert editor_client.get("/admin/auth/user/").status_code == 403


def test_editors_group_covers_every_registry_model(editor):
    group_permissions = set(editor.groups.get().permissions.all())
    assert group_permissions == set(Permission.objects.filter(content_type__app_label="registry"))


def test_changelist_shows_the_tree_in_order(editor_client, seeded):
    html = editor_client.get(CHANGELIST).content.decode()
    positions = [
        html.index(f'"/admin/registry/organization/{pk}/change/')
        for pk in ("cppcc-national-committee", "cppcc-general-office", "cppcc-go-research-office")
    ]
    assert positions == sorted(positions)


def test_search_covers_other_names(editor_client, seeded):
    response = editor_client.get(CHANGELIST, {"q": "Beidaihe"})
    assert list(response.context["cl"].result_list) == [
        Organization.objects.get(pk="cppcc-go-cadre-training-center")
    ]


def test_filters_by_kind_rank_and_tree(editor_client, seeded):
    def pks(params):
        return {o.pk for o in editor_client.get(CHANGELIST, params).context["cl"].result_list}

    institutions = pks({"kind__code__exact": "affiliated-institution"})
    assert len(institutions) == 16
    assert pks({"rank__code__exact": "deputy-bureau"}) == {
        "cppcc-go-research-office-theoretical-bureau",
        "cppcc-go-research-office-information-bureau",
    }
    npcsc_tree = pks({"tree": str(Organization.objects.get(pk="npcsc").tree_id)})
    assert len(npcsc_tree) == 22
    assert all(pk.startswith("npcsc") for pk in npcsc_tree)


def _tree_script_context(html: str) -> dict:
    match = re.search(r'draggable-admin.js" data-context="([^"]*)"', html)
    return json.loads(unescape(match.group(1)))


def test_the_drag_and_drop_script_gets_the_rows_on_the_page_only(editor_client):
    call_command("generate_registry", organizations=400, people=20, seed=5, verbosity=0)
    response = editor_client.get(CHANGELIST)
    shown = [o.pk for o in response.context["cl"].result_list]
    assert 0 < len(shown) <= OrganizationAdmin.tree_page_rows < Organization.objects.count()
    structure = _tree_script_context(response.content.decode())["treeStructure"]
    assert sorted(pk for children in structure.values() for pk in children) == sorted(shown)
    for parent, children in structure.items():
        for pk in children:
            assert str(Organization.objects.get(pk=pk).parent_id or 0) == str(parent)


def _changelist_queries(client, params: dict) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(CHANGELIST, params).status_code == 200
    return len(queries)


@pytest.mark.parametrize("params", [{}, {"kind__code__exact": "internal-department"}])
def test_changelist_queries_do_not_grow_with_the_registry(editor_client, params):
    call_command("generate_registry", organizations=60, people=20, seed=6, verbosity=0)
    small = _changelist_queries(editor_client, params)
    call_command("generate_registry", organizations=1500, people=20, seed=7, verbosity=0)
    assert Organization.objects.count() > 1500
    assert _changelist_queries(editor_client, params) == small


def test_the_changelist_counts_every_organization_from_the_trees(editor_client):
    call_command("generate_registry", organizations=700, people=10, seed=10, verbosity=0)
    with CaptureQueriesContext(connection) as queries:
        changelist = editor_client.get(CHANGELIST).context["cl"]
    assert changelist.result_count == Organization.objects.count() == 700
    assert changelist.paginator.num_pages > 1  # pages of whole trees: tests/test_admin_tree.py
    assert not [q for q in queries if q["sql"].startswith('SELECT COUNT(*) AS "__count" FROM')]
    institutions = editor_client.get(CHANGELIST, {"kind__code__exact": "affiliated-institution"})
    expected = Organization.objects.filter(kind="affiliated-institution").count()
    assert institutions.context["cl"].result_count == expected > 0


def test_the_tree_filter_finds_bodies_by_name_and_keeps_the_other_filters(editor_client, seeded):
    npcsc = Organization.objects.get(pk="npcsc")
    response = editor_client.get(CHANGELIST, {"tree_find": "People", "kind__code__exact": "x"})
    html = response.content.decode()
    form = html[html.index('<form method="get" class="tree-filter"') :]
    form = form[: form.index("</form>")]
    assert "<option" not in form  # no list of every body: they are found by name
    assert '<input type="hidden" name="kind__code__exact" value="x">' in form
    assert f"tree={npcsc.tree_id}" in html[html.index('class="tree-filter-found"') :]


def test_change_form_uses_an_autocomplete_for_the_parent(editor_client, seeded):
    html = editor_client.get(f"{CHANGELIST}npcsc-go-secretariat/change/").content.decode()
    parent_field = html[html.index('name="parent"') - 300 : html.index('name="parent"') + 300]
    assert "admin-autocomplete" in parent_field
    # Only the current parent is rendered as an option, not every organization.
    organization_options = [
        pk
        for pk in Organization.objects.values_list("pk", flat=True)
        if f'<option value="{pk}"' in html
    ]
    assert organization_options == ["npcsc-general-office"]


def test_a_department_can_be_added_under_an_office(editor_client, seeded):
    response = editor_client.post(
        f"{CHANGELIST}add/",
        {
            "id": "npcsc-go-new-bureau",
            "name": "New Bureau",
            "parent": "npcsc-general-office",
            "kind": "internal-department",
            "formed": "2024-03",
            **empty_inlines(),
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert _children("npcsc-general-office")[-1] == "npcsc-go-new-bureau"
    assert str(Organization.objects.get(pk="npcsc-go-new-bureau").formed) == "2024-03"
    assert_tree_valid()


def test_adding_with_dissolution_before_formation_is_refused_with_a_message(editor_client, seeded):
    response = editor_client.post(
        f"{CHANGELIST}add/",
        {
            "id": "npcsc-go-short-lived",
            "name": "Short-lived",
            "parent": "npcsc-general-office",
            "kind": "internal-department",
            "formed": "1980-12-30",
            "dissolved": "1980-12-01",
            **empty_inlines(),
        },
    )
    assert response.status_code == 200
    assert "The dissolution date (1 December 1980) is before the formation date" in (
        response.content.decode()
    )
    assert not Organization.objects.filter(pk="npcsc-go-short-lived").exists()


def test_moving_under_its_own_descendant_is_refused_with_a_message(editor_client, make_org):
    top = make_org("Top", id="top")
    make_org("Child", parent=top, id="child")
    before = tree_snapshot()
    response = editor_client.post(
        f"{CHANGELIST}top/change/",
        {"name": "Top", "parent": "child", "kind": "internal-department", **empty_inlines()},
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["parent"]
    assert tree_snapshot() == before


def test_drag_and_drop_reorders_and_the_public_page_follows(editor_client, client, seeded):
    assert admin_drag(editor_client, "npcsc-go-trade-union", "npcsc-go-secretariat", "left") == (
        b"OK, moved."
    )
    assert _children("npcsc-general-office")[:2] == [
        "npcsc-go-trade-union",
        "npcsc-go-secretariat",
    ]
    html = client.get("/organizations/npcsc-general-office/").content.decode()
    assert html.index("Trade Union of the NPCSC") < html.index(">Secretariat<")
    assert_tree_valid()


def test_drag_and_drop_moves_a_unit_under_another_parent(editor_client, seeded):
    editor_client.post(
        CHANGELIST,
        {
            "cmd": "move_node",
            "cut_item": "npcsc-go-trade-union",
            "pasted_on": "npcsc-go-personnel-bureau",
            "position": "last-child",
        },
    )
    assert _children("npcsc-go-personnel-bureau") == ["npcsc-go-trade-union"]
    assert_tree_valid()


def test_deleting_an_office_with_departments_posts_and_lineage_is_refused(editor_client, seeded):
    url = f"{CHANGELIST}cppcc-general-office/delete/"
    page = editor_client.get(url).content.decode()
    assert "would require deleting the following protected related objects" in page
    assert "Research Office" in page
    assert "Secretary-General" in page
    before = tree_snapshot()
    editor_client.post(url, {"post": "yes"})
    assert Organization.objects.filter(pk="cppcc-general-office").exists()
    assert Post.objects.filter(organization="cppcc-general-office").count() == 3
    assert tree_snapshot() == before


def test_bulk_delete_refuses_all_when_one_is_blocked_and_says_why(editor_client, seeded):
    before = tree_snapshot()
    response = editor_client.post(
        CHANGELIST,
        {
            "action": "delete_selected",
            "_selected_action": ["npcsc-go-trade-union", "npcsc-general-office"],
            "post": "yes",
        },
        follow=True,
    )
    messages = [str(m) for m in response.context["messages"]]
    assert any("still has 20 sub-units, 2 posts" in m for m in messages), messages
    assert tree_snapshot() == before


def test_bulk_delete_of_leaves_keeps_the_tree_valid(editor_client, seeded):
    editor_client.post(
        CHANGELIST,
        {
            "action": "delete_selected",
            "_selected_action": ["npcsc-go-trade-union", "npcsc-go-secretariat"],
            "post": "yes",
        },
    )
    assert not Organization.objects.filter(
        pk__in=["npcsc-go-trade-union", "npcsc-go-secretariat"]
    ).exists()
    assert_tree_valid()


@pytest.mark.parametrize(
    "url",
    [
        "/admin/registry/person/wang-dongfeng/change/",
        "/admin/registry/post/",
        "/admin/registry/kind/",
        "/admin/registry/rank/",
        "/admin/registry/source/",
        f"{CHANGELIST}cppcc-general-office/change/",
    ],
)
def test_every_registry_page_in_the_admin_opens_for_editors(editor_client, seeded, url):
    assert editor_client.get(url).status_code == 200


def test_an_unchanged_form_sent_by_a_browser_keeps_the_stored_line_breaks(editor_client, seeded):
    # Browsers send a text area's line breaks as CRLF, whatever the page held.
    stored = "First paragraph.\n\nSecond paragraph.\rThird, after a lone CR."
    Organization.objects.filter(pk="npcsc-go-research-office").update(history=stored)
    url = "/admin/registry/organization/npcsc-go-research-office/change/"
    page = editor_client.get(url)
    data = admin_form_data(page)
    as_sent = data["history"].replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\r\n")
    assert as_sent != stored

    assert editor_client.post(url, data | {"history": as_sent}).status_code == 302
    assert Organization.objects.get(pk="npcsc-go-research-office").history == stored

    edited = as_sent + "\r\nA new line."
    assert (
        editor_client.post(
            url, admin_form_data(editor_client.get(url)) | {"history": edited}
        ).status_code
        == 302
    )
    assert Organization.objects.get(pk="npcsc-go-research-office").history == edited


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def _drag(client, cut_item: str, pasted_on: str, position: str):
    return client.post(
        CHANGELIST,
        {"cmd": "move_node", "cut_item": cut_item, "pasted_on": pasted_on, "position": position},
    )


def test_a_drag_and_drop_move_is_logged_and_recorded_and_answers_as_django_mptt(
    editor_client, seeded
):
    response = _drag(
        editor_client, "npcsc-go-trade-union", "npcsc-go-personnel-bureau", "first-child"
    )
    assert response.content == b"OK, moved."
    assert _messages(response) == ["Trade Union of the NPCSC has been successfully moved."]
    assert _children("npcsc-go-personnel-bureau") == ["npcsc-go-trade-union"]
    entry = LogEntry.objects.get(object_id="npcsc-go-trade-union")
    assert entry.get_change_message() == "Changed parent, lft, rght and level."
    version = Version.objects.get_for_object_reference(Organization, "npcsc-go-trade-union")[0]
    assert version.field_dict["parent_id"] == "npcsc-go-personnel-bureau"
    assert version.revision.comment == (
        f"Moved from under “{Organization.objects.get(pk='npcsc-general-office')}” "
        "to under “Personnel Bureau”."
    )
    assert version.revision.user.username == "editor"
    assert_tree_valid()


@pytest.mark.parametrize(
    ("cut_item", "pasted_on", "position", "answer", "message"),
    [
        (
            "npcsc-general-office",
            "npcsc-go-research-office",
            "last-child",
            b"FAIL, invalid move.",
            "“NPCSC General Office” cannot be moved under “Research Office”, which is inside it.",
        ),
        (
            "npcsc-go-trade-union",
            "npcsc-go-trade-union",
            "left",
            b"FAIL, invalid move.",
            "“Trade Union of the NPCSC” cannot be moved relative to itself.",
        ),
        (
            "npcsc-go-trade-union",
            "npcsc-go-secretariat",
            "inside",
            b"FAIL, unknown instruction.",
            "Did not understand moving instruction.",
        ),
        (
            "npcsc-go-trade-union",
            "no-such-unit",
            "left",
            b"FAIL, invalid objects.",
            "Objects have disappeared, try again.",
        ),
    ],
)
def test_a_refused_drag_and_drop_says_why_and_leaves_no_trace(
    editor_client, seeded, cut_item, pasted_on, position, answer, message
):
    Organization.objects.filter(pk="npcsc-general-office").update(name="NPCSC General Office")
    before = tree_snapshot(), Version.objects.count(), LogEntry.objects.count()
    response = _drag(editor_client, cut_item, pasted_on, position)
    assert response.content == answer
    assert _messages(response) == [message]
    assert (tree_snapshot(), Version.objects.count(), LogEntry.objects.count()) == before


def test_viewers_cannot_drag_and_drop(viewer_client, seeded):
    before = tree_snapshot()
    response = _drag(viewer_client, "npcsc-go-trade-union", "npcsc-go-secretariat", "left")
    assert response.content == b"FAIL, no permission."
    assert tree_snapshot() == before


def _just_before_the_tree_lock(monkeypatch, write) -> None:
    """Run `write` as another curator's request whose commit lands just before this request
    takes the tree lock (the moment a second process would find it)."""
    locked = admin_module.record_lock

    def other_write_first(**kwargs):
        monkeypatch.setattr(admin_module, "record_lock", locked)
        write()
        locked(**kwargs)

    monkeypatch.setattr(admin_module, "record_lock", other_write_first)


def test_an_add_under_a_parent_deleted_meanwhile_is_refused_on_the_form(
    editor_client, seeded, monkeypatch
):
    parent = "npcsc-go-trade-union"
    _just_before_the_tree_lock(
        monkeypatch, lambda: organization_delete(organization=Organization.objects.get(pk=parent))
    )
    response = editor_client.post(
        f"{CHANGELIST}add/",
        {"id": "npcsc-go-late", "name": "Late", "parent": parent, "kind": "internal-department"}
        | empty_inlines(),
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["parent"]
    assert not Organization.objects.filter(pk__in=[parent, "npcsc-go-late"]).exists()
    assert_tree_valid()


def test_a_new_parent_moved_inside_the_unit_meanwhile_is_refused_on_the_form(
    editor_client, seeded, monkeypatch
):
    unit, new_parent = "npcsc-go-research-office", "npcsc-go-trade-union"
    _just_before_the_tree_lock(
        monkeypatch,
        lambda: organization_move(
            organization=Organization.objects.get(pk=new_parent),
            target=Organization.objects.get(pk=unit),
            position="last-child",
        ),
    )
    versions = Version.objects.get_for_object_reference(Organization, unit)
    before = versions.count()
    response = admin_submit(editor_client, f"{CHANGELIST}{unit}/change/", parent=new_parent)
    assert response.status_code == 200
    assert (
        "so it cannot become its parent" in response.context["adminform"].form.errors["parent"][0]
    )
    assert Organization.objects.get(pk=unit).parent_id == "npcsc-general-office"
    assert versions.count() == before
    assert_tree_valid()


def test_a_delete_that_finds_a_sub_unit_added_meanwhile_is_refused_with_a_message(
    editor_client, seeded, monkeypatch, make_org
):
    unit = "npcsc-go-trade-union"
    checked = OrganizationAdmin.get_deleted_objects

    def sub_unit_added_after_the_check(self, objs, request):
        found = checked(self, objs, request)
        make_org("New sub-unit", parent=Organization.objects.get(pk=unit), id="late-sub-unit")
        return found

    monkeypatch.setattr(OrganizationAdmin, "get_deleted_objects", sub_unit_added_after_the_check)
    response = editor_client.post(f"{CHANGELIST}{unit}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert response["Location"] == f"{CHANGELIST}{unit}/change/"
    assert _messages(response) == [
        "“Trade Union of the NPCSC” still has 1 sub-unit; move or delete them first."
    ]
    # Nothing was deleted (the other curator's sub-unit, written inside this request's
    # transaction here, went with its rollback).
    assert Organization.objects.filter(pk=unit).exists()
    assert_tree_valid()
