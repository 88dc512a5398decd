"""The public organization page on a desktop and on a phone: nothing past the window's sides or
drawn over anything else, a chart legible at 390 px, and large subtrees folded."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from ..test_outline_folding import import_large_unit
from .conftest import screenshot, serious_violations
from .layout import layout_problems

ORGANIZATION = "/organizations/cppcc-general-office/"
WIDTHS = (1280, 390)
# The page of a unit with 624 sub-units before they were folded, at 390 px (issue 15).
UNFOLDED_HEIGHT = 22_000

# Every label of the chart as drawn: one box per line of text (a <tspan>), or per <text>
# without lines, in CSS pixels of the page.
LABEL_HEIGHTS = """() => [...document.querySelectorAll('svg.org-chart text')].flatMap((text) => {
  const lines = text.querySelectorAll('tspan');
  return [...(lines.length ? lines : [text])].map((el) => el.getBoundingClientRect().height);
})"""


def _person_url(page) -> str:
    page.goto(ORGANIZATION)
    return page.locator("section[aria-labelledby=leadership] a").first.get_attribute("href")


@pytest.mark.parametrize("width", WIDTHS)
def test_organization_and_person_pages_fit_the_window(page, seeded_live, width):
    urls = [ORGANIZATION, "/zh-hans" + ORGANIZATION, _person_url(page)]
    page.set_viewport_size({"width": width, "height": 900})
    for url in urls:
        page.goto(url)
        assert not layout_problems(page), (url, layout_problems(page))
    if width == 390:
        page.goto(ORGANIZATION)
        screenshot(page, "organization-390")


def test_the_chart_is_legible_on_a_phone_and_scrolls_in_its_frame(page, seeded_live):
    page.set_viewport_size({"width": 390, "height": 900})
    page.goto(ORGANIZATION)
    chart = page.locator("svg.org-chart")
    expect(chart).to_be_visible()
    heights = page.evaluate(LABEL_HEIGHTS)
    assert len(heights) > 20
    assert min(heights) >= 12, sorted(heights)[:5]
    frame = page.locator(".chart-frame")
    widths = frame.evaluate("(el) => [el.scrollWidth, el.clientWidth]")
    assert widths[0] > widths[1] + 300, widths  # the chart scrolls, the page does not
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    expect(page.get_by_text("scroll it sideways")).to_be_visible()
    screenshot(page, "organization-chart-390", frame)
    # A link at the far right, reached by keyboard, is scrolled into view inside the frame.
    last = chart.locator("a").last
    last.focus()
    box, shown = last.bounding_box(), frame.bounding_box()
    assert shown["x"] <= box["x"] and box["x"] + box["width"] <= shown["x"] + shown["width"] + 1
    # On a desktop the chart fits its column.
    page.set_viewport_size({"width": 1280, "height": 900})
    widths = frame.evaluate("(el) => [el.scrollWidth, el.clientWidth]")
    assert widths[0] <= widths[1] + 1, widths
    assert min(page.evaluate(LABEL_HEIGHTS)) >= 11


@pytest.fixture
def large_unit(seeded_live, tmp_path):
    import_large_unit(tmp_path)
    return "/organizations/big/"


@pytest.mark.parametrize("width", WIDTHS)
def test_a_unit_with_624_sub_units_is_folded_to_a_short_page(page, large_unit, width):
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(large_unit)
    assert not layout_problems(page), layout_problems(page)
    height = page.evaluate("document.documentElement.scrollHeight")
    if width == 390:
        assert height < UNFOLDED_HEIGHT / 3, height
        screenshot(page, "organization-large-folded-390")
    # The folded units are in the page, hidden until opened.
    hidden = page.get_by_role("link", name="Division 600", exact=True, include_hidden=True)
    expect(hidden).to_have_count(1)
    expect(hidden).to_be_hidden()


def test_a_fold_opens_by_keyboard(page, large_unit):
    page.set_viewport_size({"width": 390, "height": 900})
    page.goto(large_unit)
    team = page.get_by_role("link", name="Team 0.0", exact=True, include_hidden=True)
    expect(team).to_be_hidden()
    summary = page.locator('summary[aria-label="1 unit under Section 0.0"]')
    for _ in range(100):
        page.keyboard.press("Tab")
        if summary.evaluate("(el) => el === document.activeElement"):
            break
    else:
        pytest.fail("Tab never reached the fold of Section 0.0")
    page.keyboard.press("Enter")
    expect(team).to_be_visible()
    # The rest of a long list opens the same way, and its units' folds work inside it.
    rest = page.locator("summary", has_text="604 more units at this level")
    rest.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("link", name="Division 600", exact=True)).to_be_visible()
    screenshot(page, "organization-large-opened-390")
    assert not layout_problems(page), layout_problems(page)


@pytest.mark.parametrize("width", WIDTHS)
def test_the_folded_page_has_no_serious_accessibility_violations(
    page, large_unit, axe_source, width
):
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(large_unit)
    serious = serious_violations(page, axe_source)
    assert serious == [], "\n".join(serious)
