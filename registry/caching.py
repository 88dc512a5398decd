"""HTTP caching of the public pages and CSV downloads.

Every public response carries an ETag naming the state of the whole registry (the change stamp
that database triggers move on with every write, see `ChangeStamp`), of the deployed code and
translations, and of the language the page is in.
A request whose If-None-Match still matches gets a 304 after that one read, before the view
runs. Cache-Control lets browsers keep a copy but revalidate it every time (`max-age=0`), and
lets a shared cache (a CDN) serve it for `PUBLIC_PAGE_CACHE_SECONDS` before revalidating.

The server keeps each rendered page too, under a key made of the ETag and the URL, for
`PUBLIC_PAGE_RENDER_CACHE_SECONDS`: while the registry is unchanged, a page costs the one read
of the stamp and a cache lookup, and any change is a new ETag, so a new key, at once.

No Last-Modified: HTTP dates have a resolution of one second, so two changes within the same
second would leave a client that fetched between them with a stale page it could not tell
apart; the ETag has no such gap.

A page about one record (an organization, a person, a subtree's CSV) reads whether that record
exists in the same query as the stamp: a missing one gets no ETag, so a stale If-None-Match
can never turn its 404 into a 304. Public pages answer GET, HEAD (headers only) and OPTIONS;
any other method gets 405.

A page that names the day it is served (a citation's retrieval date, registry/cite.py) is
`daily`: the day (in TIME_ZONE) is part of its ETag, so of the render cache's key, and a CDN
may keep it no later than midnight; so no cache ever serves it on another day than it names.
"""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Callable
from functools import cache, wraps
from pathlib import Path
from typing import NamedTuple

import django
from django.conf import settings
from django.core.cache import cache as page_cache
from django.core.exceptions import EmptyResultSet
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseNotAllowed
from django.template.response import SimpleTemplateResponse
from django.utils import timezone, translation
from django.utils.cache import has_vary_header, patch_cache_control
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import condition

from .database import change_stamp_read

# The methods a public page answers.
ALLOWED_METHODS = ("GET", "HEAD", "OPTIONS")

# What a public page is about, if it is about one record: a query for that record, from the
# request and the URL's arguments (None: the page is about no record, as this request asks).
Subject = Callable[..., QuerySet | None]

_APP = Path(__file__).resolve().parent


def _code_files() -> dict[str, Path]:
    """Everything deployed that shapes a public page's bytes, by its name in the source tree
    (not its path on disk, which differs between installations). The production app and the
    project package only: the development tools (devtools/, never installed in production) are
    left out, so editing the synthetic registry or a benchmark changes no public ETag."""
    config = Path(settings.BASE_DIR) / "config"
    patterns = (
        (_APP, ("*.py", "templates/**/*", "static/**/*")),  # pages name the CSS by its hash
        (config, ("**/*.py",)),
        # The translation catalogs: a corrected Chinese word is a new page.
        *((Path(folder), ("**/*.po", "**/*.mo")) for folder in settings.LOCALE_PATHS),
    )
    return {
        path.relative_to(root.parent).as_posix(): path
        for root, globs in patterns
        for pattern in globs
        for path in root.glob(pattern)
        if path.is_file()
    }


def _hash_code() -> str:
    digest = hashlib.sha256(django.get_version().encode())
    for name, path in sorted(_code_files().items()):
        digest.update(b"\0" + name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


@cache
def _deployed_code() -> str:
    return _hash_code()


def code_fingerprint() -> str:
    """A digest of the code and templates: a deploy that changes how pages look must not be
    answered with a 304 for a page rendered by the old code.

    Computed once per process from file contents (not times), so every worker of one deploy
    agrees. In development (DEBUG) every time, as templates are edited under a running server.
    """
    return _hash_code() if settings.DEBUG else _deployed_code()


class Stamp(NamedTuple):
    """The registry's version (the change stamp's count of writes) and when it last changed."""

    version: int
    changed: datetime.datetime

    @classmethod
    def read(cls, version: int, changed: datetime.datetime | str) -> Stamp:
        # A raw read gives SQLite's text (UTC, as its triggers and Django write it).
        if isinstance(changed, str):
            changed = datetime.datetime.fromisoformat(changed)
        if timezone.is_naive(changed):
            changed = timezone.make_aware(changed, datetime.UTC)
        return cls(version, changed)


def registry_stamp(request: HttpRequest) -> Stamp | None:
    """The registry's version as this request saw it: the one `registry_etag` read for a
    public page (no further query), or read now. None while the stamp row is missing."""
    if not hasattr(request, "registry_stamp"):
        version, changed, *_ = change_stamp_read()
        request.registry_stamp = None if version is None else Stamp.read(version, changed)
    return request.registry_stamp


def served_at(request: HttpRequest) -> datetime.datetime:
    """When `request` is answered, in the registry's time zone, taken once: the day a page
    names, its ETag and how long a CDN may keep it all come from this one moment, so they
    agree even for a request that runs across midnight."""
    if not hasattr(request, "registry_served_at"):
        request.registry_served_at = timezone.localtime()
    return request.registry_served_at


def _seconds_left_of_day(moment: datetime.datetime) -> int:
    midnight = datetime.datetime.combine(
        moment.date() + datetime.timedelta(days=1), datetime.time.min, tzinfo=moment.tzinfo
    )
    # In UTC: a difference of two times of one zone ignores a change of its offset between them.
    return int(
        (midnight.astimezone(datetime.UTC) - moment.astimezone(datetime.UTC)).total_seconds()
    )


def registry_etag(
    request: HttpRequest, subject: QuerySet | None = None, *, day: datetime.date | None = None
) -> str | None:
    """The ETag of every public response: one single-row read (kept on the request as its
    `registry_stamp`).

    None (no validator, the page is rendered in full) if the stamp row is missing, as it is
    after a test flush until the next write recreates it, or if `subject`, the record the page
    is about, is not there (the page is a 404, which no If-None-Match may turn into a 304).
    `day`: the day the page names, for a page that names one (`public_page`'s `daily`).
    """
    exists, params = "", ()
    if subject is not None:
        try:
            sql, params = subject.order_by().values("pk").query.sql_with_params()
        except EmptyResultSet:  # no row can match, e.g. an id beyond the column's range
            return None
        exists = f", EXISTS ({sql})"
    version, changed, *rest = change_stamp_read(exists=exists, params=params)
    request.registry_stamp = None if version is None else Stamp.read(version, changed)
    if version is None or (subject is not None and not rest[0]):
        return None
    # The time tells a recreated stamp (counting from 1 again) from the earlier one. The
    # language is in it too: the English and the Chinese page of one record are different
    # pages, and an If-None-Match of the one must never be answered 304 for the other.
    language = translation.get_language()
    token = hashlib.sha256(
        f"{version}|{changed}|{language}|{code_fingerprint()}|{day or ''}".encode()
    ).hexdigest()
    # Weak: the same state always gives equivalent pages, not necessarily the same bytes (rows
    # with equal sort keys may come back in another order).
    return f'W/"{version}-{token[:20]}"'


def _personal(request: HttpRequest, response: HttpResponseBase) -> bool:
    """Whether the response depends on who asked, so a shared cache must not keep it: it sets
    a cookie, varies by Cookie, or the session or CSRF token was used (the middleware adds the
    cookie and Vary after the view)."""
    session = getattr(request, "session", None)
    return bool(
        response.cookies
        or has_vary_header(response, "Cookie")
        or (session is not None and session.accessed)
        or request.META.get("CSRF_COOKIE_NEEDS_UPDATE")
    )


def _etag_once(subject: Subject | None, daily: bool) -> Callable[..., str | None]:
    """`registry_etag` for a page about `subject` (naming the day it is served if `daily`),
    read once per request: the conditional check and the render cache both need it."""

    def etag(request: HttpRequest, *args, **kwargs) -> str | None:
        if not hasattr(request, "registry_etag"):
            record = subject(request, *args, **kwargs) if subject else None
            day = served_at(request).date() if daily else None
            request.registry_etag = registry_etag(request, record, day=day)
        return request.registry_etag

    return etag


def _rendered(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """Serve `view`'s page from the server's cache while the registry is unchanged.

    The key holds the ETag, so any change to registry data (or a deploy) is a new key at once:
    nothing is ever invalidated or served stale, old entries just expire. Besides the ETag, the
    key holds everything else of the request that shapes the bytes: the scheme and host (the
    chart's links are absolute; one server may answer for several names) and the path with its
    query, and the language the page is rendered in (the address names it too: /zh-hans/; a
    reader's cookie or Accept-Language only ever redirects, config/language.py). Nothing varies
    by any other header. Only whole pages are kept (GET, or HEAD, which is answered as GET
    without the body), with the view's own headers (content type, attachment name); the
    middleware adds the rest on every response. Streamed downloads (the CSV files) are never kept.
    """

    @wraps(view)
    def cached(request: HttpRequest, *args, **kwargs) -> HttpResponseBase:
        etag = getattr(request, "registry_etag", None)
        seconds = settings.PUBLIC_PAGE_RENDER_CACHE_SECONDS
        if etag is None or not seconds or request.method not in ("GET", "HEAD"):
            return view(request, *args, **kwargs)
        address = f"{request.scheme}://{request.get_host()}{request.get_full_path()}"
        language = translation.get_language()
        digest = hashlib.sha256(f"{etag}|{language}|{address}".encode()).hexdigest()
        key = f"registry:page:{digest}"
        kept = page_cache.get(key)
        if kept is not None:
            content, headers = kept
            response = HttpResponse(content)
            for name, value in headers:
                response[name] = value
            return response
        response = view(request, *args, **kwargs)
        if isinstance(response, SimpleTemplateResponse):
            response.render()
        if (
            response.status_code == 200
            and not response.streaming
            and not _personal(request, response)
        ):
            page_cache.set(key, (response.content, list(response.headers.items())), seconds)
        return response

    return cached


def _without_body(response: HttpResponseBase) -> HttpResponseBase:
    """A HEAD answer: the GET's headers, no body. Django leaves dropping the body to the
    server, and gunicorn drops it only after iterating it: a HEAD of /organizations.csv would
    generate the whole export for nothing. Here a streamed download is never generated."""
    if response.streaming:
        response.streaming_content = []
    else:
        if isinstance(response, SimpleTemplateResponse):
            response.render()
        response["Content-Length"] = str(len(response.content))
        response.content = b""
    return response


def public_page(
    view: Callable[..., HttpResponseBase], *, subject: Subject | None = None, daily: bool = False
) -> Callable[..., HttpResponseBase]:
    """Serve `view` with the registry's ETag (304 when it still matches, before the view runs),
    from the server's render cache while the registry is unchanged, and with a Cache-Control
    that lets a CDN hold it for `PUBLIC_PAGE_CACHE_SECONDS`.

    `subject` gives the record the page is about, if any: while it is missing the page has no
    ETag, so its 404 is never answered with a 304. `daily`: the page names the day it is
    served (`served_at`); its ETag changes at midnight and a CDN keeps it until then at most.
    """
    conditional = condition(etag_func=_etag_once(subject, daily))(_rendered(view))
    return public_resource(conditional, daily=daily)


def public_resource(
    view: Callable[..., HttpResponseBase], *, daily: bool = False
) -> Callable[..., HttpResponseBase]:
    """What every public response shares, for a `view` that answers conditional requests
    itself (`public_page` with the registry's ETag; a bulk download with its file's): GET,
    HEAD (headers only, nothing generated or read) and OPTIONS, 405 for any other method, and
    the Cache-Control of public pages (a CDN may keep it `PUBLIC_PAGE_CACHE_SECONDS`)."""

    # No CSRF check: the page changes nothing whatever the method, and every method but GET,
    # HEAD and OPTIONS is answered 405 (rather than the CSRF failure's 403).
    @csrf_exempt
    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponseBase:
        if request.method not in ALLOWED_METHODS:
            return HttpResponseNotAllowed(ALLOWED_METHODS)
        if request.method == "OPTIONS":
            response = HttpResponse(headers={"Allow": ", ".join(ALLOWED_METHODS)})
            response["Content-Length"] = "0"
            return response
        response = view(request, *args, **kwargs)
        if request.method == "HEAD" and response.status_code != 304:
            response = _without_body(response)
        if _personal(request, response):
            patch_cache_control(response, private=True)
        else:
            seconds = settings.PUBLIC_PAGE_CACHE_SECONDS
            if daily:
                seconds = min(seconds, _seconds_left_of_day(served_at(request)))
            patch_cache_control(response, public=True, max_age=0, s_maxage=seconds)
        return response

    return wrapped
