"""Security: headers on every page, a deployable production configuration, throttled admin
logins, CSRF on every admin write, and pages that work under the Content-Security-Policy."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from html.parser import HTMLParser

import pytest
from django.conf import settings
from django.http import HttpRequest
from django.test import Client, RequestFactory, override_settings

from config.security import client_ip_behind_proxy

LOGIN = "/admin/login/"
PASSWORD = "a-long-test-password"  # the editor fixture's
ORGANIZATION = "/admin/registry/organization/"
PAGES = ["/", "/organizations/cppcc-general-office/", "/people/liu-qi/", LOGIN]
ADMIN_PAGES = [
    "/admin/",
    ORGANIZATION,
    f"{ORGANIZATION}add/",
    f"{ORGANIZATION}cppcc-general-office/change/",
    f"{ORGANIZATION}cppcc-general-office/history/",
    f"{ORGANIZATION}recover/",
    f"{ORGANIZATION}import/",
    f"{ORGANIZATION}export/",
    "/admin/registry/post/",
]


def _policy(response) -> dict[str, list[str]]:
    directives = (d.split() for d in response["Content-Security-Policy"].split(";") if d.strip())
    return {name: sources for name, *sources in directives}


@pytest.mark.parametrize("url", PAGES)
def test_pages_send_the_content_security_policy(client, seeded, url):
    policy = _policy(client.get(url))
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["img-src"] == ["'self'", "data:"]
    assert policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'self'"]
    assert policy["form-action"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]


@pytest.mark.parametrize("url", PAGES)
def test_pages_send_the_other_security_headers(client, seeded, url):
    response = client.get(url)
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"


class _InlineCode(HTMLParser):
    """What a policy without 'unsafe-inline' scripts and <style> elements would block."""

    def __init__(self):
        super().__init__()
        self.found: list[str] = []
        self.in_inline_script = False

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "script" and "src" not in attributes:
            # Data blocks (json_script's, the pages' JSON-LD) are never executed, so the policy
            # has nothing to allow (HTML: a script whose type is no JavaScript type).
            data_block = attributes.get("type") in ("application/json", "application/ld+json")
            self.in_inline_script = not data_block
        if tag == "style":
            self.found.append("<style> element")
        for name, value in attrs:
            if name.startswith("on"):
                self.found.append(f"<{tag} {name}>")
            if name in {"href", "src", "action"} and (value or "").startswith("javascript:"):
                self.found.append(f"<{tag} {name}={value}>")

    def handle_endtag(self, tag):
        if tag == "script":
            self.in_inline_script = False

    def handle_data(self, data):
        if self.in_inline_script and data.strip():
            self.found.append(f"<script>{data.strip()[:60]}")


@pytest.mark.parametrize("url", PAGES + ADMIN_PAGES)
def test_pages_need_no_inline_script_or_style_element(client, editor, seeded, url):
    if url in ADMIN_PAGES:
        client.force_login(editor)
    response = client.get(url)
    assert response.status_code == 200
    parser = _InlineCode()
    parser.feed(response.content.decode())
    assert parser.found == []


def _environment_without_production_settings() -> dict[str, str]:
    return {
        key: value
        for key, value in os.environ.items()
        if key
        not in {
            "DATABASE_URL",
            "SECRET_KEY",
            "ALLOWED_HOSTS",
            "CACHE_URL",
            "CSRF_TRUSTED_ORIGINS",
            "SECURE_SSL_REDIRECT",
            "SECURE_HSTS_SECONDS",
            "SECURE_HSTS_INCLUDE_SUBDOMAINS",
            "SECURE_HSTS_PRELOAD",
            "PROXY_COUNT",
        }
    }


def test_production_settings_pass_the_deployment_checks(tmp_path):
    environment = _environment_without_production_settings() | {
        "DJANGO_SETTINGS_MODULE": "config.settings.prod",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "registry.example.org",
        "DATABASE_URL": f"sqlite:///{tmp_path}/deploy.sqlite3",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=settings.BASE_DIR,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def _log_in(client: Client, username: str, password: str, address: str = "127.0.0.1"):
    return client.post(
        LOGIN, {"username": username, "password": password, "next": "/admin/"}, REMOTE_ADDR=address
    )


def _fail(client: Client, username: str, times: int) -> None:
    for _ in range(times):
        assert _log_in(client, username, "not-the-password").status_code != 302


def test_a_correct_login_before_the_limit_works(client, editor):
    _fail(client, editor.username, settings.AXES_FAILURE_LIMIT - 1)
    response = _log_in(client, editor.username, PASSWORD)
    assert response.status_code == 302
    assert response["Location"] == "/admin/"
    assert client.session["_auth_user_id"] == str(editor.pk)


def test_after_the_failure_limit_even_the_right_password_is_refused(client, editor):
    _fail(client, editor.username, settings.AXES_FAILURE_LIMIT - 1)
    assert _log_in(client, editor.username, "not-the-password").status_code == 429
    response = _log_in(client, editor.username, PASSWORD)
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


def test_a_lockout_holds_the_username_from_that_address_only(client, editor):
    _fail(client, editor.username, settings.AXES_FAILURE_LIMIT)
    assert _log_in(client, editor.username, PASSWORD, address="192.0.2.7").status_code == 302


def test_a_successful_login_starts_the_count_again(client, editor):
    _fail(client, editor.username, settings.AXES_FAILURE_LIMIT - 1)
    assert _log_in(client, editor.username, PASSWORD).status_code == 302
    client.logout()
    _fail(client, editor.username, settings.AXES_FAILURE_LIMIT - 1)
    assert _log_in(client, editor.username, PASSWORD).status_code == 302


def test_the_test_clients_login_works_when_given_a_request(client, editor):
    assert client.login(request=HttpRequest(), username=editor.username, password=PASSWORD)


def test_behind_the_proxy_lockouts_follow_the_address_the_proxy_saw():
    request = RequestFactory().get(
        "/", HTTP_X_FORWARDED_FOR="10.9.9.9, 203.0.113.5", REMOTE_ADDR="10.0.0.1"
    )
    with override_settings(PROXY_COUNT=1):
        assert client_ip_behind_proxy(request) == "203.0.113.5"


def test_a_request_that_bypassed_the_proxy_is_known_by_its_own_address():
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.1")
    with override_settings(PROXY_COUNT=1):
        assert client_ip_behind_proxy(request) == "10.0.0.1"


CHANGE = f"{ORGANIZATION}cppcc-general-office/change/"
ADMIN_WRITES = [
    (CHANGE, {"name": "Renamed"}),
    (f"{ORGANIZATION}add/", {"id": "new-body", "name": "New body"}),
    (f"{ORGANIZATION}cppcc-general-office/delete/", {"post": "yes"}),
    (ORGANIZATION, {"action": "delete_selected", "_selected_action": ["cppcc-general-office"]}),
    (
        ORGANIZATION,
        {
            "cmd": "move_node",
            "cut_item": "cppcc-go-research-office",
            "pasted_on": "cppcc-general-office",
            "position": "last-child",
        },
    ),
    (f"{ORGANIZATION}import/", {"format": "0"}),
    ("/admin/registry/post/add/", {"title": "Director"}),
    ("/admin/password_change/", {"old_password": PASSWORD}),
    ("/admin/logout/", {}),
]


@pytest.mark.parametrize(("url", "data"), ADMIN_WRITES)
def test_admin_writes_without_a_csrf_token_are_refused(seeded, editor, url, data):
    client = Client(enforce_csrf_checks=True)
    client.force_login(editor)
    assert client.post(url, data).status_code == 403


@pytest.mark.parametrize(
    "url",
    [
        "/admin/registry/organization/?kind__code__exact=%00",
        "/admin/registry/organization/?q=a%00b",
        "/admin/registry/person/?%00=1",
        "/admin/autocomplete/?term=%00&app_label=registry&model_name=organization"
        "&field_name=parent",
    ],
)
def test_an_admin_address_holding_nul_is_a_bad_request_not_a_server_error(
    editor_client, seeded, url
):
    response = editor_client.get(url)
    assert response.status_code == 400
    assert "NUL" in response.content.decode()
