"""A curator works in the admin: log in, add, reorder by dragging, import CSV, read history."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from registry.models import Organization
from tests.csvtools import export_text, parse, write

from .conftest import screenshot

TREE = "/admin/registry/organization/"


def _department_names(page, pk: str) -> list[str]:
    page.goto(f"/organizations/{pk}/")
    tree = page.locator("section[aria-labelledby=departments] .tree > ul > li > a")
    return tree.all_inner_texts()


def test_curator_adds_a_department_through_the_admin_form(admin_page):
    page = admin_page
    page.goto(f"{TREE}add/")
    page.fill("#id_id", "npcsc-go-e2e-archives-bureau")
    page.fill("#id_name", "Archives Bureau")
    # The parent is a select2 autocomplete: type, then choose from what it offers.
    page.locator("#id_parent + .select2 .select2-selection").click()
    page.locator(".select2-search__field").fill("General Office of the Standing")
    page.locator(".select2-results__option", has_text="General Office of the Standing").click()
    page.select_option("#id_kind", "internal-department")
    page.locator("input[name=_save]").click()
    expect(page.locator(".messagelist")).to_contain_text("was added successfully")
    screenshot(page, "admin-tree")

    assert Organization.objects.get(pk="npcsc-go-e2e-archives-bureau").parent_id == (
        "npcsc-general-office"
    )
    assert "Archives Bureau" in _department_names(page, "npcsc-general-office")


def test_curator_drags_a_department_to_a_new_place(admin_page):
    page = admin_page
    before = _department_names(page, "cppcc-general-office")
    assert before.index("Veteran Affairs Bureau") > before.index("Secretariat")

    # Tall enough for the whole list, so the drag never needs the page to scroll under it.
    page.set_viewport_size({"width": 1280, "height": 3600})
    page.goto(TREE)
    page.get_by_text("Expand tree").click()  # the tree list starts collapsed
    moving = page.locator(
        "tr", has=page.locator('.tree-node[data-pk="cppcc-go-veteran-affairs-bureau"]')
    )
    target = page.locator("tr", has=page.locator('.tree-node[data-pk="cppcc-go-secretariat"]'))
    handle = moving.locator(".drag-handle").bounding_box()
    box = target.bounding_box()
    page.mouse.move(handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2)
    page.mouse.down()
    # The top third of a row means "before it" (django-mptt's draggable-admin.js).
    y = box["y"] + box["height"] / 6
    for step in range(1, 11):
        page.mouse.move(box["x"] + 200, handle["y"] + (y - handle["y"]) * step / 10)
    expect(page.locator("#drag-line")).to_be_visible()
    with page.expect_event("load"):
        page.mouse.up()

    after = _department_names(page, "cppcc-general-office")
    assert after.index("Veteran Affairs Bureau") == after.index("Secretariat") - 1
    assert sorted(after) == sorted(before)


def test_curator_imports_a_csv_fixing_a_bad_row(admin_page, tmp_path):
    page = admin_page
    rows = parse(export_text())
    line = [row["id"] for row in rows].index("npcsc-go-secretariat") + 2
    for row in rows:
        if row["id"] == "npcsc-go-secretariat":
            row.update(name="Secretariat Bureau", parent="nowhere")
    bad = tmp_path / "bad.csv"
    bad.write_bytes(write(rows))

    page.goto(f"{TREE}import/")
    # CSV is the only import format, so the form carries it as a hidden field.
    expect(page.locator("#id_format")).to_have_value("0")
    page.set_input_files("#id_import_file", str(bad))
    page.locator("input[type=submit]").click()
    expect(page.locator("#content")).to_contain_text(f"line {line}")
    expect(page.locator("#content")).to_contain_text("nowhere")
    expect(page.locator("input[value='Confirm import']")).to_have_count(0)
    assert Organization.objects.get(pk="npcsc-go-secretariat").name == "Secretariat"

    for row in rows:
        if row["id"] == "npcsc-go-secretariat":
            row["parent"] = "npcsc-general-office"
    good = tmp_path / "good.csv"
    good.write_bytes(write(rows))
    page.goto(f"{TREE}import/")
    page.set_input_files("#id_import_file", str(good))
    page.locator("input[type=submit]").click()
    page.get_by_role("button", name="Confirm import").or_(
        page.locator("input[value='Confirm import']")
    ).click()
    expect(page.locator(".messagelist")).to_contain_text(re.compile("Import finished", re.I))
    page.goto("/organizations/npcsc-general-office/")
    departments = page.locator("section[aria-labelledby=departments]")
    expect(departments.get_by_role("link", name="Secretariat Bureau")).to_be_visible()


def test_curator_reads_an_organizations_history(admin_page):
    page = admin_page
    page.goto(f"{TREE}cppcc-go-research-office/change/")
    page.fill("#id_name", "Research Office (renamed)")
    page.locator("input[name=_save]").click()
    expect(page.locator(".messagelist")).to_contain_text("was changed successfully")
    page.goto(f"{TREE}cppcc-go-research-office/history/")
    expect(page.locator("#change-history")).to_contain_text("curator")


def test_curator_reads_the_import_preview_and_confirms_after_a_concurrent_edit(
    admin_page, tmp_path
):
    page = admin_page
    rows = parse(export_text())
    line = [row["id"] for row in rows].index("npcsc-go-secretariat") + 2
    for row in rows:
        if row["id"] == "npcsc-go-secretariat":
            row.update(name="Secretariat Bureau", kind="club")
    bad = tmp_path / "bad.csv"
    bad.write_bytes(write(rows))
    page.goto(f"{TREE}import/")
    page.set_input_files("#id_import_file", str(bad))
    page.locator("input[type=submit]").click()
    # The message is on the page as text in its row, not behind a hover.
    bad_row = page.locator("tr", has=page.get_by_role("cell", name=f"line {line}", exact=True))
    expect(bad_row.get_by_text("column kind: “club” is not allowed")).to_be_visible()

    for row in rows:
        if row["id"] == "npcsc-go-secretariat":
            row["kind"] = "internal-department"
    good = tmp_path / "good.csv"
    good.write_bytes(write(rows))
    page.goto(f"{TREE}import/")
    page.set_input_files("#id_import_file", str(good))
    page.locator("input[type=submit]").click()
    expect(page.locator(".import-counts")).to_contain_text("1 changed")
    expect(page.locator("del", has_text="Secretariat")).to_be_visible()
    expect(page.locator("ins", has_text="Secretariat Bureau")).to_be_visible()
    unchanged = page.locator("details.import-unchanged li").first
    expect(unchanged).to_be_hidden()  # folded away until asked for
    page.locator("details.import-unchanged summary").click()
    expect(unchanged).to_be_visible()
    screenshot(page, "admin-import-preview")

    # Another curator renames a unit of the file before this one confirms.
    Organization.objects.filter(pk="npcsc-go-trade-union").update(name="Union (renamed)")
    page.locator("input[value='Confirm import']").click()
    expect(page.locator("#content")).to_contain_text("The registry changed since your preview")
    expect(page.locator(".import-counts")).to_contain_text("2 changed")
    assert Organization.objects.get(pk="npcsc-go-secretariat").name == "Secretariat"
    page.locator("input[value='Confirm import']").click()
    expect(page.locator(".messagelist")).to_contain_text("Import finished")
    assert Organization.objects.get(pk="npcsc-go-secretariat").name == "Secretariat Bureau"


def test_curator_records_a_move_from_the_units_page_and_readers_see_both_structures(
    admin_page,
):
    page = admin_page
    page.goto(f"{TREE}cppcc-go-research-office/change/")
    page.get_by_role("link", name="Record a change").click()
    page.get_by_role("link", name="Move a unit under another parent").click()
    # The unit comes prefilled from its page; the new parent is chosen by autocomplete.
    expect(page.locator("#id_organization")).to_have_value("cppcc-go-research-office")
    page.locator("#id_parent + .select2 .select2-selection").click()
    page.locator(".select2-search__field").fill("General Office of the Standing")
    page.locator(".select2-results__option", has_text="General Office of the Standing").click()
    page.fill("#id_date", "2000-03")
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"the form is {overflow}px wider than the window"
    screenshot(page, "admin-record-a-move")
    page.get_by_role("button", name="Record the change").click()
    expect(page.locator(".messagelist")).to_contain_text("Recorded")

    moved = (
        "section[aria-labelledby=departments] a[href^='/organizations/cppcc-go-research-office/']"
    )
    for office, year, count in (("cppcc", 1999, 1), ("npcsc", 1999, 0), ("npcsc", 2001, 1)):
        page.goto(f"/organizations/{office}-general-office/?on={year}")
        expect(page.locator(moved)).to_have_count(count)
    page.goto("/organizations/cppcc-go-research-office/")
    expect(page.locator("ol.timeline")).to_contain_text(
        "Moved from General Office of the National"
    )
