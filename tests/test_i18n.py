"""The interface in English and Simplified Chinese: every public page under /zh-hans/, the
switch between them, the cookie and Accept-Language redirects, hreflang alternates, Chinese
dates, ranks and kinds, downloads that stay the same, and a catalog with nothing left out."""

from __future__ import annotations

import ast
import gettext
import re
import shutil
from html import unescape
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import Client
from django.utils import translation
from django.utils.cache import has_vary_header

from registry.dates import On, PartialDate
from registry.models import (
    ChangeEvent,
    Citation,
    Kind,
    Organization,
    OtherName,
    Person,
    Post,
    Rank,
    Source,
)

ROOT = Path(settings.BASE_DIR)
CATALOG = ROOT / "locale" / "zh_Hans" / "LC_MESSAGES"
OFFICE = "/organizations/cppcc-general-office/"
RESEARCH_OFFICE = "/organizations/cppcc-go-research-office/"
EVENT = "/events/cppcc-general-office-established-1980/"
PAGES = {
    "home": "/",
    "organization": OFFICE,
    "dated organization": f"{OFFICE}?on=1990",
    "organization that did not exist then": f"{RESEARCH_OFFICE}?on=1950",
    "person": "/people/liu-qi/",
    "search": "/search/?q=research",
    "empty search": "/search/",
    "compare": "/changes/",
    "changes": "/changes/?from=1949&to=2020",
    "event": EVENT,
}
# Interface words of the English pages that no Chinese page may show.
ENGLISH_INTERFACE = (
    "Registry of Government Organizations",
    "Skip to content",
    "Search names",
    "As on",
    "Read-only public registry",
    "Download everything as CSV",
    "Government organizations",
    "top-level bodies",
    "directly affiliated institution",
    "Facts",
    "Administrative rank",
    "Parent organization",
    "Leadership",
    "Departments",
    "Organization chart",
    "Timeline",
    "Sources",
    "Posts",
    "organizations match",
    "What changed",
    "Compare",
    "Before the change",
    "After the change",
    "Not in existence",
    "Page not found",
    "Home",
    "from ",
    "until ",
    "formed ",
)
MONTHS = re.compile(
    r"\b(January|February|March|April|May|June|July|August|September|October|November|"
    r"December)\b"
)


@pytest.fixture
def reader() -> Client:
    return Client()


def _text(html: str) -> str:
    """What a reader sees: the body's text and the attributes shown or read aloud."""
    body = html[html.index("<body") :]
    shown = " ".join(re.findall(r'(?:aria-label|title|placeholder|alt)="([^"]*)"', body))
    body = re.sub(r"<(script|style|code)\b.*?</\1>", " ", body, flags=re.S)
    text = re.sub(r"<[^>]+>", " ", body) + " " + shown
    return re.sub(r"\s+", " ", unescape(text))


def _interface_text(html: str) -> str:
    """The visible text without the registry's data: names, notes and summaries are English
    in the records themselves, whatever the interface's language."""
    data = {
        " ".join(str(value).split())
        for model, fields in (
            (Organization, ("name", "summary", "history", "functions", "location", "type")),
            (OtherName, ("name",)),
            (Person, ("name", "note")),
            (Post, ("title", "plural_title")),
            (Source, ("title", "publisher")),
            (ChangeEvent, ("note", "locator")),
            (Citation, ("locator",)),
        )
        for row in model.objects.values_list(*fields)
        for value in row
        if value
    }
    text = _text(html)
    for piece in sorted(data, key=len, reverse=True):
        text = text.replace(piece, " ")
    return text


# --- Every public page in Chinese --------------------------------------------------------


@pytest.mark.parametrize("url", PAGES.values(), ids=PAGES.keys())
def test_every_public_page_answers_in_chinese_under_zh_hans(reader, seeded, url):
    response = reader.get(f"/zh-hans{url}")
    assert response.status_code in (200, 404)
    html = response.content.decode()
    assert '<html lang="zh-Hans">' in html
    assert "政府机构名录" in html
    text = _interface_text(html)
    left = [word for word in ENGLISH_INTERFACE if word in text]
    assert not left, f"English interface words on the Chinese page: {left}"
    assert not MONTHS.search(text), "an English date on the Chinese page"


def test_a_missing_page_is_in_chinese_under_zh_hans(reader, seeded):
    response = reader.get("/zh-hans/organizations/no-such-unit/")
    assert response.status_code == 404
    html = response.content.decode()
    assert '<html lang="zh-Hans">' in html
    assert "<h1>页面不存在</h1>" in html
    assert 'href="/zh-hans/"' in html


@pytest.mark.parametrize("url", PAGES.values(), ids=PAGES.keys())
def test_the_english_pages_keep_their_addresses_and_language(reader, seeded, url):
    response = reader.get(url)
    assert response.status_code in (200, 404)
    html = response.content.decode()
    assert '<html lang="en">' in html
    assert "Registry of Government Organizations" in html
    assert "政府机构名录" not in html


def test_links_on_a_chinese_page_stay_in_chinese(reader, seeded):
    html = reader.get(f"/zh-hans{OFFICE}").content.decode()
    assert f'href="/zh-hans{RESEARCH_OFFICE}"' in html
    assert 'action="/zh-hans/search/"' in html
    assert f'href="{RESEARCH_OFFICE}"' not in html


def test_dates_are_written_in_chinese_style(reader, seeded):
    html = reader.get(f"/zh-hans{OFFICE}").content.decode()
    assert '<time datetime="1980-12-30">1980年12月30日</time>' in html
    english = reader.get(OFFICE).content.decode()
    assert '<time datetime="1980-12-30">30 December 1980</time>' in english


@pytest.mark.parametrize(
    ("text", "english", "chinese"),
    [
        ("1980-12-30", "30 December 1980", "1980年12月30日"),
        ("1949-10", "October 1949", "1949年10月"),
        ("1954", "1954", "1954年"),
    ],
)
def test_a_partial_date_is_shown_at_its_precision_in_either_language(text, english, chinese):
    date = PartialDate.parse(text)
    assert date.display() == english
    with translation.override("zh-hans"):
        assert date.display() == chinese
        assert On.parse(text).phrase() == chinese


def test_ranks_and_kinds_are_named_in_chinese(reader, seeded):
    html = reader.get(f"/zh-hans{RESEARCH_OFFICE}").content.decode()
    infobox = html[html.index('class="infobox"') : html.index("</aside>")]
    assert Rank.objects.get(pk="deputy-ministerial").name_zh == "副部级"
    assert "<dd>副部级</dd>" in infobox
    assert "deputy ministerial-level" not in infobox
    office = reader.get(f"/zh-hans{OFFICE}").content.decode()
    assert "(副局级)" in office  # a department's rank in the departments list
    english = reader.get(RESEARCH_OFFICE).content.decode()
    assert 'deputy ministerial-level <span lang="zh-Hans">(副部级)</span>' in english


def test_a_kind_shows_its_chinese_name_or_else_its_english_one(reader, seeded):
    kind = Organization.objects.get(pk="cppcc-go-research-office").kind
    Kind.objects.filter(pk=kind.pk).update(name_zh="内设机构")
    html = reader.get(f"/zh-hans{RESEARCH_OFFICE}").content.decode()
    assert "<dd>内设机构</dd>" in html
    Kind.objects.filter(pk=kind.pk).update(name_zh="")
    html = reader.get(f"/zh-hans{RESEARCH_OFFICE}").content.decode()
    assert f"<dd>{kind.name}</dd>" in html


def test_the_chart_is_in_chinese_on_the_chinese_page_and_as_a_file(reader, seeded):
    for url in (f"/zh-hans{OFFICE}", f"/zh-hans{OFFICE}chart.svg"):
        svg = reader.get(url).content.decode()
        assert "组织结构图" in svg
        assert 'aria-label="内设机构"' in svg
        assert "Organization chart of" not in svg
        assert "Internal departments" not in svg


def test_the_feed_is_in_chinese_under_zh_hans(reader, seeded):
    atom = reader.get("/zh-hans/changes.atom").content.decode()
    assert "<title>政府机构名录的变更</title>" in atom
    assert "Changes in the Registry" not in atom


def test_the_admin_login_is_in_chinese_under_zh_hans(reader, db):
    html = reader.get("/zh-hans/admin/login/").content.decode()
    assert '<html lang="zh-hans"' in html
    assert "政府机构名录：编辑管理" in html  # noqa: RUF001 (the Chinese colon)
    assert "用户名" in html
    english = reader.get("/admin/login/", headers={"accept-language": "zh-CN"})
    assert english.status_code == 200
    assert "Username" in english.content.decode()


def test_the_admin_pages_of_the_registry_are_in_chinese(editor_client, seeded):
    html = editor_client.get("/zh-hans/admin/registry/changeevent/record/?kind=merge")
    html = html.content.decode()
    assert "记录变更" in html
    assert "参与合并的机构" in html
    assert "Record the change" not in html


# --- Downloads stay the same in every language --------------------------------------------


def _bytes(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


@pytest.mark.parametrize(
    "url",
    [
        "/organizations.csv",
        "/posts.csv?root=cppcc-general-office",
        "/placements.csv",
        "/events.csv",
        "/changes.csv?from=1949&to=2020",
    ],
)
def test_a_csv_download_is_the_same_bytes_in_both_languages(reader, seeded, url):
    english = reader.get(url)
    chinese = reader.get(f"/zh-hans{url}")
    asked = reader.get(url, headers={"accept-language": "zh-CN"})
    assert english.status_code == chinese.status_code == asked.status_code == 200
    content = _bytes(english)
    assert content.split(b"\r\n")[0].isascii()  # the columns, in English in any language
    assert _bytes(chinese) == content
    assert _bytes(asked) == content


# --- The reader's preference: cookie, then Accept-Language ------------------------------


@pytest.mark.parametrize("language", ["zh", "zh-CN", "zh-Hans", "zh-SG", "zh-TW", "zh-HK"])
def test_a_browser_that_prefers_chinese_is_sent_to_the_chinese_page(reader, seeded, language):
    response = reader.get("/search/?q=研究", headers={"accept-language": f"{language},en;q=0.5"})
    assert response.status_code == 302
    assert response["Location"] == "/zh-hans/search/?q=%E7%A0%94%E7%A9%B6"
    assert has_vary_header(response, "Accept-Language")
    assert has_vary_header(response, "Cookie")


@pytest.mark.parametrize("language", ["", "en-US,en;q=0.9,zh;q=0.8", "fr-FR", "*"])
def test_a_browser_that_does_not_prefer_chinese_stays_in_english(reader, seeded, language):
    response = reader.get(OFFICE, headers={"accept-language": language})
    assert response.status_code == 200
    assert '<html lang="en">' in response.content.decode()
    assert has_vary_header(response, "Accept-Language")
    assert has_vary_header(response, "Cookie")


def test_the_cookie_sends_a_reader_to_the_chinese_page(reader, seeded):
    reader.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    response = reader.get(f"{OFFICE}?on=1990")
    assert response.status_code == 302
    assert response["Location"] == f"/zh-hans{OFFICE}?on=1990"


def test_a_cookie_saying_english_wins_over_the_browser(reader, seeded):
    reader.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    response = reader.get("/", headers={"accept-language": "zh-CN,zh;q=0.9"})
    assert response.status_code == 200
    assert '<html lang="en">' in response.content.decode()


def test_an_address_in_chinese_stays_chinese_whatever_the_cookie(reader, seeded):
    reader.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    response = reader.get(f"/zh-hans{OFFICE}", headers={"accept-language": "en"})
    assert response.status_code == 200
    assert '<html lang="zh-Hans">' in response.content.decode()


@pytest.mark.parametrize(
    "url", ["/organizations.csv", f"{OFFICE}chart.svg", "/changes.atom", "/admin/login/"]
)
def test_downloads_and_the_admin_never_redirect(reader, seeded, url):
    reader.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    response = reader.get(url, headers={"accept-language": "zh-CN"})
    assert response.status_code == 200


# --- The switch and the alternates ------------------------------------------------------


def _switch(html: str) -> str:
    match = re.search(r'<div class="language-switch"><a href="([^"]+)"', html)
    assert match, "no language switch on the page"
    return match.group(1).replace("&amp;", "&")


@pytest.mark.parametrize("url", PAGES.values(), ids=PAGES.keys())
def test_the_switch_keeps_the_page_and_records_the_choice(reader, seeded, url):
    html = reader.get(url).content.decode()
    to_chinese = reader.get(_switch(html))
    assert to_chinese.status_code == 302
    assert to_chinese["Location"] == f"/zh-hans{url}"
    assert to_chinese.cookies[settings.LANGUAGE_COOKIE_NAME].value == "zh-hans"
    chinese = reader.get(to_chinese["Location"])
    to_english = reader.get(_switch(chinese.content.decode()))
    assert to_english["Location"] == url
    assert to_english.cookies[settings.LANGUAGE_COOKIE_NAME].value == settings.LANGUAGE_CODE
    # The cookie now says English, so the English page is not sent back to Chinese.
    assert reader.get(url).status_code in (200, 404)


@pytest.mark.parametrize(
    "target", ["https://elsewhere.example/", "//elsewhere.example/", "javascript:alert(1)"]
)
def test_the_switch_goes_only_to_this_site(reader, db, target):
    response = reader.get("/language/zh-hans/", {"next": target})
    assert response.status_code == 302
    assert response["Location"] == "/zh-hans/"
    response = reader.get("/language/en/", {"next": target})
    assert response["Location"] == "/"


def test_every_page_names_both_languages_as_alternates(reader, seeded):
    for url in (f"{OFFICE}?on=1990", f"/zh-hans{OFFICE}?on=1990"):
        html = reader.get(url).content.decode()
        head = html[: html.index("</head>")]
        english = f"http://testserver{OFFICE}?on=1990"
        assert f'<link rel="alternate" hreflang="en" href="{english}">' in head
        assert (
            f'<link rel="alternate" hreflang="zh-Hans" href="http://testserver/zh-hans{OFFICE}'
            '?on=1990">'
        ) in head
        assert f'<link rel="alternate" hreflang="x-default" href="{english}">' in head


# --- The catalog ------------------------------------------------------------------------


def _catalog(po: Path) -> dict[tuple[str, str], tuple[list[str], bool]]:
    """A .po file's entries: (context, msgid) -> (its msgstr forms, whether fuzzy)."""
    entries = {}
    for block in po.read_text(encoding="utf-8").split("\n\n"):
        fields: dict[str, str] = {}
        key = None
        fuzzy = False
        for line in block.splitlines():
            if line.startswith("#,") and "fuzzy" in line:
                fuzzy = True
            if line.startswith("#"):
                continue
            name, _, value = line.partition(" ")
            if line.startswith('"'):
                fields[key] += ast.literal_eval(line)
            else:
                key = name
                fields[key] = ast.literal_eval(value)
        if fields.get("msgid"):
            forms = [value for name, value in fields.items() if name.startswith("msgstr")]
            entries[(fields.get("msgctxt", ""), fields["msgid"])] = (forms, fuzzy)
    return entries


def test_every_string_of_the_catalog_is_translated():
    entries = _catalog(CATALOG / "django.po")
    assert len(entries) > 250
    untranslated = [msgid for msgid, (forms, fuzzy) in entries.items() if fuzzy or "" in forms]
    assert not untranslated


def test_the_compiled_catalog_is_the_po_file():
    """The .mo is kept in the repository (a server without gettext still serves Chinese): it
    must hold exactly what the .po says."""
    with open(CATALOG / "django.mo", "rb") as compiled:
        mo = gettext.GNUTranslations(compiled)
    for (context, msgid), (forms, _fuzzy) in _catalog(CATALOG / "django.po").items():
        key = f"{context}\x04{msgid}" if context else msgid
        if key in mo._catalog:
            assert mo._catalog[key] == forms[0], msgid
        else:
            assert mo._catalog[(key, 0)] == forms[0], msgid


@pytest.mark.skipif(not shutil.which("xgettext"), reason="gettext is not installed")
def test_every_string_in_the_code_and_templates_is_in_the_catalog(tmp_path, monkeypatch):
    """makemessages, run on a copy of the code, finds nothing the catalog lacks (a new
    {% translate %} without a Chinese translation fails here) and nothing it no longer uses."""
    skip = shutil.ignore_patterns("__pycache__", "migrations", "static")
    for package in ("registry", "config"):
        shutil.copytree(ROOT / package, tmp_path / package, ignore=skip)
    (tmp_path / "locale").mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(settings, "LOCALE_PATHS", [tmp_path / "locale"])
    call_command("makemessages", locale=["zh_Hans"], no_obsolete=True, verbosity=0)
    found = set(_catalog(tmp_path / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"))
    ours = set(_catalog(CATALOG / "django.po"))
    assert not found - ours, "strings with no translation: run makemessages and translate"
    assert not ours - found, "translations no longer used: run makemessages --no-obsolete"
