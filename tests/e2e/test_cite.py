"""A reader cites a page: the citation fits a phone's width, selects as one piece of text, and
its BibTeX downloads as a file."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import expect

from .conftest import screenshot

OFFICE = "/organizations/cppcc-general-office/"


def test_the_citation_wraps_at_phone_width_and_selects_whole(page, seeded_live):
    page.set_viewport_size({"width": 390, "height": 800})
    # A dated page: the longest address, and a Chinese name beside the English one.
    page.goto(f"{OFFICE}?on=1985-06")
    citation = page.locator(".citation")
    expect(citation).to_contain_text("as on June 1985")
    expect(citation).to_contain_text(f"{OFFICE}?on=1985-06.")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page is {width} px wide at 390 px"
    box = citation.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390
    assert citation.evaluate("element => element.scrollWidth <= element.clientWidth")
    citation.click(click_count=3)  # a triple click selects the paragraph, as readers copy it
    selected = page.evaluate("window.getSelection().toString()").strip()
    assert selected == citation.inner_text().strip()
    screenshot(page, "citation-phone", citation)


def test_the_bibtex_link_downloads_a_file(page, seeded_live):
    page.goto(f"/zh-hans{OFFICE}")
    expect(page.locator(".citation")).to_contain_text("[EB/OL]//政府机构名录")
    with page.expect_download() as download:
        page.get_by_role("link", name="BibTeX").click()
    assert download.value.suggested_filename == "cppcc-general-office.bib"
    text = Path(download.value.path()).read_text(encoding="utf-8")
    assert text.startswith("@misc{cppcc-general-office-v")
    assert "中国人民政治协商会议全国委员会办公厅" in text
