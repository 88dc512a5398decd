"""The organization chart in a browser, keyboard use, and axe-core audits of the public pages."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from .conftest import screenshot, serious_violations

PUBLIC_PAGES = {
    "home": "/",
    "organization": "/organizations/cppcc-general-office/",
    "organization-leaf": "/organizations/cppcc-go-research-office-theoretical-bureau/",
    "person": None,  # the first leader of the CPPCC General Office, found at run time
    "search": "/search/?q=Research",
    "search-empty": "/search/",
    "organization-on-a-date": "/organizations/cppcc-general-office/?on=1985",
    "changes": "/changes/?from=1949&to=1990",
    "changes-empty": "/changes/",
    "event": "/events/cppcc-general-office-established-1980/",
}


def test_chart_links_lead_to_each_unit_and_are_focusable(page, seeded_live):
    page.goto("/organizations/cppcc-general-office/")
    chart = page.locator("svg.org-chart")
    expect(chart).to_be_visible()
    screenshot(page, "organization-chart", chart)
    links = chart.locator("a")
    expect(links.first).to_have_attribute("aria-label", re.compile("General Office"))
    research = chart.locator('a[aria-label="Research Office 研究室"]')
    research.focus()
    assert page.evaluate("document.activeElement.getAttribute('aria-label')") == (
        "Research Office 研究室"
    )
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/organizations/cppcc-go-research-office/$"))

    page.goto("/organizations/cppcc-general-office/")
    with page.expect_download() as info:
        page.get_by_role("link", name="Download the chart (SVG)").click()
    assert info.value.suggested_filename == "cppcc-general-office-chart.svg"


def test_keyboard_reaches_the_search_field_and_the_first_tree_link(page, seeded_live):
    page.goto("/")
    focused = []
    for _ in range(6):
        page.keyboard.press("Tab")
        focused.append(page.evaluate("document.activeElement.id || document.activeElement.href"))
    assert "site-search" in focused

    page.goto("/organizations/cppcc-general-office/")
    first_tree_link = page.locator("section[aria-labelledby=departments] .tree a").first
    href = first_tree_link.get_attribute("href")
    for _ in range(200):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.getAttribute('href')") == href:
            break
    else:
        pytest.fail("Tab never reached the first department link")
    # Further on, the chart's links take focus too.
    for _ in range(200):
        page.keyboard.press("Tab")
        if page.evaluate("!!document.activeElement.closest('svg.org-chart')"):
            break
    else:
        pytest.fail("Tab never reached a link in the organization chart")


@pytest.mark.parametrize("name", list(PUBLIC_PAGES))
def test_public_pages_have_no_serious_accessibility_violations(
    page, seeded_live, axe_source, name
):
    url = PUBLIC_PAGES[name]
    if url is None:
        page.goto("/organizations/cppcc-general-office/")
        url = page.locator("section[aria-labelledby=leadership] a").first.get_attribute("href")
    page.goto(url)
    serious = serious_violations(page, axe_source)
    assert serious == [], "\n".join(serious)
