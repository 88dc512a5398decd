"""Local development: works with no environment at all (SQLite beside manage.py)."""

import os
import secrets

from .base import *  # noqa: F403
from .base import BASE_DIR, INSTALLED_APPS

DEBUG = True
# The synthetic registry and the benchmarks (`generate_registry`, `bench`): never in production.
INSTALLED_APPS = [*INSTALLED_APPS, "devtools"]
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]"]


def _local_secret_key() -> str:
    """A random key kept in an ignored file, so sessions survive restarts of the dev server."""
    path = BASE_DIR / ".dev-secret-key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
    return path.read_text().strip()


SECRET_KEY = os.environ.get("SECRET_KEY") or _local_secret_key()
