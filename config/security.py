"""The two pieces of security plumbing Django 5.2 does not ship: a Content-Security-Policy header
and the client's address behind the TLS-terminating proxy (for django-axes' lockouts)."""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.urls import reverse


class ContentSecurityPolicyMiddleware:
    """Send `settings.SECURE_CSP` as the Content-Security-Policy header on every response.

    Our own few lines rather than django-csp: the policy is one fixed header (no nonces, no
    per-view exceptions), and Django 6.0 ships this very middleware with this very setting
    (`django.middleware.csp.ContentSecurityPolicyMiddleware`, `SECURE_CSP` as a dict of
    directive to sources), so upgrading means swapping one line in MIDDLEWARE and deleting this
    class, not migrating a third-party settings format.
    """

    # Django's own debug pages (DEBUG only) are styled and scripted inline; django-csp exempts
    # them the same way.
    DEBUG_PAGES = (HTTPStatus.NOT_FOUND, HTTPStatus.INTERNAL_SERVER_ERROR)

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.header = "; ".join(
            " ".join([directive, *sources]) for directive, sources in settings.SECURE_CSP.items()
        )

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if settings.DEBUG and response.status_code in self.DEBUG_PAGES:
            return response
        # A view that sets its own policy keeps it.
        response.headers.setdefault("Content-Security-Policy", self.header)
        return response


def client_ip_behind_proxy(request: HttpRequest) -> str | None:
    """The client's address as the proxy in front of gunicorn saw it (`AXES_CLIENT_IP_CALLABLE`).

    Behind the proxy REMOTE_ADDR is always the proxy, which would turn axes' username+address
    lockout into a username-only one. The proxy appends the address it saw to X-Forwarded-For,
    so with `settings.PROXY_COUNT` proxies the entry that many places from the right is the
    client's; anything further left was written by the client and is not trusted. A request
    with fewer entries did not come through the proxies: its REMOTE_ADDR is the client.
    """
    count = settings.PROXY_COUNT
    forwarded = [
        address.strip()
        for address in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
        if address.strip()
    ]
    if count and len(forwarded) >= count:
        return forwarded[-count]
    return request.META.get("REMOTE_ADDR")


class AdminNullCharacterMiddleware:
    """Answer 400 to an admin request whose address holds a NUL character.

    The admin passes query values straight into lookups (list filters, search, autocomplete),
    and PostgreSQL refuses NUL in text with an error that surfaced as a 500. No registry value
    can hold NUL, so such an address can only be a mistake or a probe. Public pages handle the
    few parameters they take themselves (search treats NUL as text, `?root=` answers 404).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith(reverse("admin:index")) and (
            "\x00" in request.path
            or any("\x00" in key or "\x00" in value for key, value in _parameters(request))
        ):
            return HttpResponseBadRequest(
                "The address holds a NUL character (%00), which no registry value can hold.",
                content_type="text/plain; charset=utf-8",
            )
        return self.get_response(request)


def _parameters(request: HttpRequest):
    for key, values in request.GET.lists():
        for value in values:
            yield key, value
