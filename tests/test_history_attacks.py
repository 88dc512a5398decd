"""History attacked through the admin: revert, recover and change forms used as a careless or
hostile curator would, each checked against the promises (restore exactly the chosen record,
refuse with a message and change nothing when that is impossible, never a server error, never
let a stale form overwrite a later change)."""

from __future__ import annotations

import json
import re

import pytest
import reversion
from django.contrib.auth.models import Group, User
from django.contrib.messages import get_messages
from django.db import connection
from django.test import Client
from reversion.models import Revision, Version

from registry.history import history_record
from registry.models import (
    Holding,
    Kind,
    Organization,
    OtherName,
    Person,
    Post,
    Rank,
    Source,
    Succession,
)
from registry.roles import EDITORS

from .conftest import admin_form_data, admin_submit, assert_tree_valid, tree_snapshot
from .csvtools import export_text

ORGANIZATIONS = "/admin/registry/organization/"
STALE = "was changed by someone else after you opened"


@pytest.fixture
def other_curator(db) -> Client:
    user = User.objects.create_user("second", password="a-long-test-password", is_staff=True)
    user.groups.add(Group.objects.get(name=EDITORS))
    client = Client()
    client.force_login(user)
    return client


def _last_message(response) -> str:
    return str(list(get_messages(response.wsgi_request))[-1])


def _registry() -> tuple[str, str]:
    return export_text(), export_text("posts")


def _latest(model, pk) -> Version:
    return Version.objects.get_for_object_reference(model, pk).order_by("-pk").first()


def _children(pk: str) -> list[str]:
    return list(Organization.objects.get(pk=pk).get_children().values_list("pk", flat=True))


def _add_unit(client, pk: str, parent: str) -> None:
    response = admin_submit(
        client,
        f"{ORGANIZATIONS}add/",
        id=pk,
        name=pk.replace("-", " ").title(),
        parent=parent,
        kind="internal-department",
    )
    assert response.status_code == 302


# ---------------------------------------------------------------------------------------------
# Recover: the record comes back where it was


def test_a_recovered_unit_goes_back_to_its_place_among_its_siblings_after_the_tree_grew(
    editor_client, seeded
):
    parent = "cppcc-go-research-office"
    first, _middle, last = _children(parent)
    for number in range(3):  # the tree grows before the last sibling's recorded place
        _add_unit(editor_client, f"cppcc-go-new-unit-{number}", parent=first)
    order = _children(parent)
    editor_client.post(f"{ORGANIZATIONS}{last}/delete/", {"post": "yes"})
    assert not Organization.objects.filter(pk=last).exists()

    version = Version.objects.get_deleted(Organization).get(object_id=last)
    response = admin_submit(editor_client, f"{ORGANIZATIONS}recover/{version.pk}/")

    assert response.status_code == 302
    assert _children(parent) == order
    assert_tree_valid()


def test_recovering_twice_restores_once_and_then_says_it_is_not_deleted(editor_client, seeded):
    pk = "cppcc-go-research-office-office"
    editor_client.post(f"{ORGANIZATIONS}{pk}/delete/", {"post": "yes"})
    version = Version.objects.get_deleted(Organization).get(object_id=pk)
    url = f"{ORGANIZATIONS}recover/{version.pk}/"
    data = admin_form_data(editor_client.get(url))
    assert editor_client.post(url, data).status_code == 302
    after_first = _registry(), tree_snapshot()

    again = editor_client.post(url, data)

    assert again.status_code == 302
    assert "is not deleted" in _last_message(again)
    assert (_registry(), tree_snapshot()) == after_first


def test_a_unit_and_its_parent_deleted_together_come_back_parent_first(editor_client, seeded):
    parent, child = "cppcc-go-research-office", "cppcc-go-research-office-office"
    before = _registry()
    children = _children(parent)
    # The sub-units leave first: a unit with sub-units cannot be deleted.
    for pk in children:
        editor_client.post(f"{ORGANIZATIONS}{pk}/delete/", {"post": "yes"})
    editor_client.post(f"{ORGANIZATIONS}{parent}/delete/", {"post": "yes"})
    assert not Organization.objects.filter(pk=parent).exists()

    child_version = Version.objects.get_deleted(Organization).get(object_id=child)
    refused = editor_client.post(f"{ORGANIZATIONS}recover/{child_version.pk}/", {"name": "x"})
    assert refused.status_code == 302
    assert "recover it first" in _last_message(refused)
    assert not Organization.objects.filter(pk=child).exists()

    for pk in (parent, *children):
        version = Version.objects.get_deleted(Organization).get(object_id=pk)
        assert admin_submit(
            editor_client, f"{ORGANIZATIONS}recover/{version.pk}/"
        ).status_code == (302)
    assert _registry() == before
    assert_tree_valid()


@pytest.mark.parametrize(
    ("model", "pk_of"),
    [
        (Kind, lambda: Kind.objects.create(code="k-x", name="Kind X", plural_name="X").pk),
        (Rank, lambda: Rank.objects.create(code="r-x", name="Rank X", order=99).pk),
        (Source, lambda: Source.objects.create(title="Gazette X").pk),
        (Person, lambda: Person.objects.create(id="person-x", name="Person X").pk),
    ],
    ids=["kind", "rank", "source", "person"],
)
def test_every_record_type_is_recovered_after_an_admin_delete(editor_client, seeded, model, pk_of):
    pk = pk_of()
    history_record(model=model, pks=[pk], comment="created")
    before = list(model.objects.order_by("pk").values())
    admin = f"/admin/registry/{model._meta.model_name}/"
    assert editor_client.post(f"{admin}{pk}/delete/", {"post": "yes"}).status_code == 302
    assert not model.objects.filter(pk=pk).exists()
    version = Version.objects.get_deleted(model).get(object_id=pk)
    assert f"{version.object_repr}</td>" in editor_client.get(f"{admin}recover/").content.decode()
    assert admin_submit(editor_client, f"{admin}recover/{version.pk}/").status_code == 302
    assert list(model.objects.order_by("pk").values()) == before


# ---------------------------------------------------------------------------------------------
# Revert: versions that cannot be written back as they are


def test_a_version_missing_fields_added_later_reverts_without_a_server_error(
    editor_client, seeded
):
    pk = "npcsc-go-research-office"
    version = _latest(Organization, pk)
    (dump,) = json.loads(version.serialized_data)
    for name in ("rank", "dissolved", "summary", "lft", "rght", "level", "tree_id"):
        dump["fields"].pop(name, None)
    Version.objects.filter(pk=version.pk).update(serialized_data=json.dumps([dump]))
    _admin_edit(editor_client, pk, name="Renamed")

    url = f"{ORGANIZATIONS}{pk}/history/{version.pk}/"
    preview = editor_client.get(url)
    assert preview.status_code in (200, 302)
    if preview.status_code == 200:
        assert editor_client.post(url, admin_form_data(preview)).status_code in (200, 302)
    assert_tree_valid()


def test_a_legacy_version_with_an_overlong_name_is_refused_not_a_server_error(
    editor_client, seeded
):
    pk = "npcsc-go-research-office"
    version = _latest(Organization, pk)
    (dump,) = json.loads(version.serialized_data)
    dump["fields"]["name"] = "长" * 10_000
    Version.objects.filter(pk=version.pk).update(serialized_data=json.dumps([dump]))
    before = _registry(), tree_snapshot()

    url = f"{ORGANIZATIONS}{pk}/history/{version.pk}/"
    preview = editor_client.get(url)
    assert preview.status_code in (200, 302)
    assert editor_client.post(url, {"name": "x"}).status_code in (200, 302)
    assert (_registry(), tree_snapshot()) == before


HOSTILE = '</script><script>alert("x")</script> \u202eRTL \'quote\' "double" ' + "x" * 200


def test_hostile_names_are_escaped_in_the_revert_preview_and_the_plan(editor_client, seeded):
    pk = "npcsc-go-research-office"
    version = _latest(Organization, pk)
    with reversion.create_revision():
        OtherName.objects.create(organization_id=pk, name=HOSTILE, name_type="abbreviation")
        post = Post.objects.create(organization_id=pk, title=HOSTILE[:200])
        reversion.add_to_revision(Organization.objects.get(pk=pk))
    Holding.objects.create(post=post, person=Person.objects.create(id="h", name=HOSTILE[:200]))
    Organization.objects.filter(pk=pk).update(name=HOSTILE[:300])

    page = editor_client.get(f"{ORGANIZATIONS}{pk}/history/{version.pk}/").content.decode()
    assert "<script>alert" not in page
    assert "&lt;/script&gt;&lt;script&gt;alert" in page
    assert OtherName.objects.filter(name=HOSTILE).exists()  # the preview changed nothing


def _admin_edit(client, pk: str, **changes):
    response = admin_submit(client, f"{ORGANIZATIONS}{pk}/change/", **changes)
    assert response.status_code == 302, response.context["adminform"].form.errors
    return response


def test_a_version_of_another_record_in_the_address_is_not_found(editor_client, seeded):
    other = _latest(Organization, "npcsc-go-secretariat")
    url = f"{ORGANIZATIONS}npcsc-go-research-office/history/{other.pk}/"
    before = _registry()
    assert editor_client.get(url).status_code == 404
    assert editor_client.post(url, {"name": "x"}).status_code == 404
    assert _registry() == before


def test_viewers_cannot_recover(viewer_client, seeded):
    pk = "cppcc-go-research-office-office"
    Organization.objects.get(pk=pk).delete()
    version = Version.objects.get_deleted(Organization).get(object_id=pk)
    assert viewer_client.post(f"{ORGANIZATIONS}recover/{version.pk}/", {}).status_code == 403
    assert viewer_client.get(f"{ORGANIZATIONS}recover/").status_code == 403
    assert not Organization.objects.filter(pk=pk).exists()


def test_reverting_one_organization_of_a_legacy_whole_import_revision(editor_client, seeded):
    pks = ["npcsc-go-secretariat", "npcsc-go-research-office", "cppcc-go-secretariat"]
    with reversion.create_revision():
        for pk in pks:
            reversion.add_to_revision(Organization.objects.get(pk=pk))
    legacy = {pk: _latest(Organization, pk) for pk in pks}
    for pk in pks:
        _admin_edit(editor_client, pk, name=f"{pk} renamed")
        OtherName.objects.create(organization_id=pk, name="Added since", name_type="abbreviation")

    url = f"{ORGANIZATIONS}{pks[1]}/history/{legacy[pks[1]].pk}/"
    preview = editor_client.get(url)
    assert "Added since" in preview.content.decode().split("Will be deleted:")[1]
    assert editor_client.post(url, admin_form_data(preview)).status_code == 302

    assert Organization.objects.get(pk=pks[1]).name == "Research Office"
    assert not OtherName.objects.filter(organization_id=pks[1], name="Added since").exists()
    for pk in (pks[0], pks[2]):
        assert Organization.objects.get(pk=pk).name == f"{pk} renamed"
        assert OtherName.objects.filter(organization_id=pk, name="Added since").exists()
    assert_tree_valid()


def test_a_recreated_identifier_hides_the_old_unit_from_recover(editor_client, seeded):
    pk = "cppcc-go-research-office-office"
    editor_client.post(f"{ORGANIZATIONS}{pk}/delete/", {"post": "yes"})
    version = Version.objects.get_deleted(Organization).get(object_id=pk)
    _add_unit(editor_client, pk, parent="npcsc-general-office")
    before = _registry(), tree_snapshot()

    response = editor_client.post(f"{ORGANIZATIONS}recover/{version.pk}/", {"name": "x"})

    assert response.status_code == 302
    assert "is not deleted" in _last_message(response)
    assert (_registry(), tree_snapshot()) == before


# ---------------------------------------------------------------------------------------------
# Stale forms


def test_a_revert_confirmed_after_someone_else_changed_the_record_is_refused(
    editor_client, other_curator, seeded
):
    pk = "npcsc-go-research-office"
    version = _latest(Organization, pk)
    _admin_edit(editor_client, pk, name="Renamed once")
    url = f"{ORGANIZATIONS}{pk}/history/{version.pk}/"
    preview = editor_client.get(url)
    assert "Will be deleted" not in preview.content.decode()
    # Someone else adds a name after the preview: the preview did not say it would be deleted.
    page = other_curator.get(f"{ORGANIZATIONS}{pk}/change/")
    data = admin_form_data(page) | {
        "other_names-TOTAL_FORMS": "1",
        "other_names-0-name": "RO",
        "other_names-0-name_type": "abbreviation",
        "other_names-0-position": "1",
    }
    assert other_curator.post(f"{ORGANIZATIONS}{pk}/change/", data).status_code == 302

    response = editor_client.post(url, admin_form_data(preview))

    assert OtherName.objects.filter(organization_id=pk, name="RO").exists()
    assert Organization.objects.get(pk=pk).name == "Renamed once"
    assert response.status_code in (200, 302)
    text = response.content.decode() if response.status_code == 200 else _last_message(response)
    assert STALE in text


def test_a_stale_form_cannot_put_back_a_successor_link_changed_since(
    editor_client, other_curator, seeded
):
    link = Succession.objects.get(
        predecessor="cppcc-secretariat", successor="cppcc-general-office"
    )
    url = f"{ORGANIZATIONS}cppcc-secretariat/change/"
    opened = admin_form_data(editor_client.get(url))
    other = admin_submit(
        other_curator,
        f"{ORGANIZATIONS}cppcc-general-office/change/",
        **{"predecessor_links-0-note": "Renamed in 1983"},
    )
    assert other.status_code == 302
    link.refresh_from_db()
    assert link.note == "Renamed in 1983"

    editor_client.post(url, opened | {"summary": "First curator's summary"})

    link.refresh_from_db()
    assert link.note == "Renamed in 1983"


def test_a_stale_person_form_cannot_put_back_a_holding_changed_since(
    editor_client, other_curator, seeded
):
    holding = Holding.objects.filter(start="").select_related("post", "person").first()
    url = f"/admin/registry/person/{holding.person_id}/change/"
    opened = admin_form_data(editor_client.get(url))
    post_page = other_curator.get(f"/admin/registry/post/{holding.post_id}/change/")
    data = admin_form_data(post_page)
    index = next(
        key.split("-")[1]
        for key, value in data.items()
        if key.startswith("holdings-") and key.endswith("-id") and str(value) == str(holding.pk)
    )
    data[f"holdings-{index}-start"] = "2018-03"
    assert other_curator.post(
        f"/admin/registry/post/{holding.post_id}/change/", data
    ).status_code == (302)

    editor_client.post(url, opened | {"note": "First curator's note"})

    holding.refresh_from_db()
    assert str(holding.start) == "2018-03"


# ---------------------------------------------------------------------------------------------
# History recorded on every path, and bounded pages


def test_a_holder_added_from_the_persons_page_comes_back_when_the_post_is_recovered(
    editor_client, seeded
):
    person = Person.objects.create(id="new-holder", name="New Holder")
    history_record(model=Person, pks=[person.pk], comment="created")
    post = Post.objects.filter(organization="cppcc-general-office").first()
    url = f"/admin/registry/person/{person.pk}/change/"
    page = editor_client.get(url)
    data = admin_form_data(page) | {
        "holdings-TOTAL_FORMS": "1",
        "holdings-0-post": str(post.pk),
        "holdings-0-position": "7",
    }
    assert editor_client.post(url, data).status_code == 302
    assert Holding.objects.filter(post=post, person=person).exists()
    before = _registry()

    editor_client.post(f"/admin/registry/post/{post.pk}/delete/", {"post": "yes"})
    assert not Post.objects.filter(pk=post.pk).exists()
    version = Version.objects.get_deleted(Post).get(object_id=post.pk)
    assert admin_submit(
        editor_client, f"/admin/registry/post/recover/{version.pk}/"
    ).status_code == (302)

    assert _registry() == before


def test_the_history_page_of_a_record_with_thousands_of_versions_is_bounded(editor_client, seeded):
    pk = "npcsc-go-research-office"
    first = _latest(Organization, pk)
    revisions = Revision.objects.bulk_create(
        Revision(date_created=first.revision.date_created, comment=f"Edit {n}")
        for n in range(3000)
    )
    Version.objects.bulk_create(
        Version(
            revision=revision,
            content_type=first.content_type,
            object_id=pk,
            db=first.db,
            format=first.format,
            serialized_data=first.serialized_data,
            object_repr=first.object_repr,
        )
        for revision in revisions
    )
    page = editor_client.get(f"{ORGANIZATIONS}{pk}/history/")
    assert page.status_code == 200
    links = re.findall(rf"{ORGANIZATIONS}{pk}/history/(\d+)/", page.content.decode())
    assert 0 < len(links) <= 200


def test_a_revert_that_leaves_the_unit_in_its_place_rewrites_no_other_unit(editor_client, seeded):
    """Repairing a tree rewrites every unit in it: 7 s for a revert in a tree of 2,500 units
    (20,000 in the registry). A unit that stays where it was needs no repair."""
    pk = "cppcc-go-research-office-information-bureau"
    version = _latest(Organization, pk)
    for number in range(3):  # the tree changes around it since that version
        _add_unit(editor_client, f"cppcc-go-new-unit-{number}", parent="cppcc-go-secretariat")
    _admin_edit(editor_client, pk, name="Renamed", summary="Edited")
    url = f"{ORGANIZATIONS}{pk}/history/{version.pk}/"
    preview = editor_client.get(url)
    table = Organization._meta.db_table
    updates = []

    def record(execute, sql, params, many, context):
        if sql.startswith(f'UPDATE "{table}"'):
            updates.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        assert editor_client.post(url, admin_form_data(preview)).status_code == 302

    assert Organization.objects.get(pk=pk).name == version.field_dict["name"]
    assert updates
    assert all(sql.endswith(f'WHERE "{table}"."id" = %s') for sql in updates), updates
    assert_tree_valid()


@pytest.mark.xfail(
    strict=True,
    reason="The changelist's editable column (kinds' and ranks' order) carries no state: a "
    "list opened before someone else's change puts its old values back. Needs a state per "
    "row in the changelist formset.",
)
def test_a_stale_changelist_cannot_put_back_an_order_changed_since(
    editor_client, other_curator, seeded
):
    url = "/admin/registry/kind/"
    opened = _formset_data(editor_client.get(url).context["cl"].formset) | {"_save": "Save"}
    kind = Kind.objects.order_by("order", "name").first()
    assert admin_submit(other_curator, f"{url}{kind.pk}/change/", order="42").status_code == 302
    opened["form-1-order"] = "77"  # the first curator changes another row

    editor_client.post(url, opened)

    kind.refresh_from_db()
    assert kind.order == 42


def _formset_data(formset) -> dict:
    data = {}
    for form in [formset.management_form, *formset.forms]:
        for name in form.fields:
            value = form[name].value()
            if value is not None:
                data[form.add_prefix(name)] = getattr(value, "pk", value)
    return data


def test_the_recover_list_of_thousands_of_deleted_units_is_bounded(editor_client, seeded):
    first = _latest(Organization, "npcsc-go-research-office")
    revision = Revision.objects.create(date_created=first.revision.date_created, comment="x")
    Version.objects.bulk_create(
        Version(
            revision=revision,
            content_type=first.content_type,
            object_id=f"deleted-unit-{n}",
            db=first.db,
            format=first.format,
            serialized_data=first.serialized_data.replace(
                '"pk": "npcsc-go-research-office"', f'"pk": "deleted-unit-{n}"'
            ),
            object_repr=f"Deleted unit {n}",
        )
        for n in range(2000)
    )
    page = editor_client.get(f"{ORGANIZATIONS}recover/")
    assert page.status_code == 200
    links = re.findall(rf"{ORGANIZATIONS}recover/(\d+)/", page.content.decode())
    assert 0 < len(links) <= 200
    last = editor_client.get(f"{ORGANIZATIONS}recover/?p=20").content.decode()
    assert re.findall(rf"{ORGANIZATIONS}recover/(\d+)/", last)
