"""A reader switches the interface to Chinese and back: the switch keeps the page, the choice
sticks while browsing, and the switch has its own room in the header at any width."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from .conftest import screenshot

WIDTHS = (1280, 390)
OFFICE = "cppcc-general-office"


def _switch(page):
    return page.locator(".language-switch a")


def _boxes_overlap(a: dict, b: dict) -> bool:
    return not (
        a["x"] + a["width"] <= b["x"]
        or b["x"] + b["width"] <= a["x"]
        or a["y"] + a["height"] <= b["y"]
        or b["y"] + b["height"] <= a["y"]
    )


def test_reader_switches_to_chinese_browses_and_switches_back(page, seeded_live):
    page.goto("/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Government organizations")
    _switch(page).click()

    expect(page).to_have_url(re.compile(r"/zh-hans/$"))
    expect(page.locator("html")).to_have_attribute("lang", "zh-Hans")
    expect(page.get_by_role("heading", level=1)).to_have_text("政府机构")
    screenshot(page, "home-zh")

    # Links name a unit in the page's language; its English name stands beside.
    page.get_by_role("link", name="中国人民政治协商会议全国委员会办公厅", exact=True).click()
    expect(page).to_have_url(re.compile(rf"/zh-hans/organizations/{OFFICE}/$"))
    expect(page.get_by_role("heading", name="基本信息")).to_be_visible()
    expect(page.locator(".infobox")).to_contain_text("1980年12月30日")
    screenshot(page, "organization-zh")

    # The choice is kept: the English address of another page now leads to its Chinese one.
    page.goto("/people/liu-qi/")
    expect(page).to_have_url(re.compile(r"/zh-hans/people/liu-qi/$"))
    page.go_back()
    expect(page).to_have_url(re.compile(rf"/zh-hans/organizations/{OFFICE}/$"))

    expect(_switch(page)).to_have_text("English")
    _switch(page).click()
    expect(page).to_have_url(re.compile(rf"/organizations/{OFFICE}/$"))
    assert "/zh-hans/" not in page.url
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", name="Facts")).to_be_visible()

    # And English sticks too.
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Government organizations")


def test_a_browser_that_prefers_chinese_gets_the_chinese_pages(browser, seeded_live):
    context = browser.new_context(base_url=seeded_live.url, locale="zh-CN")
    try:
        page = context.new_page()
        page.goto(f"/organizations/{OFFICE}/")
        expect(page).to_have_url(re.compile(rf"/zh-hans/organizations/{OFFICE}/$"))
        expect(page.locator("html")).to_have_attribute("lang", "zh-Hans")
        expect(_switch(page)).to_have_text("English")
    finally:
        context.close()


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("prefix", ["", "/zh-hans"])
def test_the_switch_is_visible_and_overlaps_nothing_in_the_header(
    page, seeded_live, width, prefix
):
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"{prefix}/organizations/{OFFICE}/?on=1990")
    switch = _switch(page)
    expect(switch).to_be_visible()
    box = switch.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= width
    header = page.locator(".site-header")
    for other in ("a.site-name", ".search-form", ".date-form"):
        assert not _boxes_overlap(box, header.locator(other).bounding_box()), other
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"the page is {overflow}px wider than the window"
    screenshot(page, f"language-switch-{width}{prefix.replace('/', '-')}", header)
    # The switch keeps the date.
    switch.click()
    expect(page).to_have_url(re.compile(r"\?on=1990$"))
