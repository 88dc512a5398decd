"""HTTP caching: public responses carry the registry's ETag, an unchanged page is answered with a
304 after one query, and every way of changing registry data makes the next request a 200 with
the new content."""

from __future__ import annotations

import datetime
import re
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
import reversion
from django.apps import apps
from django.conf import settings
from django.contrib.sessions.middleware import SessionMiddleware
from django.contrib.staticfiles import finders
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, connection, transaction
from django.http import HttpResponse
from django.test import Client, RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import path
from django.utils import timezone, translation
from django.utils.cache import has_vary_header
from reversion.models import Version

from config import urls as site_urls
from registry import caching
from registry.models import ChangeStamp, Organization
from registry.services import csv_import

from .conftest import admin_drag, admin_form_data, admin_submit
from .csvtools import export_text, parse, write

CHANGELIST = "/admin/registry/organization/"
OFFICE = "/organizations/npcsc-general-office/"
RESEARCH_OFFICE = "/organizations/cppcc-go-research-office/"
PUBLIC_URLS = (
    "/",
    RESEARCH_OFFICE,
    "/organizations/cppcc-general-office/chart.svg",
    "/people/liu-qi/",
    "/search/?q=research",
    "/organizations.csv",
    "/posts.csv?root=npcsc-general-office&excel=1",
    "/api/v1/organizations/cppcc-general-office/",
    "/api/v1/organizations/?q=research&limit=5",
)


@pytest.fixture
def reader() -> Client:
    """An anonymous visitor (the staff clients share the `client` fixture)."""
    return Client()


def _body(response) -> str:
    if response.streaming:
        return b"".join(response.streaming_content).decode()
    return response.content.decode()


def _cache_control(response) -> set[str]:
    return {part.strip() for part in response["Cache-Control"].split(",")}


def _fetch(client: Client, url: str) -> tuple[str, str]:
    """The ETag and content of a full response."""
    response = client.get(url)
    assert response.status_code == 200
    return response["ETag"], _body(response)


def _revalidate(client: Client, url: str, etag: str):
    return client.get(url, headers={"if-none-match": etag})


def _changed(client: Client, url: str, etag: str) -> str:
    """Revalidate `url` and insist on a full response with a new ETag; return its content."""
    response = _revalidate(client, url, etag)
    assert response.status_code == 200
    assert response["ETag"] != etag
    return _body(response)


@pytest.fixture
def midday():
    """Django's clock at noon in the registry's time zone: pages that name the day may be kept
    by a CDN only until midnight, which would shorten `s-maxage` in the minute before it."""
    zone = ZoneInfo(settings.TIME_ZONE)
    noon = datetime.datetime.combine(timezone.localdate(), datetime.time(12), tzinfo=zone)
    with mock.patch("django.utils.timezone.now", return_value=noon.astimezone(datetime.UTC)):
        yield


@pytest.mark.parametrize("url", PUBLIC_URLS)
def test_a_public_response_has_an_etag_and_lets_a_cdn_hold_it(reader, seeded, midday, url):
    response = reader.get(url)
    assert response.status_code == 200
    assert response["ETag"].startswith('W/"')
    assert _cache_control(response) == {"public", "max-age=0", "s-maxage=60"}


@pytest.mark.parametrize("url", PUBLIC_URLS)
def test_an_unchanged_page_is_answered_304_with_one_query(
    reader, seeded, midday, url, django_assert_num_queries
):
    etag, _ = _fetch(reader, url)
    with django_assert_num_queries(1):
        response = _revalidate(reader, url, etag)
    assert response.status_code == 304
    assert response.content == b""
    assert response["ETag"] == etag
    assert _cache_control(response) == {"public", "max-age=0", "s-maxage=60"}


@pytest.mark.parametrize("url", PUBLIC_URLS)
def test_public_pages_set_no_cookie_and_stay_public_even_for_staff(editor_client, seeded, url):
    response = editor_client.get(url)
    assert response.status_code == 200
    assert not response.cookies
    assert "public" in _cache_control(response)


# The API's addresses name no language (its documents carry both): they vary by nothing.
SITE_URLS = [url for url in PUBLIC_URLS if not url.startswith("/api/")]


@pytest.mark.parametrize("url", SITE_URLS)
def test_only_the_english_pages_vary_by_the_language_cookie(reader, seeded, url):
    """An unprefixed page sends a reader whose cookie or browser asks for Chinese to the
    Chinese page, so a CDN must keep it apart by both (config/language.py). Its Chinese
    address, and every download, is the same for everyone."""
    page = not url.split("?")[0].endswith((".csv", ".svg"))
    english = reader.get(url)
    assert has_vary_header(english, "Cookie") is page
    assert has_vary_header(english, "Accept-Language") is True
    chinese = reader.get(f"/zh-hans{url}")
    assert chinese.status_code == 200
    assert not has_vary_header(chinese, "Cookie")
    assert not has_vary_header(chinese, "Accept-Language")


def test_the_api_is_the_same_for_every_reader_and_language(reader, seeded):
    url = "/api/v1/organizations/cppcc-general-office/"
    english = reader.get(url)
    reader.cookies["django_language"] = "zh-hans"
    chinese = reader.get(url, headers={"accept-language": "zh-CN"})
    assert chinese.status_code == 200 and not has_vary_header(chinese, "Cookie")
    assert chinese["ETag"] == english["ETag"] and chinese.content == english.content


PAGES = [url for url in PUBLIC_URLS if ".csv" not in url]


@pytest.mark.parametrize("url", PAGES)
def test_a_repeated_page_comes_from_the_render_cache_after_one_query(
    reader, seeded, url, django_assert_num_queries
):
    first = reader.get(url)
    with django_assert_num_queries(1):
        again = reader.get(url)
    assert again.status_code == 200
    assert again.content == first.content
    assert again["Content-Type"] == first["Content-Type"]
    assert again.get("Content-Disposition") == first.get("Content-Disposition")
    assert again["ETag"] == first["ETag"]
    assert again["Content-Security-Policy"] == first["Content-Security-Policy"]


def test_the_render_cache_can_be_turned_off(reader, seeded, settings):
    settings.PUBLIC_PAGE_RENDER_CACHE_SECONDS = 0
    reader.get(RESEARCH_OFFICE)
    with CaptureQueriesContext(connection) as queries:
        assert reader.get(RESEARCH_OFFICE).status_code == 200
    assert len(queries) > 1


@pytest.mark.parametrize("url", ["/organizations.csv", "/posts.csv"])
def test_csv_downloads_are_streamed_not_kept(reader, seeded, url):
    _body(reader.get(url))
    with CaptureQueriesContext(connection) as queries:
        _body(reader.get(url))
    assert len(queries) > 1


def test_each_address_is_kept_apart(reader, seeded):
    research = _body(reader.get("/search/?q=research"))
    liaison = _body(reader.get("/search/?q=liaison"))
    assert research != liaison
    assert "Liaison Bureau" in liaison and "Liaison Bureau" not in research
    assert _body(reader.get("/search/?q=research")) == research


def test_the_cdn_lifetime_is_a_setting(reader, seeded, settings):
    settings.PUBLIC_PAGE_CACHE_SECONDS = 300
    assert "s-maxage=300" in _cache_control(reader.get("/"))


def test_a_response_that_depends_on_the_visitor_is_never_public(rf, db):
    def view(request):
        request.session["seen"] = True
        return HttpResponse("hello")

    request = rf.get("/")
    SessionMiddleware(lambda request: HttpResponse()).process_request(request)
    response = caching.public_page(view)(request)
    assert "private" in _cache_control(response)
    assert "public" not in _cache_control(response)


def test_the_admin_is_not_cached(editor_client, seeded):
    response = editor_client.get(CHANGELIST)
    assert response.status_code == 200
    assert not response.has_header("ETag")
    assert "public" not in response.get("Cache-Control", "")


# --- Every way of writing invalidates at once -----------------------------------------------


def test_an_admin_edit_is_seen_at_once(reader, editor_client, seeded):
    etag, _ = _fetch(reader, RESEARCH_OFFICE)
    response = admin_submit(
        editor_client, f"{CHANGELIST}cppcc-go-research-office/change/", name="Policy Office"
    )
    assert response.status_code == 302
    assert "<h1>Policy Office</h1>" in _changed(reader, RESEARCH_OFFICE, etag)


def test_an_admin_inline_edit_is_seen_at_once(reader, editor_client, seeded):
    etag, _ = _fetch(reader, RESEARCH_OFFICE)
    url = f"{CHANGELIST}cppcc-go-research-office/change/"
    data = admin_form_data(editor_client.get(url))
    data |= {
        "other_names-TOTAL_FORMS": "1",
        "other_names-0-name": "政协办公厅研究室",
        "other_names-0-name_type": "translation",
        "other_names-0-language": "zh-Hans",
        "other_names-0-position": "9",
    }
    assert editor_client.post(url, data).status_code == 302
    assert "政协办公厅研究室" in _changed(reader, RESEARCH_OFFICE, etag)


def test_a_drag_and_drop_move_is_seen_at_once(reader, editor_client, seeded):
    etag, html = _fetch(reader, OFFICE)
    assert html.index(">Secretariat<") < html.index("Trade Union of the NPCSC")
    assert admin_drag(editor_client, "npcsc-go-trade-union", "npcsc-go-secretariat", "left") == (
        b"OK, moved."
    )
    html = _changed(reader, OFFICE, etag)
    assert html.index("Trade Union of the NPCSC") < html.index(">Secretariat<")


def test_a_csv_import_is_seen_at_once(reader, seeded):
    etag, _ = _fetch(reader, OFFICE)
    rows = parse(export_text())
    for row in rows:
        if row["id"] == "npcsc-go-secretariat":
            row["name"] = "Secretariat Bureau"
            new = row | {"id": "npcsc-go-archive", "name": "Archive", "predecessors": ""}
    rows.append(new)
    report = csv_import("organizations", write(rows), file_name="changes.csv")
    assert report.applied
    assert report.count("new") == 1
    html = _changed(reader, OFFICE, etag)
    assert "Secretariat Bureau" in html
    assert 'href="/organizations/npcsc-go-archive/"' in html


def test_a_history_revert_is_seen_at_once_and_its_preview_changes_nothing(
    reader, editor_client, seeded
):
    pk = "cppcc-go-research-office"
    with reversion.create_revision():
        reversion.add_to_revision(Organization.objects.get(pk=pk))
    original = Version.objects.get_for_object(Organization.objects.get(pk=pk)).first()
    Organization.objects.filter(pk=pk).update(name="Research Department")
    etag, html = _fetch(reader, RESEARCH_OFFICE)
    assert "<h1>Research Department</h1>" in html

    url = f"{CHANGELIST}{pk}/history/{original.pk}/"
    preview = editor_client.get(url)
    assert preview.status_code == 200
    # The preview restores the old version inside a transaction it rolls back.
    assert _revalidate(reader, RESEARCH_OFFICE, etag).status_code == 304

    assert editor_client.post(url, admin_form_data(preview)).status_code == 302
    assert "<h1>Research Office</h1>" in _changed(reader, RESEARCH_OFFICE, etag)


def test_a_recovered_organization_is_seen_at_once(reader, editor_client, seeded):
    with reversion.create_revision():
        Organization.objects.create(
            id="npcsc-go-archive",
            name="Archive",
            kind_id="internal-department",
            parent=Organization.objects.get(pk="npcsc-general-office"),
        )
    editor_client.post(f"{CHANGELIST}npcsc-go-archive/delete/", {"post": "yes"})
    assert not Organization.objects.filter(pk="npcsc-go-archive").exists()
    etag, html = _fetch(reader, OFFICE)
    assert "Archive" not in html

    version = Version.objects.get_deleted(Organization).get(object_id="npcsc-go-archive")
    response = admin_submit(editor_client, f"{CHANGELIST}recover/{version.pk}/")
    assert response.status_code == 302
    assert 'href="/organizations/npcsc-go-archive/"' in _changed(reader, OFFICE, etag)


def test_a_person_edit_is_seen_at_once(reader, editor_client, seeded):
    etag, _ = _fetch(reader, "/people/liu-qi/")
    response = admin_submit(editor_client, "/admin/registry/person/liu-qi/change/", name_zh="刘奇")
    assert response.status_code == 302
    assert "刘奇" in _changed(reader, "/people/liu-qi/", etag)


def test_a_kind_rename_is_seen_at_once_on_organization_pages(reader, editor_client, seeded):
    etag, _ = _fetch(reader, RESEARCH_OFFICE)
    response = admin_submit(
        editor_client, "/admin/registry/kind/internal-department/change/", name="Internal unit"
    )
    assert response.status_code == 302
    assert "<dt>Kind</dt><dd>Internal unit</dd>" in _changed(reader, RESEARCH_OFFICE, etag)


def test_a_raw_sql_update_is_seen_at_once(reader, seeded):
    """No model code runs: only the database trigger can tell."""
    etag, _ = _fetch(reader, RESEARCH_OFFICE)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Organization._meta.db_table} SET location = %s WHERE id = %s",
            ["No. 1 Example Street", "cppcc-go-research-office"],
        )
    assert "No. 1 Example Street" in _changed(reader, RESEARCH_OFFICE, etag)


def test_two_writes_in_one_transaction_with_a_read_between_are_both_seen(reader, seeded):
    """PostgreSQL bumps the stamp once per transaction, unless it was read in between."""
    with transaction.atomic():
        Organization.objects.filter(pk="cppcc-go-research-office").update(type="First")
        etag, _ = _fetch(reader, RESEARCH_OFFICE)
        Organization.objects.filter(pk="cppcc-go-research-office").update(type="Second")
        assert "Second" in _changed(reader, RESEARCH_OFFICE, etag)


class _Abandoned(Exception):
    pass


def test_a_rolled_back_write_leaves_the_etag_unchanged(reader, seeded):
    etag, _ = _fetch(reader, RESEARCH_OFFICE)
    with pytest.raises(_Abandoned), transaction.atomic():
        Organization.objects.filter(pk="cppcc-go-research-office").update(name="Never kept")
        raise _Abandoned
    assert _revalidate(reader, RESEARCH_OFFICE, etag).status_code == 304


def _registry_tables() -> list[str]:
    return sorted(
        model._meta.db_table
        for model in apps.get_app_config("registry").get_models(include_auto_created=True)
        if model is not ChangeStamp
    )


def _triggered_operations(table: str) -> set[str]:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT event_manipulation FROM information_schema.triggers "
                "WHERE event_object_table = %s AND action_statement LIKE %s",
                [table, "%registry_change_stamp_bump%"],
            )
            return {operation for (operation,) in cursor.fetchall()}
        cursor.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = %s", [table]
        )
        return {
            operation
            for (sql,) in cursor.fetchall()
            for operation in ("INSERT", "UPDATE", "DELETE")
            if f"AFTER {operation} ON {table}" in sql and "registry_change_stamp" in sql
        }


@pytest.mark.parametrize("table", _registry_tables())
def test_every_registry_table_bumps_the_stamp_on_every_write(db, table):
    assert _triggered_operations(table) == {"INSERT", "UPDATE", "DELETE"}


def test_pages_work_without_the_stamp_row_and_the_next_write_brings_it_back(reader, seeded):
    ChangeStamp.objects.all().delete()  # as a test flush leaves it
    response = reader.get(RESEARCH_OFFICE)
    assert response.status_code == 200
    assert not response.has_header("ETag")
    Organization.objects.filter(pk="cppcc-go-research-office").update(type="Changed")
    assert reader.get(RESEARCH_OFFICE).has_header("ETag")


# --- A deploy invalidates too ---------------------------------------------------------------


def test_the_code_fingerprint_covers_templates_stylesheet_and_views():
    files = caching._code_files()
    for name in (
        "registry/templates/registry/organization_detail.html",
        "registry/static/registry/site.css",
        "registry/views.py",
        "config/settings/base.py",
    ):
        assert name in files


def test_the_code_fingerprint_covers_the_translations():
    files = caching._code_files()
    for name in ("locale/zh_Hans/LC_MESSAGES/django.po", "locale/zh_Hans/LC_MESSAGES/django.mo"):
        assert name in files


def test_a_deploy_that_changes_a_template_changes_the_etag(reader, seeded, monkeypatch, tmp_path):
    etag, _ = _fetch(reader, "/")
    files = caching._code_files()
    name = "registry/templates/registry/home.html"
    edited = tmp_path / "home.html"
    edited.write_bytes(files[name].read_bytes() + b"<!-- edited -->")
    monkeypatch.setattr(caching, "_code_files", lambda: files | {name: edited})
    caching._deployed_code.cache_clear()
    try:
        assert _revalidate(reader, "/", etag).status_code == 200
    finally:
        monkeypatch.undo()
        caching._deployed_code.cache_clear()


def test_the_code_is_hashed_once_per_process_not_per_request(reader, seeded, monkeypatch):
    etag, _ = _fetch(reader, "/")

    def unexpected():
        raise AssertionError("hashed the code again")

    monkeypatch.setattr(caching, "_code_files", unexpected)
    assert _revalidate(reader, "/", etag).status_code == 304


# --- Everything that shapes the bytes is in the render cache's key ---------------------------

CHART = "/organizations/cppcc-general-office/chart.svg"


def test_a_page_rendered_for_one_host_is_never_served_to_another(reader, seeded):
    first = _body(reader.get(CHART, headers={"host": "localhost"}))
    assert "http://localhost/organizations/cppcc-go-research-office/" in first
    second = _body(reader.get(CHART, headers={"host": "127.0.0.1"}))
    assert "http://127.0.0.1/organizations/cppcc-go-research-office/" in second
    assert "localhost" not in second


def test_a_page_rendered_for_http_is_never_served_over_https(reader, seeded):
    assert "http://testserver/organizations/" in _body(reader.get(CHART))
    secure = _body(reader.get(CHART, secure=True))
    assert "https://testserver/organizations/" in secure
    assert "http://testserver/" not in secure


# --- One language's page is never the other's -----------------------------------------------


@pytest.mark.parametrize("url", [RESEARCH_OFFICE, "/", "/search/?q=research", CHART])
def test_the_english_and_the_chinese_page_have_different_etags(reader, seeded, url):
    english, english_html = _fetch(reader, url)
    chinese, chinese_html = _fetch(reader, f"/zh-hans{url}")
    assert english != chinese
    assert chinese_html != english_html
    assert _revalidate(reader, f"/zh-hans{url}", english).status_code == 200
    assert _revalidate(reader, url, chinese).status_code == 200
    assert _revalidate(reader, url, english).status_code == 304
    assert _revalidate(reader, f"/zh-hans{url}", chinese).status_code == 304


def test_the_render_cache_never_serves_one_language_for_the_other(reader, seeded):
    english = _body(reader.get(RESEARCH_OFFICE))
    chinese = _body(reader.get(f"/zh-hans{RESEARCH_OFFICE}"))
    assert '<html lang="en">' in english
    assert '<html lang="zh-Hans">' in chinese
    for _ in range(2):  # now from the render cache
        assert _body(reader.get(RESEARCH_OFFICE)) == english
        assert _body(reader.get(f"/zh-hans{RESEARCH_OFFICE}")) == chinese


def test_the_render_cache_key_names_the_language(rf, seeded, monkeypatch):
    """Even for one address (a server that answered both languages at one URL would be keyed
    apart): the key holds the language the page is rendered in."""
    rendered = []

    def view(request):
        rendered.append(translation.get_language())
        return HttpResponse(translation.get_language())

    page = caching.public_page(view)
    for language in ("en-gb", "zh-hans", "en-gb", "zh-hans"):
        with translation.override(language):
            response = page(rf.get("/same-address/"))
            assert response.content.decode() == language
    assert rendered == ["en-gb", "zh-hans"]


# --- Methods ---------------------------------------------------------------------------------


@pytest.mark.parametrize("url", PUBLIC_URLS)
def test_options_answers_the_allowed_methods_without_a_body(reader, seeded, url):
    response = reader.options(url)
    assert response.status_code == 200
    assert response["Allow"] == "GET, HEAD, OPTIONS"
    assert _body(response) == ""


@pytest.mark.parametrize("method", ["trace", "post", "put", "patch", "delete"])
@pytest.mark.parametrize("url", PUBLIC_URLS)
def test_other_methods_are_not_allowed(seeded, url, method):
    reader = Client(enforce_csrf_checks=True)
    response = getattr(reader, method)(url)
    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD, OPTIONS"
    assert "General Office" not in _body(response)
    assert "cppcc-general-office" not in _body(response)


def _wsgi(method: str, url: str, **headers: str) -> tuple[str, dict[str, str], bytes]:
    """A request as a WSGI server (gunicorn) hands it to Django, and the bytes Django gives
    back: the test client removes a HEAD response's body itself, a server may not."""
    path, _, query = url.partition("?")
    environ = RequestFactory().generic(method, path, QUERY_STRING=query, **headers).environ
    answer = {}

    def start_response(status, response_headers, exc_info=None):
        answer["status"], answer["headers"] = status, dict(response_headers)

    # As the test client does: the test's transaction must outlive the request.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        body = WSGIHandler()(environ, start_response)
        try:
            content = b"".join(body)
        finally:
            body.close()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
    return answer["status"], answer["headers"], content


@pytest.mark.parametrize("url", PUBLIC_URLS)
def test_head_answers_the_get_headers_without_the_body(seeded, url):
    status, headers, content = _wsgi("HEAD", url)
    assert status == "200 OK"
    assert content == b""
    # The page the HEAD rendered (and the render cache kept) is whole for the next GET.
    status, get_headers, get_content = _wsgi("GET", url)
    assert status == "200 OK"
    assert get_content.startswith((b"<!doctype html>", b"<?xml", b"id,", b"\xef\xbb\xbf", b"{"))
    assert headers["Content-Type"] == get_headers["Content-Type"]
    assert headers["ETag"] == get_headers["ETag"]
    if "Content-Length" in get_headers:
        assert headers["Content-Length"] == get_headers["Content-Length"]


# --- A missing page is a 404, whatever ETag the request carries ------------------------------

MISSING = (
    "/organizations/does-not-exist/",
    "/organizations/does-not-exist/chart.svg",
    "/people/does-not-exist/",
    "/organizations.csv?root=does-not-exist",
    "/posts.csv?root=does-not-exist",
)


@pytest.mark.parametrize("url", MISSING)
def test_a_matching_etag_never_turns_a_missing_page_into_a_304(reader, seeded, url):
    etag, _ = _fetch(reader, RESEARCH_OFFICE)
    response = _revalidate(reader, url, etag)
    assert response.status_code == 404
    assert not response.has_header("ETag")


# --- Designed error pages and the favicon ----------------------------------------------------


def _assert_in_the_site_layout(html: str) -> None:
    assert '<a class="site-name" href="/">Registry of Government Organizations</a>' in html
    assert '<form class="search-form" role="search" action="/search/" method="get">' in html


@pytest.mark.parametrize("url", [*MISSING[:3], "/no-such-page/", "/organizations/"])
def test_a_missing_page_has_the_site_layout_a_search_box_and_a_link_home(reader, seeded, url):
    response = reader.get(url)
    assert response.status_code == 404
    html = _body(response)
    _assert_in_the_site_layout(html)
    assert "<h1>Page not found</h1>" in html
    assert "the registry&#x27;s home page</a>" in html or "registry's home page</a>" in html


def _fails(request):
    raise RuntimeError("a bug")


# The site's own patterns, not include(): i18n_patterns must stay at the top of a URLconf.
urlpatterns = [path("fails/", _fails), *site_urls.urlpatterns]


@pytest.mark.urls(__name__)
def test_a_server_error_has_the_site_layout_and_needs_no_database():
    """No `db` fixture: any query while rendering the page would fail the test."""
    response = Client(raise_request_exception=False).get("/fails/")
    assert response.status_code == 500
    html = _body(response)
    _assert_in_the_site_layout(html)
    assert "<h1>Something went wrong</h1>" in html


def test_the_favicon_is_served_and_every_page_names_it(reader, seeded):
    icon = reader.get("/favicon.ico")
    assert icon.status_code == 200
    assert icon["Content-Type"] == "image/vnd.microsoft.icon"
    assert icon.content.startswith(b"\0\0\1\0")  # an ICO file
    html = _body(reader.get("/"))
    assert '<link rel="icon" href="/favicon.ico" sizes="32x32">' in html
    svg = re.search(r'<link rel="icon" href="([^"]+)" type="image/svg\+xml">', html)
    assert svg and svg[1] == "/static/registry/favicon.svg"
    assert finders.find("registry/favicon.svg")
    assert reader.options("/favicon.ico").status_code == 405
