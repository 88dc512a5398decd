"""What the benchmark (`manage.py bench`) compares pages with, and the URLs it serves them on.

Only `config.settings.bench` uses these URLs: the floor view is never part of the site.
"""

from django.shortcuts import render
from django.urls import include, path


def floor(request):
    """A minimal page: a small template through the same middleware as every other page."""
    return render(
        request, "registry/bench_floor.html", {"title": "Floor", "text": "A minimal page."}
    )


urlpatterns = [
    path("bench/floor/", floor, name="bench-floor"),
    path("", include("config.urls")),
]
