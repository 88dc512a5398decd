"""What the benchmarks (`manage.py bench`, `manage.py bench_csv`) share: the floor view that
pages are compared with and the URLs it is served on (only `config.settings.bench` uses them:
the floor view is never part of the site), and the transaction and database helpers that they
and the tests use.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.shortcuts import render
from django.urls import path

from config import urls as site_urls


def floor(request):
    """A minimal page: a small template through the same middleware as every other page."""
    return render(
        request, "devtools/bench_floor.html", {"title": "Floor", "text": "A minimal page."}
    )


# The site's own patterns, not `include("config.urls")`: Django refuses `i18n_patterns` (the
# site's Chinese addresses) in an included URLconf.
urlpatterns = [
    path("bench/floor/", floor, name="bench-floor"),
    *site_urls.urlpatterns,
]


class Rollback(Exception):
    """Raised to leave a transaction or savepoint with nothing kept."""


@contextmanager
def rolled_back() -> Iterator[None]:
    """A transaction (a savepoint inside one) whose writes are always undone."""
    try:
        with transaction.atomic():
            yield
            raise Rollback
    except Rollback:
        pass


def database_description() -> dict[str, str]:
    """The configured database's product, version and name, for the results."""
    version = ""
    if connection.vendor == "sqlite":
        version = connection.Database.sqlite_version
    elif connection.vendor == "postgresql":
        major, minor = divmod(connection.pg_version, 10000)
        version = f"{major}.{minor}"
    return {
        "vendor": connection.display_name,
        "version": version,
        "name": str(connection.settings_dict["NAME"]),
    }


def size_arguments(
    parser, *, organizations: int, people: int | None = None, runs: int | None = None
) -> None:
    """The options every benchmark and generator shares: the registry's size and seed, and
    for benchmarks how many runs to report the median of and where to write the JSON."""
    parser.add_argument("--organizations", type=int, default=organizations, metavar="N")
    if people is not None:
        parser.add_argument("--people", type=int, default=people, metavar="M")
    parser.add_argument("--seed", type=int, default=1, metavar="S", help="Which registry.")
    if runs is not None:
        parser.add_argument("--runs", type=int, default=runs, help="Report the median of RUNS.")
        parser.add_argument("--json", dest="json_path", metavar="PATH", help="Also write JSON.")


class BenchmarkCommand(BaseCommand):
    """What the benchmark commands share: progress notes on stderr (unless --verbosity 0) and
    failing the command when a check failed."""

    verbose = True

    def execute(self, *args, **options):
        self.verbose = options.get("verbosity", 1) >= 1
        return super().execute(*args, **options)

    def note(self, text: str) -> None:
        if self.verbose:
            self.stderr.write(text)
            self.stderr.flush()

    @staticmethod
    def fail_on_checks(results: dict[str, dict[str, Any]]) -> None:
        """Raise CommandError naming every failed check of every result (by its name)."""
        failed = [
            f"{name}: {check}"
            for name, result in results.items()
            for check, ok in result["checks"].items()
            if ok is False
        ]
        if failed:
            raise CommandError("Checks failed: " + ", ".join(failed))
