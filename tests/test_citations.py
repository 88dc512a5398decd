"""“Cite this page”: every organization and person page gives a citation (title, registry,
permanent address, registry version, retrieval day) as text, BibTeX and CSL-JSON, in the
page's language, and no cache ever shows another day than the one it is served."""

from __future__ import annotations

import datetime
import html
import json
import re
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from registry.models import ChangeStamp, Organization, Person

OFFICE = "/organizations/cppcc-general-office/"
PERSON = "/people/liu-qi/"
OFFICE_NAME = "General Office of the National Committee of the Chinese People's Political"
OFFICE_NAME_ZH = "中国人民政治协商会议全国委员会办公厅"
HOSTILE = "Bureau }{\\%#&_~^$ @misc{evil,\n@comment{ title = {x}}, }"
ZONE = ZoneInfo(settings.TIME_ZONE)


@pytest.fixture
def reader() -> Client:
    return Client()


def _at(year: int, month: int, day: int, hour: int, minute: int, second: int = 0):
    """Django's clock stopped at that moment of the registry's time zone."""
    moment = datetime.datetime(year, month, day, hour, minute, second, tzinfo=ZONE)
    return mock.patch("django.utils.timezone.now", return_value=moment.astimezone(datetime.UTC))


def _citation(response) -> str:
    """The text of the page's “Cite this page” block, as a reader selects it."""
    assert response.status_code == 200
    found = re.search(r'<p class="citation">(.*?)</p>', response.content.decode(), re.S)
    assert found, "the page has no citation"
    return html.unescape(found.group(1))


def _stamp() -> tuple[int, datetime.date]:
    stamp = ChangeStamp.objects.get()
    return stamp.version, stamp.changed.astimezone(ZONE).date()


def _bibtex_fields(text: str) -> tuple[str, dict[str, str]]:
    """Read one entry as BibTeX does: `@type{key,` then `name = {value}` pairs separated by
    commas at the entry's own level, braces counted with no regard to backslashes, up to the
    brace that closes the entry, after which nothing may follow."""
    opening = re.match(r"@misc\{([^,\s{}]+),", text)
    assert opening, text
    depth, start, pieces = 1, opening.end(), []
    for index in range(opening.end(), len(text)):
        character = text[index]
        if character == "{":
            depth += 1
        elif character == "}":
            depth -= 1
        if depth == 0 or (depth == 1 and character == ","):
            pieces.append(text[start:index])
            start = index + 1
        if depth == 0:
            assert text[index + 1 :].strip() == "", "text after the entry's end"
            break
    assert depth == 0, "the entry is never closed"
    fields = {}
    for piece in filter(str.strip, pieces):
        pair = re.fullmatch(r"\s*(\w+) = \{(.*)\}\s*", piece, re.S)
        assert pair, f"not a field: {piece!r}"
        assert pair.group(1) not in fields
        fields[pair.group(1)] = pair.group(2)
    return opening.group(1), fields


# --- The pages -------------------------------------------------------------------------------


def test_an_organization_page_cites_its_permanent_address_version_and_day(reader, seeded):
    with _at(2026, 12, 3, 10, 0):
        text = _citation(reader.get(OFFICE))
    version, changed = _stamp()
    assert text.startswith(f"“{OFFICE_NAME}")
    assert f"({OFFICE_NAME_ZH})." in text
    assert "Registry of Government Organizations" in text
    assert f"version {version}." in text
    assert f"Last modified {changed.day} {changed:%B %Y}." in text
    assert "Accessed 3 December 2026." in text
    assert text.endswith(f"http://testserver{OFFICE}.")


def test_a_person_page_cites_its_permanent_address_version_and_day(reader, seeded):
    with _at(2026, 12, 3, 10, 0):
        text = _citation(reader.get(PERSON))
    version, _changed = _stamp()
    person = Person.objects.get(pk="liu-qi")
    assert text.startswith(f"“{person.name} ({person.name_zh}).”")
    assert f"version {version}." in text
    assert "Accessed 3 December 2026." in text
    assert text.endswith(f"http://testserver{PERSON}.")


def test_the_address_cited_is_the_one_the_reader_used_to_reach_the_site(reader, seeded):
    response = reader.get(OFFICE, headers={"host": "localhost:8443"}, secure=True)
    assert _citation(response).endswith(f"https://localhost:8443{OFFICE}.")


def test_a_dated_page_cites_its_dated_address_and_says_so(reader, seeded):
    text = _citation(reader.get(f"{OFFICE}?on=1985-06"))
    assert ", as on June 1985.”" in text
    assert text.endswith(f"http://testserver{OFFICE}?on=1985-06.")
    assert f'href="{OFFICE}cite.bib?on=1985-06"' in reader.get(f"{OFFICE}?on=1985-06").text


def test_a_dated_page_cites_the_name_it_had_then(reader, seeded, make_org):
    unit = make_org("Today's Bureau", formed="1990")
    unit.other_names.create(name="Old Bureau", name_type="former_name", start="1990", end="2000")
    assert "“Old Bureau, as on 1995.”" in _citation(
        reader.get(f"/organizations/{unit.pk}/?on=1995")
    )
    assert "“Today's Bureau.”" in _citation(reader.get(f"/organizations/{unit.pk}/"))


def test_the_chinese_page_cites_in_chinese_with_the_chinese_name_first(reader, seeded):
    with _at(2026, 12, 3, 10, 0):
        text = _citation(reader.get(f"/zh-hans{OFFICE}"))
    version, changed = _stamp()
    assert text.startswith(f"{OFFICE_NAME_ZH}（{OFFICE_NAME}")  # noqa: RUF001
    assert f"[EB/OL]//政府机构名录: 第{version}版. ({changed.isoformat()})[2026-12-03]." in text
    # The permanent address is the English one, whichever page it is cited from.
    assert text.endswith(f" http://testserver{OFFICE}.")
    page = reader.get(f"/zh-hans{OFFICE}").content.decode()
    assert "引用本页" in page
    assert f'href="/zh-hans{OFFICE}cite.bib"' in page


def test_a_dated_chinese_page_says_as_on_in_chinese(reader, seeded):
    assert "：截至1985年[EB/OL]" in _citation(reader.get(f"/zh-hans{OFFICE}?on=1985"))  # noqa: RUF001


def test_a_name_without_a_chinese_form_is_cited_alone(reader, seeded, make_org):
    unit = make_org("Plain Bureau")
    assert _citation(reader.get(f"/organizations/{unit.pk}/")).startswith("“Plain Bureau.”")
    assert _citation(reader.get(f"/zh-hans/organizations/{unit.pk}/")).startswith(
        "Plain Bureau[EB/OL]"
    )


def test_a_hostile_name_is_escaped_on_the_page(reader, seeded, make_org):
    unit = make_org("<script>alert(1)</script> Bureau")
    page = reader.get(f"/organizations/{unit.pk}/").content.decode()
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Bureau" in page


def test_the_page_reads_the_registry_version_once(reader, seeded):
    """The citation uses the change stamp the page's ETag already read: no query of its own."""
    with CaptureQueriesContext(connection) as queries:
        assert reader.get(OFFICE).status_code == 200
    assert sum("registry_change_stamp" in query["sql"] for query in queries) == 1


# --- The downloads ---------------------------------------------------------------------------


def test_the_bibtex_download(reader, seeded):
    with _at(2026, 12, 3, 10, 0):
        response = reader.get(f"{OFFICE}cite.bib")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/x-bibtex; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="cppcc-general-office.bib"'
    assert response["ETag"].startswith('W/"')
    version, changed = _stamp()
    key, fields = _bibtex_fields(response.content.decode())
    assert key == f"cppcc-general-office-v{version}"
    assert fields["title"].startswith("{General Office of the National Committee")
    assert f"({OFFICE_NAME_ZH})" in fields["title"]  # Chinese stays UTF-8
    assert fields["organization"] == "Registry of Government Organizations"
    assert fields["url"] == f"http://testserver{OFFICE}"
    assert fields["howpublished"] == f"\\url{{http://testserver{OFFICE}}}"
    assert fields["urldate"] == "2026-12-03"
    assert fields["version"] == str(version)
    assert fields["date"] == changed.isoformat()
    assert fields["language"] == "english"
    assert fields["note"] == f"Registry version {version}, last modified {changed:%-d %B %Y}."


def test_the_csl_json_download(reader, seeded):
    with _at(2026, 12, 3, 10, 0):
        response = reader.get(f"{OFFICE}cite.json")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.citationstyles.csl+json"
    assert response["Content-Disposition"] == 'attachment; filename="cppcc-general-office.json"'
    version, changed = _stamp()
    items = json.loads(response.content)
    assert isinstance(items, list) and len(items) == 1
    item = items[0]
    assert item["id"] == f"cppcc-general-office-v{version}"
    assert item["type"] == "webpage"
    assert item["title"].startswith(OFFICE_NAME)
    assert item["original-title"] == OFFICE_NAME_ZH
    assert item["container-title"] == "Registry of Government Organizations"
    assert item["URL"] == f"http://testserver{OFFICE}"
    assert item["accessed"] == {"date-parts": [[2026, 12, 3]]}
    assert item["issued"] == {"date-parts": [[changed.year, changed.month, changed.day]]}
    assert item["version"] == str(version)
    assert item["language"] == "en"
    assert OFFICE_NAME_ZH.encode() in response.content  # UTF-8, not \u escapes


def test_the_chinese_downloads_name_the_chinese_name_first(reader, seeded):
    item = json.loads(reader.get(f"/zh-hans{OFFICE}cite.json").content)[0]
    assert item["title"] == OFFICE_NAME_ZH
    assert item["container-title"] == "政府机构名录"
    assert item["language"] == "zh-Hans"
    assert item["URL"] == f"http://testserver{OFFICE}"
    assert f"英文名称：{OFFICE_NAME}" in item["note"]  # noqa: RUF001
    _key, fields = _bibtex_fields(reader.get(f"/zh-hans{OFFICE}cite.bib").content.decode())
    assert fields["title"].startswith(f"{{{OFFICE_NAME_ZH}（")  # noqa: RUF001
    assert fields["language"] == "chinese"


def test_a_person_has_both_downloads(reader, seeded):
    bib = reader.get(f"{PERSON}cite.bib")
    assert bib["Content-Disposition"] == 'attachment; filename="liu-qi.bib"'
    _key, fields = _bibtex_fields(bib.content.decode())
    assert fields["url"] == f"http://testserver{PERSON}"
    item = json.loads(reader.get(f"{PERSON}cite.json").content)[0]
    assert item["URL"] == f"http://testserver{PERSON}"
    assert item["type"] == "webpage"


def test_a_dated_download_cites_the_dated_page(reader, seeded):
    response = reader.get(f"{OFFICE}cite.bib?on=1985")
    assert (
        response["Content-Disposition"] == 'attachment; filename="cppcc-general-office-1985.bib"'
    )
    key, fields = _bibtex_fields(response.content.decode())
    assert key.startswith("cppcc-general-office-1985-v")
    assert fields["url"] == f"http://testserver{OFFICE}?on=1985"
    assert fields["title"].endswith(", as on 1985}")
    item = json.loads(reader.get(f"{OFFICE}cite.json?on=1985").content)[0]
    assert item["URL"] == f"http://testserver{OFFICE}?on=1985"


@pytest.mark.parametrize("kind", ["organization", "person"])
def test_a_hostile_name_cannot_end_the_bibtex_entry(reader, seeded, make_org, kind):
    if kind == "organization":
        unit = make_org("Plain")
        Organization.objects.filter(pk=unit.pk).update(name=HOSTILE, name_zh="局}{\\%")
        url = f"/organizations/{unit.pk}/cite.bib"
    else:
        Person.objects.create(id="hostile", name=HOSTILE, name_zh="刘}{")
        url = "/people/hostile/cite.bib"
    text = reader.get(url).content.decode()
    _key, fields = _bibtex_fields(text)
    assert set(fields) == {
        "title", "organization", "howpublished", "url", "urldate", "version", "date", "year",
        "note", "language",
    }  # fmt: skip
    # One entry, and no line of it starts a new one.
    assert [line for line in text.splitlines() if line.lstrip().startswith("@")] == [
        text.splitlines()[0]
    ]
    title = fields["title"]
    assert "\n" not in title
    for escaped in (r"\%", r"\#", r"\&", r"\_", r"\$", r"\textbackslash{}"):
        assert escaped in title
    assert r"\textbraceright{}\textbraceleft{}" in title
    assert r"\textasciitilde{}\textasciicircum{}" in title


@pytest.mark.parametrize(
    "url",
    [
        "/organizations/no-such-unit/cite.bib",
        "/organizations/no-such-unit/cite.json",
        "/people/nobody/cite.bib",
        "/zh-hans/people/nobody/cite.json",
        f"{OFFICE}cite.bib?on=1950",  # formed 1980: no page to cite then
    ],
)
def test_unknown_records_have_no_citation(reader, seeded, url):
    assert reader.get(url).status_code == 404


def test_a_citation_is_revalidated_like_any_page(reader, seeded):
    with _at(2026, 12, 3, 10, 0):
        first = reader.get(f"{OFFICE}cite.json")
        again = reader.get(f"{OFFICE}cite.json", headers={"if-none-match": first["ETag"]})
    assert again.status_code == 304


# --- The retrieval day under caching -------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "first_day", "second_day"),
    [
        (OFFICE, "Accessed 3 December 2026.", "Accessed 4 December 2026."),
        (PERSON, "Accessed 3 December 2026.", "Accessed 4 December 2026."),
        (f"/zh-hans{OFFICE}", "[2026-12-03].", "[2026-12-04]."),
    ],
)
def test_no_cache_serves_a_page_on_another_day_than_it_names(
    reader, seeded, url, first_day, second_day
):
    """A page rendered half a minute before midnight: the same day it is a 304 (and the
    render cache's copy), a CDN may keep it only for the seconds left, and after midnight the
    browser's revalidation and the render cache both give the new day, with a new ETag."""
    with _at(2026, 12, 3, 23, 59, 30):
        first = reader.get(url)
        same_day = reader.get(url, headers={"if-none-match": first["ETag"]})
    assert first_day in _citation(first)
    assert same_day.status_code == 304
    assert "s-maxage=30" in first["Cache-Control"]
    with _at(2026, 12, 4, 0, 0, 30):
        next_day = reader.get(url, headers={"if-none-match": first["ETag"]})
        again = reader.get(url)
    assert next_day.status_code == 200
    assert next_day["ETag"] != first["ETag"]
    assert second_day in _citation(next_day)
    assert first_day not in _citation(next_day)
    assert _citation(again) == _citation(next_day)
    assert "s-maxage=60" in next_day["Cache-Control"]


def test_a_download_names_the_day_it_is_served_too(reader, seeded):
    with _at(2026, 12, 3, 23, 59, 30):
        first = reader.get(f"{PERSON}cite.bib")
    with _at(2026, 12, 4, 0, 0, 30):
        second = reader.get(f"{PERSON}cite.bib", headers={"if-none-match": first["ETag"]})
    assert second.status_code == 200
    assert _bibtex_fields(first.content.decode())[1]["urldate"] == "2026-12-03"
    assert _bibtex_fields(second.content.decode())[1]["urldate"] == "2026-12-04"


def test_pages_without_a_day_keep_their_etag_across_midnight(reader, seeded):
    """Only the pages that name the day change with it: the home page and the chart do not."""
    for url in ("/", f"{OFFICE}chart.svg"):
        with _at(2026, 12, 3, 23, 59, 30):
            first = reader.get(url)
        with _at(2026, 12, 4, 0, 0, 30):
            second = reader.get(url, headers={"if-none-match": first["ETag"]})
        assert second.status_code == 304
        assert "s-maxage=60" in first["Cache-Control"]
