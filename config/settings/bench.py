"""Benchmarks (`manage.py bench`): production settings, on a database made for the run, with a
floor view to compare pages with (devtools/benchmark.py)."""

import warnings

from .prod import *  # noqa: F403
from .prod import INSTALLED_APPS, STORAGES

# Production plus the benchmark's own app (its commands and the floor view's URLs).
INSTALLED_APPS = [*INSTALLED_APPS, "devtools"]
ROOT_URLCONF = "devtools.benchmark"
# The hashed-name storage needs `collectstatic` first; static files are not what is measured,
# so WhiteNoise has no folder to serve (and would say so in every process).
STORAGES = {
    **STORAGES,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
warnings.filterwarnings("ignore", message="No directory at")
