"""The registry in English and Simplified Chinese.

A page's language is its address: English at the registry's permanent unprefixed URLs
(`/organizations/cppcc-general-office/`), Chinese under `/zh-hans/` (`i18n_patterns` in
config/urls.py, Django's LocaleMiddleware). Each address always answers in its one language, so
its ETag, the server's render cache and a CDN can keep it like any other page.

Only the unprefixed public pages look at the reader: one whose language cookie says Chinese, or
who has no cookie and whose browser prefers Chinese (`Accept-Language`: zh, zh-CN, zh-Hans,
zh-TW...), is sent to the same page under `/zh-hans/`. Those pages vary by both headers. A cookie
saying English keeps English whatever the browser prefers. Downloads (CSV, Atom, the chart's
SVG) never move: their address names a file, and the CSV files are the same in every language.

The switch on every page is a plain link to `/language/<code>/?next=<the page in that
language>`, which records the choice in the cookie and goes there: it needs no JavaScript and
keeps the page and its query.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase, HttpResponseRedirect
from django.urls import get_script_prefix, reverse
from django.utils import translation
from django.utils.cache import patch_cache_control, patch_vary_headers
from django.utils.encoding import escape_uri_path
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views.decorators.http import require_safe

CHINESE = "zh-hans"
# Each language's tag in HTML `lang` and `hreflang` (BCP 47), and its name in itself.
TAGS = {"en-gb": "en", CHINESE: "zh-Hans"}
OWN_NAMES = {"en-gb": "English", CHINESE: "中文"}
SWITCH_TITLES = {"en-gb": "Read this page in English", CHINESE: "阅读本页的中文版"}


def _in_chinese(request: HttpRequest) -> bool:
    return request.path_info.startswith(f"/{CHINESE}/")


def _path_in(request: HttpRequest, language: str) -> str:
    """The address of `request`'s page (path and query) in `language`."""
    path = request.path_info.lstrip("/")
    if _in_chinese(request):
        path = path[len(CHINESE) + 1 :]
    prefix = "" if language == settings.LANGUAGE_CODE else f"{language}/"
    # The query as the page read it: re-encoded, so a query sent with raw UTF-8 comes back
    # as the same text, not as its bytes encoded again. An empty parameter means what leaving
    # it out does (`?on=` is today), so the same page always names the same alternates.
    query = urlencode(
        [(name, value) for name, values in request.GET.lists() for value in values if value]
    )
    return escape_uri_path(f"{get_script_prefix()}{prefix}{path}") + (f"?{query}" if query else "")


def languages(request: HttpRequest) -> dict:
    """Template context: whether the page is in Chinese, its `hreflang` alternates (absolute
    addresses) and the switch to the other language."""
    current = translation.get_language() or settings.LANGUAGE_CODE
    current = CHINESE if current.startswith("zh") else settings.LANGUAGE_CODE
    alternates = [
        {"hreflang": TAGS[code], "href": request.build_absolute_uri(_path_in(request, code))}
        for code, _ in settings.LANGUAGES
    ]
    alternates.append(
        {
            "hreflang": "x-default",
            "href": request.build_absolute_uri(_path_in(request, settings.LANGUAGE_CODE)),
        }
    )
    other = next(code for code, _ in settings.LANGUAGES if code != current)
    switch = reverse("switch-language", kwargs={"code": TAGS[other].lower()})
    return {
        "chinese": current == CHINESE,
        "alternates": alternates,
        "other_language": {
            "name": OWN_NAMES[other],
            "tag": TAGS[other],
            # Said in the language it offers, as its name is.
            "title": SWITCH_TITLES[other],
            "href": f"{switch}?{urlencode({'next': _path_in(request, other)})}",
        },
    }


@require_safe
def switch_language(request: HttpRequest, code: str) -> HttpResponseRedirect:
    """Record `code` (en or zh-hans) in the language cookie and go to `?next=`, the same page
    in that language (only an address on this site; otherwise that language's home page)."""
    try:
        language = translation.get_supported_language_variant(code)
    except LookupError:
        language = settings.LANGUAGE_CODE
    target = request.GET.get("next", "")
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        with translation.override(language):
            target = reverse("registry:home")
    response = HttpResponseRedirect(target)
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        language,
        max_age=settings.LANGUAGE_COOKIE_AGE,
        path=settings.LANGUAGE_COOKIE_PATH,
        domain=settings.LANGUAGE_COOKIE_DOMAIN,
        secure=settings.LANGUAGE_COOKIE_SECURE,
        httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
        samesite=settings.LANGUAGE_COOKIE_SAMESITE,
    )
    patch_cache_control(response, private=True, no_store=True)
    return response


class PreferredLanguageMiddleware:
    """Send a reader who prefers Chinese from an unprefixed public page to its Chinese address
    (302), and mark those pages as varying by the headers that decide it (see the module)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        if getattr(request, "language_negotiated", False):
            patch_vary_headers(response, ("Accept-Language", "Cookie"))
        return response

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs):
        match = request.resolver_match
        if (
            request.method not in ("GET", "HEAD")
            or match is None
            or match.namespace != "registry"
            # A page's address ends with a slash; a download's names its file.
            or not request.path_info.endswith("/")
            or _in_chinese(request)
        ):
            return None
        request.language_negotiated = True
        preferred = translation.get_language_from_request(request)
        if preferred == settings.LANGUAGE_CODE:
            return None
        response = HttpResponseRedirect(_path_in(request, preferred))
        patch_cache_control(response, private=True, max_age=0)
        return response
