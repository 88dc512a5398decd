"""Production: everything comes from the environment; a missing required value stops start-up.

It assumes gunicorn behind a reverse proxy that terminates TLS, sets X-Forwarded-Proto to the
scheme the client used (overwriting whatever the client sent) and appends the client's address
to X-Forwarded-For (README, "Production").
"""

import os

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import (
    DATABASES,
    MIDDLEWARE,
    PUBLIC_PAGE_CACHE_SECONDS,
    PUBLIC_PAGE_RENDER_CACHE_SECONDS,
    REST_FRAMEWORK,
    environment_number,
)


def _required(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise ImproperlyConfigured(
            f"The environment variable {name} is required in production and is not set."
        )
    return value


def _list(name: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, "").split(",") if item.strip()]


def _flag(name: str, default: bool) -> bool:
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return default
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"The environment variable {name} must be true or false.")


DEBUG = False
SECRET_KEY = _required("SECRET_KEY")
ALLOWED_HOSTS = [host.strip() for host in _required("ALLOWED_HOSTS").split(",") if host.strip()]
_required("DATABASE_URL")  # read by base.py; checked here so it cannot silently fall back
CSRF_TRUSTED_ORIGINS = _list("CSRF_TRUSTED_ORIGINS")

# Keep each worker's database connection between requests: opening a PostgreSQL connection
# costs more than rendering a typical page. Checked before reuse, so a restarted database
# costs one failed check, not a failed request.
DATABASES["default"]["CONN_MAX_AGE"] = environment_number("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True


def _cache(url: str) -> dict:
    if not url:
        # One cache per gunicorn worker: enough while nothing relies on sharing it.
        return {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise ImproperlyConfigured(
            "The environment variable CACHE_URL must be a Redis URL (redis://, rediss://, unix://)."
        )
    return {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url}


CACHES = {"default": _cache(os.environ.get("CACHE_URL", "").strip())}

# How long the CDN in front of the site may serve a public page before revalidating it.
PUBLIC_PAGE_CACHE_SECONDS = environment_number(
    "PUBLIC_PAGE_CACHE_SECONDS", default=PUBLIC_PAGE_CACHE_SECONDS
)
# How long each worker's cache (or the shared Redis of CACHE_URL) keeps a rendered page.
PUBLIC_PAGE_RENDER_CACHE_SECONDS = environment_number(
    "PUBLIC_PAGE_RENDER_CACHE_SECONDS", default=PUBLIC_PAGE_RENDER_CACHE_SECONDS
)

# HTTPS. The proxy terminates TLS and says which scheme the client used.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = _flag("SECURE_SSL_REDIRECT", default=True)
SECURE_HSTS_SECONDS = environment_number("SECURE_HSTS_SECONDS", default=365 * 24 * 60 * 60)
SECURE_HSTS_INCLUDE_SUBDOMAINS = _flag("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = _flag("SECURE_HSTS_PRELOAD", default=True)
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
LANGUAGE_COOKIE_SECURE = True

# How many proxies append to X-Forwarded-For in front of gunicorn: django-axes locks out a
# username from the client's address, not the proxy's (config/security.py).
PROXY_COUNT = environment_number("PROXY_COUNT", default=1)
# The API's rate limit tells clients apart by the same address (config/security.py).
REST_FRAMEWORK = {**REST_FRAMEWORK, "NUM_PROXIES": PROXY_COUNT}
AXES_CLIENT_IP_CALLABLE = "config.security.client_ip_behind_proxy"

# Static files: `collectstatic` writes compressed copies under content-hashed names, and
# WhiteNoise serves them from gunicorn with far-future caching. Straight after the
# security-header middleware, so static responses carry those headers too.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
_at = MIDDLEWARE.index("config.security.ContentSecurityPolicyMiddleware") + 1
MIDDLEWARE = [*MIDDLEWARE[:_at], "whitenoise.middleware.WhiteNoiseMiddleware", *MIDDLEWARE[_at:]]

# Without this, DEBUG = False sends errors nowhere (Django mails them to ADMINS, and we have none):
# write warnings and errors, with tracebacks, to gunicorn's standard error.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler", "level": "WARNING"}},
    "root": {"handlers": ["stderr"], "level": "WARNING"},
}
