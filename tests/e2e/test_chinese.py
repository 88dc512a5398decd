"""A reader who reads Chinese: finds seed units by Chinese name, short form, traditional
characters and pinyin from the search box, and sees both names on each page."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from .conftest import screenshot

OFFICE = "cppcc-general-office"


def _search(page, text: str) -> None:
    box = page.get_by_role("searchbox")
    box.fill(text)
    box.press("Enter")
    expect(page).to_have_url(re.compile(r"/search/\?q="))


def test_reader_finds_units_by_chinese_name_short_form_and_pinyin(page, seeded_live):
    page.goto("/zh-hans/")
    _search(page, "研究室")
    results = page.locator("ol.results")
    expect(results.get_by_role("link", name="研究室", exact=True)).to_have_count(2)
    expect(results).to_contain_text("Research Office")
    screenshot(page, "search-zh")

    for query in ("全国政协办公厅", "全國政協辦公廳", "quanguo zhengxie bangongting", "qgzxbgt"):
        _search(page, query)
        link = page.locator("ol.results").get_by_role(
            "link", name="中国人民政治协商会议全国委员会办公厅", exact=True
        )
        expect(link).to_have_count(1)
    link.click()
    expect(page).to_have_url(re.compile(rf"/zh-hans/organizations/{OFFICE}/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "中国人民政治协商会议全国委员会办公厅"
    )
    expect(page.locator(".names-other")).to_contain_text("General Office of the National")
    expect(page.locator(".names-other")).to_contain_text("全国政协办公厅")


def test_both_names_fit_the_title_and_the_tree_at_phone_width(page, seeded_live):
    page.set_viewport_size({"width": 390, "height": 800})
    page.goto(f"/organizations/{OFFICE}/")
    names = page.locator(".names-other")
    expect(names).to_contain_text("中国人民政治协商会议全国委员会办公厅")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page is {width} px wide at 390 px"
    box = names.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390
    tree = page.locator("section[aria-labelledby=departments]")
    expect(tree.locator(".name-other").first).to_be_visible()
    screenshot(page, "organization-phone")
