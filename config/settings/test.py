"""Test runs: SQLite by default, PostgreSQL when DATABASE_URL points at it."""

from .base import *  # noqa: F403
from .base import INSTALLED_APPS

# The tests load the synthetic registry (`generate_registry`) and check the benchmarks.
INSTALLED_APPS = [*INSTALLED_APPS, "devtools"]

DEBUG = False
SECRET_KEY = "test-only-not-a-secret"
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# django-axes stays enabled, as in production, so its lockout is tested. Its backend needs the
# request: log in with client.force_login(user), or client.login(request=HttpRequest(), ...).
# The suite makes thousands of API requests from one address; the limit's own test lowers it.
API_RATE_LIMIT = "100000/minute"
