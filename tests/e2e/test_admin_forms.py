"""The admin's forms in a browser: they fit the window at 1280 and 390 px (no element past its
sides, none over another), the picker shows paths, typing a name suggests the identifier, and
axe-core finds no serious violation."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from registry.admin.autocomplete import PATH_SEPARATOR
from registry.models import Organization, OtherName, Person, Placement, Post, Succession
from tests.csvtools import export_text, parse, write

from .conftest import screenshot, serious_violations
from .layout import layout_problems, overflowing

TREE = "/admin/registry/organization/"
LONG_TITLE = ("Deputy Director-General of the Research Office responsible for " * 4)[:200]


def _every_inline_shown() -> None:
    """The Research Office with a row in each inline, and a long post title, as curators fill
    them in."""
    unit = Organization.objects.get(pk="cppcc-go-research-office")
    OtherName.objects.create(
        organization=unit,
        name="Research Office of the General Office of the CPPCC National Committee",
        name_type="former_name",
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


def test_typing_a_name_suggests_the_identifier_until_it_is_edited(admin_page):
    page = admin_page
    page.goto(f"{TREE}add/")
    page.locator("#id_parent + .select2 .select2-selection").click()
    page.locator(".select2-search__field").fill("General Office of the National")
    # The office itself: its path ends with its own name (descendants' paths go on).
    arrow = PATH_SEPARATOR.strip()
    office = re.compile(f"{arrow} General Office of the National Committee[^{arrow}]*$")
    page.locator(".select2-results__option", has_text=office).click()
    page.locator("#id_name").press_sequentially("Archives Bureau", delay=20)
    expect(page.locator("#id_id")).to_have_value("cppcc-go-archives-bureau")
    page.fill("#id_id", "cppcc-go-archives")  # the curator's own choice is kept
    page.locator("#id_name").press_sequentially(" Office", delay=20)
    page.wait_for_timeout(600)
    expect(page.locator("#id_id")).to_have_value("cppcc-go-archives")

    page.goto(f"{TREE}add/")
    page.locator("#id_name_zh").press_sequentially("档案局", delay=20)
    expect(page.locator("#id_id")).to_have_value("dang-an-ju")


def test_the_parent_picker_shows_each_candidates_path(admin_page):
    page = admin_page
    page.goto(f"{TREE}add/")
    page.locator("#id_parent + .select2 .select2-selection").click()
    page.locator(".select2-search__field").fill("Research Office")
    options = page.locator(".select2-results__option")
    expect(options.first).to_contain_text(PATH_SEPARATOR)
    texts = options.all_inner_texts()
    assert any(t.startswith("Standing Committee of the National People") for t in texts), texts
    assert any(t.startswith("National Committee of the Chinese People") for t in texts), texts
    screenshot(page, "admin-parent-picker")
    # The open list lies over the form (as any drop-down does): it must fit the window.
    problems = overflowing(page)
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize("name", ["change-form", "import-preview", "recent-changes"])
def test_admin_forms_have_no_serious_accessibility_violations(
    admin_page, axe_source, tmp_path, name
):
    page = admin_page
    _every_inline_shown()
    if name == "import-preview":
        _import_preview(page, tmp_path)
    elif name == "recent-changes":
        page.goto(f"{TREE}cppcc-go-research-office/change/")
        page.fill("#id_name", "Research Office (renamed)")
        page.locator("input[name=_save]").click()
        page.goto("/admin/recent-changes/")
        expect(page.locator("#recent-changes")).to_contain_text("Research Office (renamed)")
        screenshot(page, "admin-recent-changes")
        for width in (1280, 390):
            page.set_viewport_size({"width": width, "height": 900})
            problems = layout_problems(page)
            assert problems == [], f"at {width}px:\n" + "\n".join(problems)
    else:
        page.goto(FORMS[name]())
    serious = serious_violations(page, axe_source)
    assert serious == [], "\n".join(serious)


def test_recent_changes_link_to_the_records_history(admin_page):
    page = admin_page
    page.get_by_role("link", name="Recent changes").click()
    expect(page).to_have_url(re.compile(r"/admin/recent-changes/$"))
    first = page.locator("#recent-changes tbody tr").first
    expect(first).to_contain_text("imported")
    page.goto("/admin/registry/person/")
    page.get_by_role("link", name="Recent changes").click()
    expect(page.locator("#recent-model")).to_have_value("registry.person")
