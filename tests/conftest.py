"""Shared fixtures: the seed registry, small tree builders, staff clients and admin forms."""

from __future__ import annotations

import itertools
import json
import re
from importlib import import_module
from pathlib import Path

import jsonschema
import pytest
from django.apps import apps
from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.cache import cache
from django.utils import timezone, translation
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT3

from registry.models import ChangeStamp, Holding, Kind, Organization, Person, Post
from registry.roles import EDITORS, VIEWERS
from tests.seed import seed

_counter = itertools.count(1)


def _commits(item: pytest.Item) -> bool:
    """Whether the test runs in real transactions (pytest-django then empties every table
    after it, instead of rolling back)."""
    marker = item.get_closest_marker("django_db")
    if marker and (marker.kwargs.get("transaction") or marker.kwargs.get("reset_sequences")):
        return True
    return bool({"transactional_db", "live_server"} & set(item.fixturenames))


@pytest.fixture(autouse=True)
def _migrated_rows_for_tests_that_commit(request) -> None:
    """A test that commits starts from what the migrations wrote, whatever ran before it.

    pytest-django ends such a test by emptying every table, and that takes the rows the
    migrations wrote with it: the kinds and ranks (0002), the change stamp (0003). Django's
    post_migrate signal, sent after the flush, brings back the rest (content types,
    permissions, the roles' groups). Put these back here, for every such test, so none of them
    depends on running first or last (pytest-randomly shuffles them; the browser tests are
    among them).
    """
    if not _commits(request.node):
        return
    request.getfixturevalue("transactional_db")
    import_module("registry.migrations.0002_vocabularies").add_vocabularies(apps, None)
    ChangeStamp.objects.get_or_create(pk=1, defaults={"version": 1, "changed": timezone.now()})


@pytest.fixture(autouse=True)
def _each_test_starts_in_english():
    """Every test starts in the settings' language, as a process does.

    A request in Chinese (a /zh-hans/ page, an Accept-Language header) leaves its language
    active in the thread; code outside requests, such as a later test's command, would speak
    Chinese (CI once saw a refusal of `import_registry` in Chinese)."""
    translation.activate(settings.LANGUAGE_CODE)
    yield
    translation.activate(settings.LANGUAGE_CODE)


@pytest.fixture(autouse=True)
def _no_rendered_pages_from_other_tests():
    """Rendered public pages are kept in the process's local-memory cache (registry/caching.py);
    every test starts without any."""
    cache.clear()


@pytest.fixture
def seeded(db) -> None:
    """The registry as `make run` seeds it (`load_seed`, or a copy of what it wrote the first
    time: tests/seed.py)."""
    seed()


def tree_snapshot() -> list[tuple]:
    """Every node's tree fields, to compare before and after an operation."""
    return sorted(Organization.objects.nested_sets().items())


def assert_tree_valid() -> None:
    """Rebuilding the nested set from the parent links must change nothing."""
    before = tree_snapshot()
    Organization.objects.rebuild()
    assert tree_snapshot() == before


def empty_inlines() -> dict[str, str]:
    """The management forms of the organization admin's inlines, each with no rows: what an
    add form posts when no inline row is filled in."""
    from django.contrib import admin as django_admin
    from django.forms.models import _get_foreign_key

    data = {}
    for inline in django_admin.site._registry[Organization].inlines:
        link = _get_foreign_key(Organization, inline.model, fk_name=inline.fk_name)
        prefix = link.remote_field.get_accessor_name()
        data |= {f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"}
    return data


def admin_form_data(page) -> dict:
    """What a browser would submit for the admin form on `page`, inlines included."""

    def values(form) -> dict:
        data = {}
        for name in form.fields:
            value = form[name].value()
            if value is None or value is False:
                continue
            data[form.add_prefix(name)] = value
        return data

    data = values(page.context["adminform"].form)
    # The state the form was opened on travels in a hidden input of the page (HistoryAdmin).
    state = re.search(r'name="registry_state" value="([0-9a-f]+)"', page.content.decode())
    if state:
        data["registry_state"] = state.group(1)
    for inline in page.context["inline_admin_formsets"]:
        formset = inline.formset
        data |= values(formset.management_form)
        for form in formset.forms:
            data |= values(form)
    return data


def admin_submit(client, url: str, **changes):
    """Open an admin form, change some fields, submit it; return the response."""
    page = client.get(url)
    assert page.status_code == 200
    return client.post(url, admin_form_data(page) | changes)


def admin_drag(client, cut_item: str, pasted_on: str, position: str) -> bytes:
    """What the admin tree's drag and drop posts; returns the answer's text."""
    response = client.post(
        "/admin/registry/organization/",
        {"cmd": "move_node", "cut_item": cut_item, "pasted_on": pasted_on, "position": position},
    )
    return response.content


@pytest.fixture
def make_org(db):
    """Create an organization (saved through django-mptt, so the tree stays valid)."""

    def make(name: str | None = None, parent: Organization | None = None, **fields):
        number = next(_counter)
        fields.setdefault("kind", Kind.objects.get(pk="internal-department"))
        organization = Organization(
            id=fields.pop("id", f"test-org-{number}"),
            name=name or f"Test unit {number}",
            parent=parent,
            **fields,
        )
        organization.full_clean()
        organization.save()
        return organization

    return make


@pytest.fixture
def make_holder(db):
    def make(post: Post, position: int = 0) -> Holding:
        number = next(_counter)
        person = Person.objects.create(id=f"person-{number}", name=f"Person {number}")
        return Holding.objects.create(post=post, person=person, position=position)

    return make


@pytest.fixture
def editor(db) -> User:
    user = User.objects.create_user("editor", password="a-long-test-password", is_staff=True)
    user.groups.add(Group.objects.get(name=EDITORS))
    return user


@pytest.fixture
def editor_client(client, editor):
    client.force_login(editor)
    return client


@pytest.fixture
def viewer_client(client, db):
    user = User.objects.create_user("viewer", password="a-long-test-password", is_staff=True)
    user.groups.add(Group.objects.get(name=VIEWERS))
    client.force_login(user)
    return client


POPOLO = Path(settings.BASE_DIR).parent / "shared" / "popolo" / "schemas"


@pytest.fixture(scope="module")
def popolo():
    """A validator per Popolo schema, resolving their `$ref`s from the files (no network)."""
    schemas = {p.stem: json.loads(p.read_text()) for p in POPOLO.glob("*.json")}
    registry = Registry().with_resources(
        (schema["id"], Resource.from_contents(schema, default_specification=DRAFT3))
        for schema in schemas.values()
    )
    return {
        name: jsonschema.Draft3Validator(schema, registry=registry)
        for name, schema in schemas.items()
    }


def assert_valid(validator, document: dict) -> None:
    errors = sorted(validator.iter_errors(document), key=str)
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]
