"""Settings shared by every environment. Environment-specific modules start from here."""

import os
import re
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent.parent

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "mptt",
    "import_export",
    "reversion",
    "rest_framework",
    "drf_spectacular",
    # Swagger UI's files, served from the site itself (no CDN; the CSP stays 'self').
    "drf_spectacular_sidecar",
    "corsheaders",
    "registry",
    # After the registry, whose admin/base_site.html adds its stylesheet to every admin page
    # (an app's templates override those of the apps after it).
    "django.contrib.admin",
    "axes",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "config.security.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # Before CommonMiddleware, as django-cors-headers requires: it answers preflights itself.
    "corsheaders.middleware.CorsMiddleware",
    # The language of a page is its address: English unprefixed, Chinese under /zh-hans/.
    "django.middleware.locale.LocaleMiddleware",
    # A reader whose cookie or browser asks for Chinese is sent to the Chinese address.
    "config.language.PreferredLanguageMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "config.security.AdminNullCharacterMiddleware",
    # A view whose write waited out SQLITE_TIMEOUT gets a "registry is busy" page, not a 500.
    "config.busy.DatabaseBusyMiddleware",
    # Last, as django-axes requires: it turns a lockout into the lockout response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "registry.views.dated_links",
                "config.language.languages",
            ],
        },
    },
]

# SQLite in the project folder unless DATABASE_URL says otherwise (PostgreSQL in production,
# or another SQLite file). Every settings module inherits this.
DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=0,
    )
}


def environment_number(name: str, default: int) -> int:
    """A whole number from the environment (`default` when unset or blank)."""
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    if not value.isdigit():
        raise ImproperlyConfigured(f"The environment variable {name} must be a whole number.")
    return int(value)


# SQLite, whatever settings module or DATABASE_URL chose it, must let several curators write at
# once. Its default (deferred) transactions start as readers and fail with "database is locked"
# the moment two of them try to write; IMMEDIATE takes the write lock at BEGIN, so every
# transaction.atomic() (each admin save, move, delete, import) waits its turn instead, for up to
# SQLITE_TIMEOUT seconds. WAL lets readers (public pages, which open no transaction) read the
# last committed state while a writer works, even a long import; NORMAL is WAL's usual
# synchronous level (a commit may be lost on power failure, never corrupted).
# The timeout must outlast the longest write: an import of 100,000 organizations holds the lock
# for tens of seconds. A request that waits longer gets the "registry is busy" page (503,
# config/busy.py) and nothing of it is saved.
SQLITE_TIMEOUT = environment_number("SQLITE_TIMEOUT", default=60)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": SQLITE_TIMEOUT,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
        **DATABASES["default"].get("OPTIONS", {}),
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# English (British usage, as the seed documents write it, and the admin's day-month-year dates)
# at the registry's permanent unprefixed addresses; Simplified Chinese under /zh-hans/
# (config/language.py). LANGUAGE_CODE is listed as it is, so that the language a request runs
# in and the one the addresses are made for are always the same code.
LANGUAGE_CODE = "en-gb"
LANGUAGES = [("en-gb", "English"), ("zh-hans", "简体中文")]
LOCALE_PATHS = [BASE_DIR / "locale"]
# The reader's choice of language (the switch on every page), kept for a year.
LANGUAGE_COOKIE_AGE = 365 * 24 * 60 * 60
LANGUAGE_COOKIE_SAMESITE = "Lax"
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"

LOGIN_URL = "admin:login"

# Security headers, in every environment so that the tests see what production sends. Only
# HTTPS, HSTS and secure cookies are production-only (prod.py).
#
# No page needs an inline script: the admin, django-mptt's drag-and-drop tree and
# django-import-export load their JavaScript from static files and pass data in attributes.
# Inline style *attributes* are allowed (style-src-attr), but no <style> elements and no styles
# from elsewhere: django-mptt's tree indents each row with style="text-indent: ..." and its drag
# ghost re-parses that markup, so without them the tree loses its indentation.
SECURE_CSP = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "style-src-attr": ["'unsafe-inline'"],
    "img-src": ["'self'", "data:"],
    "object-src": ["'none'"],
    "base-uri": ["'self'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# Repeated failed logins (the admin's) are throttled by django-axes: after 5 failures for one
# username from one address, that pair is refused, even with the right password, for 15
# minutes. Per pair rather than per username, so nobody can lock a curator out from elsewhere.
AUTHENTICATION_BACKENDS = [
    # First, so a locked-out pair is refused before any password is checked. It needs the
    # request: the test client's login() must pass one (client.login(request=HttpRequest(),
    # ...)); force_login() is unaffected.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True

# Public pages and CSV downloads (registry/caching.py): how long a shared cache (a CDN) may
# serve one before revalidating it. Browsers always revalidate; an unchanged page costs a 304.
PUBLIC_PAGE_CACHE_SECONDS = 60
# How long the server keeps a rendered public page for repeated requests (0: never). Entries are
# keyed by the registry's ETag, so a change to the registry never serves an old page.
PUBLIC_PAGE_RENDER_CACHE_SECONDS = 600

# The seed documents and the fixtures made from them.
FIXTURE_DIRS = [BASE_DIR / "fixtures"]

# CSV in the admin: importing needs the right to change a model, exporting the right to view it.
IMPORT_EXPORT_IMPORT_PERMISSION_CODE = "change"
IMPORT_EXPORT_EXPORT_PERMISSION_CODE = "view"

# The JSON API (registry/api/). Read-only and public: no authentication is read (reading the
# user would read the session and make every answer private to a shared cache), JSON only.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNICODE_JSON": True,
    "STRICT_JSON": True,
    # Clients are told apart by REMOTE_ADDR (never a header a client writes); production
    # counts its proxies (prod.py).
    "NUM_PROXIES": 0,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Registry of Government Organizations API",
    "DESCRIPTION": (
        "Read-only access to the registry in Popolo's shapes (organizations, persons, posts, "
        "memberships), with the registry's own fields as documented extensions."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # No call to swagger.io's validator: the page reads nothing from elsewhere.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    "COMPONENT_SPLIT_REQUEST": True,
}
# Requests a client (by address) may make to the API; a client over it gets 429.
API_RATE_LIMIT = os.environ.get("API_RATE_LIMIT", "").strip() or "1200/minute"
if not re.fullmatch(r"[1-9][0-9]*/(second|minute|hour|day)", API_RATE_LIMIT):
    raise ImproperlyConfigured(
        "API_RATE_LIMIT must be <number>/<second, minute, hour or day>, e.g. 1200/minute."
    )

# The API may be read from any web page (GET only); nothing else crosses origins.
CORS_URLS_REGEX = r"^/api/.*$"
CORS_ALLOW_ALL_ORIGINS = True
CORS_ALLOW_METHODS = ("GET", "HEAD", "OPTIONS")
CORS_ALLOW_CREDENTIALS = False
CORS_EXPOSE_HEADERS = ("ETag", "Retry-After")

# Where the bulk downloads (/downloads/, registry/downloads.py) are built: a directory the
# server's processes can write, on local disk (one builder at a time is held with flock).
DOWNLOADS_ROOT = Path(
    os.environ.get("DOWNLOADS_ROOT", "").strip() or BASE_DIR / "var" / "downloads"
)
