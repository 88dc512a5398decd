"""A reader goes back in time: the date box, the banner, the timeline and the compare page, in
Chromium, at a desktop and a phone width (issue "through time")."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from .conftest import screenshot

GO = "/organizations/cppcc-general-office/"
WIDTHS = (1280, 390)


def _fits(page) -> None:
    """Nothing wider than the window: no sideways scrolling."""
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"the page is {overflow}px wider than the window"


@pytest.mark.parametrize("width", WIDTHS)
def test_reader_picks_a_date_and_every_link_keeps_it(page, seeded_live, width):
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(GO)
    page.get_by_role("textbox", name="As on").fill("1985")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(rf"{GO}\?on=1985$"))
    banner = page.get_by_role("status").filter(has_text="as it stood")
    expect(banner).to_contain_text("as it stood in 1985")
    expect(page.get_by_role("textbox", name="As on")).to_have_value("1985")
    _fits(page)
    screenshot(page, f"organization-on-1985-{width}")

    # A department's link keeps the date.
    page.locator("section[aria-labelledby=departments]").get_by_role(
        "link", name="Research Office", exact=True
    ).click()
    expect(page).to_have_url(re.compile(r"/organizations/cppcc-go-research-office/\?on=1985$"))
    expect(page.get_by_role("status").filter(has_text="as it stood")).to_be_visible()

    # "Back to today" drops it.
    page.get_by_role("link", name="Back to today").click()
    expect(page).to_have_url(re.compile(r"/organizations/cppcc-go-research-office/$"))
    expect(page.get_by_role("status").filter(has_text="as it stood")).to_have_count(0)


def test_the_browser_refuses_a_date_that_is_not_one(page, seeded_live):
    page.goto(GO)
    page.get_by_role("textbox", name="As on").fill("May 1985")
    page.get_by_role("button", name="Show").click()
    # The pattern keeps the form from being sent: the page stays as it was.
    expect(page).to_have_url(re.compile(rf"{GO}$"))
    assert page.get_by_role("textbox", name="As on").evaluate("input => !input.validity.valid")


def test_a_unit_that_did_not_exist_then_says_so_and_leads_to_its_predecessor(page, seeded_live):
    page.goto(f"{GO}?on=1970")
    expect(page.get_by_text("Not in existence in 1970")).to_be_visible()
    page.get_by_role("link", name=re.compile("^Secretariat")).click()
    expect(page).to_have_url(re.compile(r"/organizations/cppcc-secretariat/\?on=1970$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Secretariat")


@pytest.mark.parametrize("width", WIDTHS)
def test_the_timeline_shows_the_establishment_with_its_source(page, seeded_live, width):
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(GO)
    timeline = page.locator("ol.timeline")
    first = timeline.get_by_role("listitem").first
    expect(first).to_contain_text("30 December 1980")
    expect(first).to_contain_text("Established")
    expect(first).to_contain_text("Source:")
    _fits(page)
    screenshot(page, f"timeline-{width}", timeline)
    # Its date opens the page as on that day; the recorded change has its own page.
    first.get_by_role("link", name="the recorded change").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Established, 30 December 1980")
    page.get_by_role("link", name=re.compile("^Secretariat")).first.click()
    expect(page).to_have_url(re.compile(r"/organizations/cppcc-secretariat/\?on=1980-12-30$"))


@pytest.mark.parametrize("width", WIDTHS)
def test_reader_compares_two_dates_and_opens_a_change(page, seeded_live, width):
    page.set_viewport_size({"width": width, "height": 900})
    page.goto("/")
    page.get_by_role("link", name="what changed between two dates").click()
    page.get_by_label("From").fill("1949")
    page.get_by_label("to", exact=True).fill("1990")
    page.get_by_role("button", name="Compare").click()
    expect(page).to_have_url(re.compile(r"/changes/\?from=1949&to=1990$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("What changed from 1949 to 1990")
    established = page.locator("section#established")
    expect(established.get_by_role("listitem")).to_have_count(3)
    _fits(page)
    screenshot(page, f"changes-{width}")
    established.get_by_role("link", name=re.compile("^General Office of the Standing")).click()
    expect(page).to_have_url(re.compile(r"/organizations/npcsc-general-office/\?on=1954-09-27$"))


def test_the_compare_page_of_one_organization_is_reached_from_its_page(page, seeded_live):
    page.goto(GO)
    page.get_by_role("link", name=re.compile("^What changed in General Office")).click()
    page.get_by_label("From").fill("1979")
    page.get_by_role("button", name="Compare").click()
    expect(page).to_have_url(
        re.compile(r"/changes/\?root=cppcc-general-office&from=1979&to=\d{4}-\d{2}-\d{2}$")
    )
    expect(page.locator("section#established")).to_contain_text("General Office of the National")
