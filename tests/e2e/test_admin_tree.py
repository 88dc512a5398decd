"""The organizations list in a browser: it fits the window, shows whole trees, and can be
reordered from the keyboard alone (issue 15)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from registry.models import Organization

from .conftest import screenshot, serious_violations
from .layout import layout_problems

TREE = "/admin/registry/organization/"
SUBTREE = f"{TREE}?subtree=cppcc-go-research-office"


@pytest.mark.parametrize("width", [1280, 390])
@pytest.mark.parametrize("url", [TREE, SUBTREE], ids=["changelist", "subtree"])
def test_the_tree_list_fits_the_window(admin_page, width, url):
    page = admin_page
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(url)
    expect(page.locator("#result_list")).to_be_visible()
    assert layout_problems(page) == []
    if width == 1280:
        assert page.locator("#changelist-filter").bounding_box()["width"] <= 300
    if url == TREE:
        screenshot(page, f"admin-changelist-{width}")
    else:
        expect(page.locator(".tree-path")).to_contain_text("General Office of the National")
        screenshot(page, f"admin-subtree-{width}")


@pytest.mark.parametrize("width", [1280, 390])
def test_the_post_list_fits_the_window(admin_page, width):
    page = admin_page
    page.set_viewport_size({"width": width, "height": 900})
    page.goto("/admin/registry/post/")
    expect(page.locator("#result_list")).to_be_visible()
    assert layout_problems(page) == []
    if width == 1280:
        assert page.locator("#changelist-filter").bounding_box()["width"] <= 300
    screenshot(page, f"admin-post-list-{width}")


@pytest.mark.parametrize("width", [1280, 390])
def test_the_move_under_page_fits_the_window(admin_page, width):
    page = admin_page
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"{TREE}cppcc-go-secretariat/move/")
    expect(page.locator("#id_position")).to_be_visible()
    assert layout_problems(page) == []
    screenshot(page, f"admin-move-under-{width}")


def test_the_whole_seed_registry_is_on_one_page_and_a_body_is_found_by_name(admin_page):
    page = admin_page
    page.goto(TREE)
    expect(page.locator("#result_list tbody tr")).to_have_count(Organization.objects.count())
    expect(page.locator(".paginator")).not_to_contain_text("2")
    page.fill("#tree-filter-find", "Standing Committee")
    page.keyboard.press("Enter")
    found = page.locator(".tree-filter-found a")
    expect(found).to_have_count(1)
    found.click()
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(Organization.objects.get(pk="npcsc").get_descendant_count() + 1)


def _public_departments(page, pk: str) -> list[str]:
    page.goto(f"/organizations/{pk}/")
    tree = page.locator("section[aria-labelledby=departments] .tree > ul > li > a")
    return tree.all_inner_texts()


def test_a_curator_reorders_with_the_keyboard_alone(admin_page):
    page = admin_page
    office = Organization.objects.get(pk="cppcc-general-office")
    first, second = office.get_children()[:2]
    page.goto(TREE)
    # Tab from the row's title link (focused without a mouse) to its "down" button.
    page.locator(f'th a[href$="/{first.pk}/change/"]').focus()
    wanted = f"move-{first.pk}-down"
    for _ in range(5):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == wanted:
            break
    assert page.evaluate("document.activeElement.id") == wanted
    with page.expect_navigation():
        page.keyboard.press("Enter")

    # The focus is back on the control that moved the row, and the move is announced.
    page.wait_for_function("id => document.activeElement.id === id", arg=wanted)
    status = page.locator("#tree-move-status")
    expect(status).to_have_attribute("aria-live", "polite")
    expect(status).to_contain_text(f"“{first}” moved down, after “{second}”.")
    screenshot(page, "admin-keyboard-move")
    # Now second among its siblings, the row can go back up: one Shift+Tab away.
    page.keyboard.press("Shift+Tab")
    assert page.evaluate("document.activeElement.id") == f"move-{first.pk}-up"

    assert _public_departments(page, "cppcc-general-office")[:2] == [second.name, first.name]


def test_drop_zones_say_before_inside_or_after_which_row(admin_page):
    page = admin_page
    page.set_viewport_size({"width": 1280, "height": 3600})
    page.goto(TREE)
    # django-mptt measures the zones with the height of the row being dragged: a short row
    # over a taller one has all three zones inside the target row.
    moving = page.locator("tr", has=page.locator('.tree-node[data-pk="cppcc-go-secretariat"]'))
    name = "Office of the Committee for Handling Proposals"
    target = page.locator(
        "tr",
        has=page.locator('.tree-node[data-pk="cppcc-go-committee-handling-proposals-office"]'),
    )
    handle = moving.locator(".drag-handle").bounding_box()
    box = target.bounding_box()
    page.mouse.move(handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2)
    page.mouse.down()
    line = page.locator("#drag-line")
    for fraction, label, zone in (
        (1 / 6, f"Move before “{name}”", "before"),
        (1 / 2, f"Move inside “{name}”", "child"),
        (5 / 6, f"Move after “{name}”", "after"),
    ):
        y = box["y"] + moving.bounding_box()["height"] * fraction
        for step in range(1, 6):
            page.mouse.move(box["x"] + 200, y - (5 - step))
        expect(line).to_have_text(label)
        expect(line).to_have_class(f"tree-zone-{zone}")
        if zone == "child":  # the row itself is marked, not only a line under it
            assert "tree-drop-inside" in (target.get_attribute("class") or "")
    page.keyboard.press("Escape")  # django-mptt's way to drop nothing
    expect(line).to_have_count(0)


def test_the_tree_list_has_no_serious_accessibility_violations(admin_page, axe_source):
    page = admin_page
    page.goto(TREE)
    serious = serious_violations(page, axe_source)
    assert serious == [], "\n".join(serious)
