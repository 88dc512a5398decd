"""A change form opened before someone else saved the record cannot put back its old values.

Two curators open the same record; the second saves; the first one's form, sent later, would
write every value it was opened with over the second one's change. Each test drives both
curators through the admin with the test client, as browsers would.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client

from registry.models import Organization, Person, Post
from registry.roles import EDITORS

from .conftest import admin_form_data, admin_submit, assert_tree_valid, empty_inlines

ORGANIZATIONS = "/admin/registry/organization/"
STALE = "was changed by someone else after you opened this form"


@pytest.fixture
def other_curator(db) -> Client:
    user = User.objects.create_user("second", password="a-long-test-password", is_staff=True)
    user.groups.add(Group.objects.get(name=EDITORS))
    client = Client()
    client.force_login(user)
    return client


def _open(client, url: str) -> dict:
    page = client.get(url)
    assert page.status_code == 200
    data = admin_form_data(page)
    assert data["registry_state"]  # the page carries the state it was opened on
    return data


def test_a_stale_form_is_refused_and_the_later_change_kept(editor_client, other_curator, seeded):
    url = f"{ORGANIZATIONS}npcsc-go-research-office/change/"
    opened = _open(editor_client, url)
    assert admin_submit(other_curator, url, location="Second curator's address").status_code == 302

    response = editor_client.post(url, opened | {"name": "First curator's name"})

    assert response.status_code == 200
    assert STALE in response.content.decode()
    unit = Organization.objects.get(pk="npcsc-go-research-office")
    assert (unit.name, unit.location) == ("Research Office", "Second curator's address")


def test_a_change_to_what_the_record_owns_makes_its_form_stale(
    editor_client, other_curator, seeded
):
    url = f"{ORGANIZATIONS}cppcc-general-office/change/"
    opened = _open(editor_client, url)
    post = Post.objects.filter(organization="cppcc-general-office").first()
    post_url = f"/admin/registry/post/{post.pk}/change/"
    assert admin_submit(other_curator, post_url, title="Renamed post").status_code == 302

    response = editor_client.post(url, opened | {"summary": "Edited summary"})

    assert STALE in response.content.decode()
    post.refresh_from_db()
    assert post.title == "Renamed post"  # the posts inline of the stale form did not put it back
    assert Organization.objects.get(pk="cppcc-general-office").summary != "Edited summary"


def test_a_form_stays_fresh_when_only_the_tree_around_it_moved(
    editor_client, other_curator, seeded
):
    url = f"{ORGANIZATIONS}npcsc-go-research-office/change/"
    opened = _open(editor_client, url)
    before = Organization.objects.get(pk="npcsc-go-research-office").lft
    added = other_curator.post(
        f"{ORGANIZATIONS}add/",
        {
            "id": "npcsc-go-new-office",
            "name": "New Office",
            "parent": "npcsc-general-office",
            "kind": "internal-department",
            **empty_inlines(),
        },
    )
    assert added.status_code == 302
    other_curator.post(
        ORGANIZATIONS,
        {
            "cmd": "move_node",
            "cut_item": "npcsc-go-new-office",
            "pasted_on": "npcsc-go-research-office",
            "position": "left",
        },
    )
    assert Organization.objects.get(pk="npcsc-go-research-office").lft != before

    response = editor_client.post(url, opened | {"name": "Research Office (edited)"})

    assert response.status_code == 302
    assert Organization.objects.get(pk="npcsc-go-research-office").name == (
        "Research Office (edited)"
    )
    assert_tree_valid()


def test_a_stale_person_form_is_refused(editor_client, other_curator, seeded):
    person = Person.objects.order_by("pk").first()
    url = f"/admin/registry/person/{person.pk}/change/"
    note = person.note
    opened = _open(editor_client, url)
    assert admin_submit(other_curator, url, name_zh="第二位").status_code == 302

    response = editor_client.post(url, opened | {"note": "First curator's note"})

    assert STALE in response.content.decode()
    person.refresh_from_db()
    assert (person.name_zh, person.note) == ("第二位", note)


def test_a_form_sent_back_with_errors_stays_tied_to_the_state_it_was_opened_on(
    editor_client, other_curator, seeded
):
    url = f"{ORGANIZATIONS}npcsc-go-research-office/change/"
    opened = _open(editor_client, url)
    with_error = editor_client.post(url, opened | {"formed": "not a date"})
    assert with_error.status_code == 200
    assert admin_form_data(with_error)["registry_state"] == opened["registry_state"]
    assert admin_submit(other_curator, url, location="Second address").status_code == 302

    response = editor_client.post(url, admin_form_data(with_error) | {"formed": "1983"})

    assert STALE in response.content.decode()
    assert Organization.objects.get(pk="npcsc-go-research-office").location == "Second address"
