"""A reader browses the public pages: tree, people, search, CSV download, accessibility."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from registry.models import Organization, OtherName

from .conftest import screenshot

RESEARCH_OFFICE = "cppcc-go-research-office"


def test_reader_walks_down_the_tree_and_back_up_by_breadcrumbs(page, seeded_live):
    page.goto("/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Government organizations")
    screenshot(page, "home")

    page.get_by_role("link", name=re.compile(r"^General Office of the National Committee")).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("General Office of the National")
    screenshot(page, "organization")

    departments = page.locator("section[aria-labelledby=departments]")
    departments.get_by_role("link", name="Research Office", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Research Office")
    page.get_by_role("link", name="Theoretical Bureau of the Research Office").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Theoretical Bureau of the Research Office"
    )

    crumbs = page.get_by_role("navigation", name="Breadcrumb")
    expect(crumbs.get_by_role("listitem").last).to_have_text(
        "Theoretical Bureau of the Research Office"
    )
    crumbs.get_by_role("link", name="Research Office", exact=True).click()
    expect(page).to_have_url(re.compile(rf"/organizations/{RESEARCH_OFFICE}/$"))
    crumbs.get_by_role(
        "link", name=re.compile(r"^General Office of the National Committee")
    ).click()
    expect(page).to_have_url(re.compile(r"/organizations/cppcc-general-office/$"))
    crumbs.get_by_role("link", name="Home").click()
    expect(page).to_have_url(re.compile(r"/$"))


def test_reader_opens_a_person_from_the_leadership_list(page, seeded_live):
    page.goto("/organizations/cppcc-general-office/")
    leadership = page.locator("section[aria-labelledby=leadership]")
    first = leadership.get_by_role("link").first
    name = first.inner_text()
    first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(name)
    expect(page).to_have_url(re.compile(r"/people/[^/]+/$"))
    posts = page.locator("section[aria-labelledby=posts]")
    expect(posts.get_by_role("link").first).to_be_visible()
    screenshot(page, "person")


def test_reader_searches_in_english_and_in_chinese(page, seeded_live):
    OtherName.objects.create(
        organization=Organization.objects.get(pk=RESEARCH_OFFICE),
        name="全国政协办公厅研究室",
        name_type="translation",
        language="zh-Hans",
    )
    page.goto("/")
    page.get_by_role("searchbox").fill("Research")
    page.get_by_role("button", name="Search").click()
    expect(page).to_have_url(re.compile(r"/search/\?q=Research"))
    results = page.locator("ol.results")
    expect(results.get_by_role("link", name="Research Office", exact=True)).to_have_count(2)
    screenshot(page, "search")

    page.get_by_role("searchbox").fill("政协办公厅研究室")
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_contain_text("1 organization match")
    screenshot(page, "search-chinese")
    page.locator("ol.results").get_by_role("link", name="Research Office").click()
    expect(page).to_have_url(re.compile(rf"/organizations/{RESEARCH_OFFICE}/$"))
    expect(page.locator(".infobox")).to_contain_text("全国政协办公厅研究室")


def test_reader_downloads_the_organizations_csv(page, seeded_live, tmp_path):
    page.goto("/")
    with page.expect_download() as info:
        page.locator("footer").get_by_role("link", name="organizations").click()
    download = info.value
    assert download.suggested_filename == "organizations.csv"
    path = tmp_path / "organizations.csv"
    download.save_as(path)
    text = path.read_text(encoding="utf-8")
    assert text.startswith("id,parent,order,name")
    assert "cppcc-go-research-office" in text
