"""The registry's benchmark: every figure next to a floor measured in the same run.

`manage.py bench` (what `make bench` runs) builds a fresh database for each database it
measures (SQLite always; PostgreSQL too when DATABASE_URL names one), runs this same command
in a child process against it with `--configured-database`, drops the database, and prints one
table of every figure's median, its floor's median and their ratio, checked against the issue's
targets. Seconds depend on the machine; only the ratios compare across runs and machines.

What the child measures, on a synthetic registry (`devtools.synthetic`):

- server time of public pages and the admin changelist, through Django's full request handler
  and the production middleware (`config.settings.bench`), against a minimal view rendering a
  small template (pages) and the admin's changelist of a trivial model matching nothing (admin);
- SQL queries per page, which must not grow with the subtree;
- moving a 1,000-unit subtree against one UPDATE of every organization's tree fields;
- CSV import and export, through `manage.py bench_csv` (its floors: executemany, cursor loop);
- requests per second and p99 latency of gunicorn (2 workers) under wrk on loopback, against
  the minimal view under the same load.

Then, for each database, the import a curator runs: `manage.py import_registry organizations
FILE` as a whole process, with history, into an empty registry at N/4 and N organizations,
next to the pipeline alone and the driver's executemany floor (`manage.py bench_import`).

Writes roll back where they would change the registry (moves, CSV imports).
"""

from __future__ import annotations

import io
import json
import os
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import opencc
from django.conf import settings
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import Q
from django.test import Client
from django.test.utils import CaptureQueriesContext, override_settings
from django.urls import NoReverseMatch, reverse
from pypinyin import lazy_pinyin

from devtools import synthetic
from devtools.benchmark import BenchmarkCommand, database_description, rolled_back, size_arguments
from devtools.management.commands.bench_import import command_import_figures, describe
from devtools.services import synthetic_registry_load
from registry import exports, schema
from registry.csvcodec import csv_lines
from registry.models import (
    ChangeEvent,
    EventOrganization,
    Organization,
    Person,
    Placement,
    Succession,
)
from registry.services import organization_move
from registry.trees import nested_sets_valid, tree_order

BASE_DIR = Path(settings.BASE_DIR)
BENCH_SETTINGS = "config.settings.bench"
# Searches of each kind a reader types (issue 13): figure name: what the query is.
SEARCHES = {
    "search_english": "English",
    "search_chinese_two": "2 Chinese characters",
    "search_chinese": "Chinese, 3+ characters",
    "search_traditional": "traditional characters",
    "search_pinyin": "pinyin",
    "search_initials": "pinyin initials",
}
# Every search, rendered and as its queries alone, is held to this (a figure: met or MISSED,
# not a failing check, since machines are noisy).
SEARCH_TARGET = "<= 20 ms"
QUERY = "_query"
PUBLIC_PAGES = (
    "floor_page",
    "organization_typical",
    "organization_large",
    "home",
    *SEARCHES,
    "person",
    # The JSON API (issue 14): a page of 100 organizations of the large unit's subtree, as a
    # list filtered by `root` and as the subtree in tree order.
    "api_list",
    "api_subtree",
)
API_PAGE = 100
ADMIN_PAGES = ("floor_admin", "admin_first_page", "admin_filtered")

# figure: (label, its floor, the target ratio to the floor: at most, or at least for rates)
FIGURES: dict[str, tuple[str, str | None, str]] = {
    "floor_page": ("floor: minimal view, small template", None, ""),
    "organization_typical": ("organization page, typical unit", "floor_page", "<= 3"),
    "organization_large": ("organization page, 2,000 descendants", "floor_page", "<= 25"),
    "home": ("home page", "floor_page", "<= 4"),
    **{name: (f"search, {label}", "floor_page", "<= 4") for name, label in SEARCHES.items()},
    "person": ("person page", "floor_page", "<= 4"),
    "organization_typical_rendered": (
        "organization page, typical unit, rendered",
        "floor_page",
        "<= 3",
    ),
    "organization_large_rendered": (
        "organization page, 2,000 descendants, rendered",
        "floor_page",
        "<= 25",
    ),
    "home_rendered": ("home page, rendered", "floor_page", "<= 4"),
    **{
        f"{name}_rendered": (f"search, {label}, rendered", "floor_page", SEARCH_TARGET)
        for name, label in SEARCHES.items()
    },
    # The search's SQL alone, in this process: what the page runs (a page of matches, their
    # count, the people matching), without rendering.
    **{
        f"{name}{QUERY}": (f"search, {label}, queries only", "floor_page", SEARCH_TARGET)
        for name, label in SEARCHES.items()
    },
    "person_rendered": ("person page, rendered", "floor_page", "<= 4"),
    "api_list": ("API, organizations page of 100", "floor_page", "<= 4"),
    "api_subtree": ("API, subtree page of 100", "floor_page", "<= 4"),
    "api_list_rendered": ("API, organizations page of 100, rendered", "floor_page", ""),
    "api_subtree_rendered": ("API, subtree page of 100, rendered", "floor_page", ""),
    # Per organization shown: the API's page against the HTML page of the large unit (each of
    # its units a line of the outline), both rendered (issue 14: within 3x).
    "page_per_unit": ("organization page, 2,000 descendants, rendered, per unit", None, ""),
    "api_list_per_unit": ("API, organizations page, per organization", "page_per_unit", "<= 3"),
    "api_subtree_per_unit": ("API, subtree page, per organization", "page_per_unit", "<= 3"),
    # The registry as on a date: the same large page with ?on=, against itself today.
    "organization_large_on_rendered": (
        "organization page, 2,000 descendants, ?on=, rendered",
        "organization_large_rendered",
        "<= 2",
    ),
    # An absolute target (seconds); the ratio to the floor page is shown as for the others.
    "changes_rendered": ("changes between two dates, whole registry", "floor_page", "<= 1 s"),
    "floor_admin": ("floor: admin changelist, trivial model", None, ""),
    "admin_first_page": ("admin organizations, first page", "floor_admin", "<= 4"),
    "admin_filtered": ("admin organizations, filtered", "floor_admin", "<= 4"),
    "floor_move": ("floor: UPDATE every row's tree fields", None, ""),
    "move": ("move a 1,000-unit subtree", "floor_move", "<= 3"),
    "floor_export": ("floor: cursor loop into csv.writer", None, ""),
    "export": ("CSV export of everything", "floor_export", "<= 5"),
    "floor_import": ("floor: executemany INSERT", None, ""),
    "import": ("CSV import into an empty registry", "floor_import", "<= 10"),
    "floor_http": ("floor: gunicorn, minimal view (req/s)", None, ""),
    "http_organization": ("gunicorn, organization page (req/s)", "floor_http", ">= 0.4"),
    "http_organization_rendered": (
        "gunicorn, organization page, rendered (req/s)",
        "floor_http",
        ">= 0.4",
    ),
}
# Public pages are measured twice: as served (repeated requests come from the render cache,
# registry/caching.py) and rendered every time (the render cache off: a page nobody asked for
# since the last change).
RENDERED = "_rendered"
PAGE_FIGURES = tuple(name for name in FIGURES if name in {*PUBLIC_PAGES, *ADMIN_PAGES})
# Pages of the registry through time (docs/time.md), measured rendered only: the large unit's
# page as on the year most of its subtree's earlier placements were in force, and the whole
# registry compared between two dates far apart (/changes/, registry/changes.py).
DATED_PAGES = ("organization_large_on", "changes")
CHANGES_RANGE = ("1990", "2020")
REFORM_DATASETS = ("placements", "events")
# Search terms are chosen from the generator's vocabulary: the one matching closest to this
# many organizations ("hundreds of names").
SEARCH_MATCHES = 300
TYPICAL_DESCENDANTS = (20, 50)
LARGE_DESCENDANTS = 2000
MOVED_SUBTREE = 1000


class Command(BenchmarkCommand):
    help = (
        "Benchmark the registry at scale on SQLite (and on PostgreSQL when DATABASE_URL names "
        "one), each in a database made for the run and dropped after it, and print every "
        "figure with its ratio to a floor measured in the same run."
    )

    def add_arguments(self, parser):
        size_arguments(parser, organizations=100_000, people=20_000, runs=5)
        parser.add_argument(
            "--requests", type=int, default=15, help="Requests per page and run (median)."
        )
        parser.add_argument(
            "--http-seconds", type=float, default=10, help="Seconds of load per URL under wrk."
        )
        parser.add_argument(
            "--configured-database",
            action="store_true",
            help="Measure the configured database only, which must hold no registry yet "
            "(what each child process does).",
        )

    def handle(self, *args, **options) -> None:
        if options["organizations"] < 10 or options["runs"] < 1 or options["requests"] < 1:
            raise CommandError("Use at least 10 organizations, 1 run and 1 request.")
        if options["configured_database"]:
            results = Measurement(options, self.note).run()
            if options["json_path"]:
                Path(options["json_path"]).write_text(json.dumps(results, ensure_ascii=False))
            return
        results = self._all_databases(options)
        self.stdout.write(table(results))
        if options["json_path"]:
            path = Path(options["json_path"])
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
            self.stdout.write(f"\nWritten to {options['json_path']}")
        self.fail_on_checks(results["databases"])

    def _all_databases(self, options: dict[str, Any]) -> dict[str, Any]:
        results: dict[str, Any] = {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "organizations": options["organizations"],
            "people": options["people"],
            "seed": options["seed"],
            "runs": options["runs"],
            "requests_per_run": options["requests"],
            "databases": {},
        }
        with tempfile.TemporaryDirectory(prefix="registry-bench-") as folder:
            targets = [("sqlite", f"sqlite:///{Path(folder) / 'bench.sqlite3'}")]
            configured = os.environ.get("DATABASE_URL", "")
            if configured.startswith(("postgres://", "postgresql://")):
                targets.append(("postgresql", configured))
            for name, url in targets:
                with _bench_database(url) as bench_url:
                    self.note(f"== {name} ==")
                    output = Path(folder) / f"{name}.json"
                    self._child(options, bench_url, output)
                    result = results["databases"][name] = json.loads(output.read_text())
                self.note(f"== {name}: import_registry as a whole process ==")
                imported = command_import_figures(
                    server_url=None if name == "sqlite" else configured,
                    organizations=options["organizations"],
                    runs=options["runs"],
                    seed=options["seed"],
                    note=self.note,
                )
                result["command_import"] = imported
                result["checks"].update(
                    {f"command_import_{check}": ok for check, ok in imported["checks"].items()}
                )
        return results

    def _child(self, options: dict[str, Any], url: str, output: Path) -> None:
        environment = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": BENCH_SETTINGS,
            "DATABASE_URL": url,
            "SECRET_KEY": secrets.token_urlsafe(50),
            "ALLOWED_HOSTS": "testserver,127.0.0.1",
            "CACHE_URL": "",
        }
        command = [
            sys.executable,
            str(BASE_DIR / "manage.py"),
            "bench",
            "--configured-database",
            f"--json={output}",
            f"--verbosity={options['verbosity']}",
        ]
        for option in ("organizations", "people", "seed", "runs", "requests", "http_seconds"):
            command.append(f"--{option.replace('_', '-')}={options[option]}")
        if subprocess.run(command, env=environment, check=False).returncode:
            raise CommandError(f"The benchmark on {urlsplit(url).scheme} failed; see above.")


@contextmanager
def _bench_database(url: str) -> Iterator[str]:
    """A new, empty database for the run, dropped afterwards: a file beside the others for
    SQLite, `<name>_bench` on the same server for PostgreSQL."""
    if url.startswith("sqlite"):
        yield url
        return
    import psycopg

    parts = urlsplit(url)
    name = f"{parts.path.lstrip('/') or 'postgres'}_bench"
    bench_url = urlunsplit(parts._replace(path=f"/{name}"))
    with psycopg.connect(url, autocommit=True) as server:
        server.execute(f'DROP DATABASE IF EXISTS "{name}"')
        server.execute(f'CREATE DATABASE "{name}"')
    try:
        yield bench_url
    finally:
        with psycopg.connect(url, autocommit=True) as server:
            server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Measurement:
    """Everything measured on the configured database, in one process."""

    def __init__(self, options: dict[str, Any], note: Callable[[str], None]):
        self.options = options
        self.note = note
        self.seconds: dict[str, list[float]] = {name: [] for name in FIGURES}
        self.queries: dict[str, int] = {}
        self.extra: dict[str, Any] = {}
        self.checks: dict[str, bool | None] = {}
        self.searches: dict[str, tuple[str, int]] = {}

    def run(self) -> dict[str, Any]:
        options = self.options
        call_command("migrate", verbosity=0, interactive=False)
        if Organization.objects.exists():
            raise CommandError("The configured database already holds a registry.")
        self.note(f"Generating {options['organizations']:,} organizations...")
        start = time.perf_counter()
        synthetic_registry_load(
            organizations=options["organizations"], people=options["people"], seed=options["seed"]
        )
        self.extra["generate_seconds"] = round(time.perf_counter() - start, 1)
        if connection.vendor == "postgresql":
            # As autovacuum would after a load this size: plans depend on fresh statistics,
            # and a GIN index answers from a pending list of new entries, read in full on every
            # search, until a vacuum merges it (the trigram and gram indexes: 研究 took 10 ms
            # in the index scans alone before, 0.3 ms after).
            with connection.cursor() as cursor:
                cursor.execute("VACUUM ANALYZE")

        urls = self._urls()
        self._pages(urls)
        self._per_unit()
        self._search_queries()
        self._moves()
        self._csv()
        self._http(urls)
        self.checks["large_page_queries_equal_typical"] = (
            self.queries[f"organization_large{RENDERED}"]
            == self.queries[f"organization_typical{RENDERED}"]
        )
        self._reform_imports()
        return self._results()

    # --- Subjects --------------------------------------------------------------------------

    def _urls(self) -> dict[str, str]:
        units = Organization.objects.with_descendant_count().in_tree_order()
        low, high = TYPICAL_DESCENDANTS
        # Below the top level and with posts, as the large unit: a top-level body's page skips
        # the breadcrumbs query and a page without posts the holders query.
        typical = (
            units.filter(descendants__range=(low, high), level__gt=0, posts__isnull=False).first()
            or units.filter(descendants__lte=high, level__gt=0).order_by("-descendants").first()
        )
        large = _closest(units.filter(level__gt=0, posts__isnull=False), LARGE_DESCENDANTS)
        person = typical.posts.first().holders.first() if typical.posts.exists() else None
        self.extra.update(
            typical={"id": typical.pk, "descendants": typical.descendants},
            large={"id": large.pk, "descendants": large.descendants},
        )
        self.searches = {name: self._search_term(name) for name in SEARCHES}
        self.extra["searches"] = {
            name: {"q": text, "matches": count} for name, (text, count) in self.searches.items()
        }
        urls = {
            "floor_page": "/bench/floor/",
            "organization_typical": typical.get_absolute_url(),
            "organization_large": large.get_absolute_url(),
            "home": "/",
            **{name: f"/search/?q={quote(text)}" for name, (text, _) in self.searches.items()},
            "person": person.get_absolute_url() if person else "/bench/floor/",
            "api_list": f"/api/v1/organizations/?root={large.pk}&limit={API_PAGE}",
            "api_subtree": f"/api/v1/organizations/{large.pk}/subtree/?limit={API_PAGE}",
            "floor_admin": "/admin/auth/group/?q=no-such-group",
            "admin_first_page": "/admin/registry/organization/",
            "admin_filtered": (
                "/admin/registry/organization/?kind__code__exact=affiliated-institution"
            ),
        }
        year, in_force = dated_subject(large)
        self.extra["dated"] = {"on": year, "placements_in_force": in_force}
        urls["organization_large_on"] = f"{large.get_absolute_url()}?on={year}"
        try:
            first, last = CHANGES_RANGE
            urls["changes"] = f"{reverse('registry:changes')}?from={first}&to={last}"
        except NoReverseMatch:
            # Hook: the compare page is registry/views.py's `compare`; without it, not timed.
            self.extra["changes"] = "not measured: no /changes/ page (registry:changes)"
        self.extra["urls"] = urls
        return urls

    def _search_term(self, kind: str) -> tuple[str, int]:
        """The query of `kind` (SEARCHES), made from the generator's words, that matches closest
        to SEARCH_MATCHES organizations; and how many it matches."""
        words = search_candidates(kind)
        counts = {word: Organization.objects.matching(word).count() for word in sorted(words)}
        word = min(counts, key=lambda w: (abs(counts[w] - SEARCH_MATCHES), w))
        return word, counts[word]

    def _search_queries(self) -> None:
        """The SQL of each search page alone, in this process (`search_queries`)."""
        for name, (text, _) in self.searches.items():
            search_queries(text)  # warm up
            with CaptureQueriesContext(connection) as queries:
                search_queries(text)
            self.queries[f"{name}{QUERY}"] = len(queries)
        for run in range(1, self.options["runs"] + 1):
            for name, (text, _) in self.searches.items():
                times = []
                for _ in range(self.options["requests"]):
                    start = time.perf_counter()
                    search_queries(text)
                    times.append(time.perf_counter() - start)
                self.seconds[f"{name}{QUERY}"].append(statistics.median(times))
            self.note(
                f"Search queries, run {run}: "
                + _latest(self.seconds, [f"{name}{QUERY}" for name in self.searches])
            )

    # --- Pages -----------------------------------------------------------------------------

    def _pages(self, urls: dict[str, str]) -> None:
        reader = Client()
        curator = Client()
        curator.force_login(
            User.objects.create_superuser("bench", "bench@example.org", secrets.token_hex(16))
        )
        names = [
            *PUBLIC_PAGES,
            *(f"{name}{RENDERED}" for name in PUBLIC_PAGES if name != "floor_page"),
            *(f"{name}{RENDERED}" for name in DATED_PAGES if name in urls),
            *ADMIN_PAGES,
        ]

        def get(name: str) -> bytes:
            page = name.removesuffix(RENDERED)
            client = curator if page in ADMIN_PAGES else reader
            if name.endswith(RENDERED):
                with override_settings(PUBLIC_PAGE_RENDER_CACHE_SECONDS=0):
                    return _get(client, urls[page])
            return _get(client, urls[page])

        for name in names:  # warm up (templates, caches), count queries of a repeated request
            get(name)
            with CaptureQueriesContext(connection) as queries:
                size = len(get(name))
            self.queries[name] = len(queries)
            self.extra.setdefault("page_kilobytes", {})[name] = round(size / 1024, 1)
        for run in range(1, self.options["runs"] + 1):
            for name in names:
                times = []
                for _ in range(self.options["requests"]):
                    start = time.perf_counter()
                    get(name)
                    times.append(time.perf_counter() - start)
                self.seconds[name].append(statistics.median(times))
            self.note(f"Pages, run {run}: " + _latest(self.seconds, names))

    def _per_unit(self) -> None:
        """Each page's rendered time divided by the organizations it shows."""
        units = self.extra["large"]["descendants"]
        for name, count in (
            ("page_per_unit", units),
            ("api_list_per_unit", API_PAGE),
            ("api_subtree_per_unit", API_PAGE),
        ):
            source = {
                "page_per_unit": "organization_large",
                "api_list_per_unit": "api_list",
                "api_subtree_per_unit": "api_subtree",
            }[name]
            self.seconds[name] = [t / count for t in self.seconds[f"{source}{RENDERED}"]]

    # --- Moves -----------------------------------------------------------------------------

    def _moves(self) -> None:
        units = Organization.objects.with_descendant_count()
        subtree = _closest(units.filter(level__gt=0), MOVED_SUBTREE - 1)
        # The largest other tree (the first of them in tree order).
        target = (
            Organization.objects.roots()
            .exclude(pk__in=Organization.objects.ancestors(subtree).values("pk"))
            .with_descendant_count()
            .order_by("-descendants", *tree_order())
            .first()
        )
        self.extra["move"] = {
            "subtree": subtree.pk,
            "units": subtree.descendants + 1,
            "to": f"first child of {target.pk}",
        }
        table = connection.ops.quote_name(Organization._meta.db_table)
        rows = Organization.objects.count()
        for run in range(1, self.options["runs"] + 1):
            with rolled_back():
                start = time.perf_counter()
                with connection.cursor() as cursor:
                    cursor.execute(f"UPDATE {table} SET lft = lft + 2, rght = rght + 2")
                    assert cursor.rowcount == rows
                self.seconds["floor_move"].append(time.perf_counter() - start)
            with rolled_back():
                moving = Organization.objects.get(pk=subtree.pk)
                new_parent = Organization.objects.get(pk=target.pk)
                start = time.perf_counter()
                organization_move(organization=moving, target=new_parent, position="first-child")
                self.seconds["move"].append(time.perf_counter() - start)
                if run == 1:
                    self.checks["tree_valid_after_move"] = tree_valid()
            self.note(f"Move, run {run}: " + _latest(self.seconds, ("floor_move", "move")))

    # --- CSV -------------------------------------------------------------------------------

    def _csv(self) -> None:
        self.note("CSV (bench_csv)...")
        with tempfile.NamedTemporaryFile(suffix=".json") as output:
            call_command(
                "bench_csv",
                organizations=self.options["organizations"],
                runs=self.options["runs"],
                seed=self.options["seed"],
                json_path=output.name,
                verbosity=0,
                stdout=open(os.devnull, "w"),  # noqa: SIM115 (closed with the process)
            )
            csv_results = json.loads(Path(output.name).read_text())
        for name in ("floor_import", "import", "floor_export", "export"):
            self.seconds[name] = csv_results["figures"][name]["seconds"]
        self.extra["csv"] = {
            "reimport_seconds": csv_results["figures"]["reimport"]["median_seconds"],
            "export_peak_megabytes": csv_results["checks"]["export_peak_megabytes"],
            "csv_megabytes": csv_results["csv_megabytes"],
        }
        self.checks["export_peak_memory_under_50_mb"] = (
            csv_results["checks"]["export_peak_megabytes"] <= 50
        )
        for check in ("export_identical_to_imported_file", "tree_valid", "database_unchanged"):
            self.checks[f"csv_{check}"] = csv_results["checks"][check]

    # --- Imports of the registry's past ----------------------------------------------------

    def _reform_imports(self) -> None:
        """`import_registry events FILE` then `import_registry placements FILE` (what a
        curator runs, in this process) of the generated past, exported from the registry, into
        a registry without one: a quarter of the events (and their placements), then all of
        them, each rolled back. The floor: `bulk_create` of the same records. Fails when the
        per-row cost of all over a quarter is more than 2 (a quadratic path)."""
        missing = [name for name in REFORM_DATASETS if name not in schema.DATASETS]
        if missing:  # Hook: the datasets are registry/schema.py's.
            self.extra["reform_imports"] = (
                f"not measured: import_registry has no dataset {', '.join(missing)} yet"
            )
            return
        self.note("Importing the registry's past (events, placements)...")
        events = list(exports.event_rows())
        placements = list(exports.placement_rows())
        event_cell, placement_event = events[0].index("id"), placements[0].index("event")
        sizes: dict[str, Any] = {}
        for share in (4, 1):
            chosen = events[1 : 1 + (len(events) - 1) // share]
            ids = {row[event_cell] for row in chosen}
            rows = [row for row in placements[1:] if row[placement_event] in ids]
            files = {"events": (events[0], chosen), "placements": (placements[0], rows)}
            figures = {"events": len(chosen), "placements": len(rows)}
            figures.update(self._import_past(files, ids))
            figures["per_row_ms"] = round(
                1000 * figures["median_seconds"] / (len(chosen) + len(rows)), 4
            )
            sizes["quarter" if share == 4 else "all"] = figures
        growth = sizes["all"]["per_row_ms"] / sizes["quarter"]["per_row_ms"]
        self.extra["reform_imports"] = {**sizes, "per_row_growth": round(growth, 2)}
        self.checks["reform_import_per_row_cost_does_not_grow"] = growth <= 2

    def _import_past(self, files: dict[str, tuple], ids: set[str]) -> dict[str, Any]:
        """Median seconds of importing `files` (events first), and of the floor, into the
        registry without the events `ids` and their placements."""
        seconds: dict[str, list[float]] = {"import": [], "floor": []}
        kept = {
            ChangeEvent: list(ChangeEvent.objects.filter(pk__in=ids)),
            EventOrganization: list(EventOrganization.objects.filter(event__in=ids)),
            Placement: list(Placement.objects.filter(event__in=ids)),
        }
        links = list(Succession.objects.filter(event__in=ids).values_list("pk", "event"))
        with tempfile.TemporaryDirectory(prefix="registry-bench-past-") as folder:
            paths = {}
            for name, (header, rows) in files.items():
                paths[name] = Path(folder) / f"{name}.csv"
                paths[name].write_text("".join(csv_lines(header, rows)), encoding="utf-8")
            for run in range(self.options["runs"]):
                for timed in ("floor", "import"):
                    with rolled_back():
                        Placement.objects.filter(event__in=ids).delete()
                        ChangeEvent.objects.filter(pk__in=ids).delete()  # and participants
                        start = time.perf_counter()
                        if timed == "import":
                            for name in ("events", "placements"):
                                call_command(
                                    "import_registry",
                                    name,
                                    str(paths[name]),
                                    verbosity=0,
                                    stdout=io.StringIO(),
                                )
                        else:
                            for model, records in kept.items():
                                model.objects.bulk_create(records, batch_size=2000)
                            Succession.objects.bulk_update(
                                [Succession(pk=pk, event_id=event) for pk, event in links],
                                ["event"],
                                batch_size=500,
                            )
                        seconds[timed].append(time.perf_counter() - start)
                        if timed == "import" and run == 0:
                            self.checks["reform_import_complete"] = Placement.objects.filter(
                                event__in=ids
                            ).count() == len(kept[Placement]) and EventOrganization.objects.filter(
                                event__in=ids
                            ).count() == len(kept[EventOrganization])
        return {
            "median_seconds": round(statistics.median(seconds["import"]), 3),
            "floor_seconds": round(statistics.median(seconds["floor"]), 3),
            "ratio": round(
                statistics.median(seconds["import"]) / statistics.median(seconds["floor"]), 2
            ),
        }

    # --- HTTP ------------------------------------------------------------------------------

    def _http(self, urls: dict[str, str]) -> None:
        wrk = shutil.which("wrk")
        if wrk is None:
            self.note("wrk is not installed (apt-get install wrk): HTTP throughput not measured.")
            self.extra["http"] = "not measured: wrk is not installed"
            return
        # Two servers: as deployed, and with the render cache off (every request renders).
        servers = {
            "cached": _gunicorn({}),
            "rendered": _gunicorn({"PUBLIC_PAGE_RENDER_CACHE_SECONDS": "0"}),
        }
        pages = {
            "floor_http": ("cached", urls["floor_page"]),
            "http_organization": ("cached", urls["organization_typical"]),
            f"http_organization{RENDERED}": ("rendered", urls["organization_typical"]),
        }
        latency: dict[str, list[float]] = {name: [] for name in pages}
        try:
            for _process, base in servers.values():
                _wait_for(f"{base}{urls['floor_page']}")
            seconds = self.options["http_seconds"]
            for server, url in pages.values():  # warm up every worker
                _wrk(wrk, f"{servers[server][1]}{url}", min(seconds, 2))
            for run in range(1, self.options["runs"] + 1):
                for name, (server, url) in pages.items():
                    rate, p99 = _wrk(wrk, f"{servers[server][1]}{url}", seconds)
                    # Stored as seconds per request, so that medians and ratios work alike.
                    self.seconds[name].append(1 / rate)
                    latency[name].append(p99)
                self.note(
                    f"HTTP, run {run}: "
                    + ", ".join(f"{name} {1 / self.seconds[name][-1]:.0f} req/s" for name in pages)
                )
        finally:
            for process, _base in servers.values():
                process.terminate()
                process.wait(timeout=30)
        self.extra["http"] = {
            "p99_milliseconds": {
                name: round(statistics.median(values) * 1000, 1)
                for name, values in latency.items()
            },
            "workers": 2,
            "connections": 4,
            "seconds_per_run": self.options["http_seconds"],
        }

    # --- Results ---------------------------------------------------------------------------

    def _results(self) -> dict[str, Any]:
        medians = {name: statistics.median(v) for name, v in self.seconds.items() if v}
        figures = {}
        for name, (label, floor, target) in FIGURES.items():
            if name not in medians:
                continue
            figure: dict[str, Any] = {
                "label": label,
                "median_seconds": round(medians[name], 6),
                "seconds": [round(value, 6) for value in self.seconds[name]],
            }
            if name in self.queries:
                figure["queries"] = self.queries[name]
            if floor and floor in medians:
                rate = name.startswith(("http", "floor_http"))
                # For rates the figure is requests/s: the ratio is the page's share of the floor.
                ratio = medians[floor] / medians[name] if rate else medians[name] / medians[floor]
                figure.update(floor=floor, ratio=round(ratio, 2))
                if target:  # a figure may be shown against its floor without a target
                    bound, limit, *unit = target.split()
                    # "<= 1 s" and "<= 20 ms" are targets in time; the others ratios to the floor.
                    value = ratio
                    if unit:
                        value = medians[name] * (1000 if unit == ["ms"] else 1)
                    figure.update(
                        target=target,
                        met=value <= float(limit) if bound == "<=" else value >= float(limit),
                    )
            figures[name] = figure
        return {
            # Not the database's name: a temporary file's path says nothing to later readers.
            "database": {
                key: value for key, value in database_description().items() if key != "name"
            },
            "figures": figures,
            "details": self.extra,
            "checks": self.checks,
        }


# --- Helpers ----------------------------------------------------------------------------------


def _get(client: Client, url: str) -> bytes:
    # secure=True: production settings redirect plain HTTP, as the proxy would not.
    response = client.get(url, secure=True)
    if response.status_code != 200:
        raise CommandError(f"{url} answered {response.status_code}.")
    if response.streaming:
        return b"".join(response.streaming_content)
    return response.content


def search_candidates(kind: str) -> set[str]:
    """Queries of `kind` (SEARCHES) from the generator's vocabulary: its English words, its
    Chinese words of two characters or more, those in traditional characters (where they
    differ), their pinyin (toneless, a space between syllables, as typed) and the initials of
    those of three characters or more (shorter initials are no index's business)."""
    vocabulary = (
        synthetic.FUNCTIONS
        + synthetic.PROVINCES
        + synthetic.SECTORS
        + synthetic.FIXED_DEPARTMENTS
        + synthetic.INSTITUTION_NAMES
    )
    english = {pair[0].replace("{}", "").strip() for pair in vocabulary}
    chinese = {pair[1].replace("{}", "") for pair in vocabulary}
    if kind == "search_english":
        return {word for word in english if len(word) >= 3}
    if kind == "search_chinese_two":
        return {word for word in chinese if len(word) == 2}
    if kind == "search_chinese":
        return {word for word in chinese if len(word) >= 3}
    if kind == "search_traditional":
        to_traditional = opencc.OpenCC("s2t")
        return {t for word in chinese if (t := to_traditional.convert(word)) != word}
    if kind == "search_pinyin":
        return {" ".join(lazy_pinyin(word)) for word in chinese if len(word) >= 2}
    if kind == "search_initials":
        return {"".join(s[0] for s in lazy_pinyin(word)) for word in chinese if len(word) >= 3}
    raise ValueError(kind)


def search_queries(text: str) -> None:
    """What the search page asks the database for `text`: the count of matches, the first page
    of them with what it shows of each, and the people matching."""
    matches = Organization.objects.matching(text).with_labels().select_related("parent")
    page = Paginator(matches, 50).get_page(1)
    list(page.object_list)
    list(Person.objects.matching(text)[:50])


def _closest(queryset, descendants: int) -> Organization:
    above = queryset.filter(descendants__gte=descendants).order_by("descendants", "pk").first()
    below = queryset.filter(descendants__lt=descendants).order_by("-descendants", "pk").first()
    candidates = [unit for unit in (above, below) if unit is not None]
    return min(candidates, key=lambda unit: abs(unit.descendants - descendants))


def dated_subject(unit: Organization) -> tuple[str, int]:
    """The year to read `unit`'s page on: the one in which most earlier placements into or
    within its subtree were in force (of the whole registry's, when its subtree has none),
    among the years it existed; and how many were in force then."""
    first = unit.formed.earliest.year if unit.formed else synthetic.FIRST_REFORM_YEAR
    last = unit.dissolved.latest.year if unit.dissolved else synthetic.LAST_YEAR
    inside = Organization.objects.subtree(unit).values("pk")
    periods = list(
        Placement.objects.filter(Q(organization__in=inside) | Q(parent__in=inside)).values_list(
            "start", "end"
        )
    ) or list(Placement.objects.values_list("start", "end"))
    in_force: Counter[int] = Counter()
    for start, end in periods:  # stored text: partial ISO dates
        since = int(start[:4]) if start else first
        in_force.update(range(max(since, first), min(int(end[:4]), last) + 1))
    if not in_force:
        return str(first), 0
    year, count = min(in_force.items(), key=lambda item: (-item[1], item[0]))
    return str(year), count


def tree_valid() -> bool:
    """Whether every organization's stored tree fields are what a rebuild would write."""
    return nested_sets_valid(Organization.objects.nested_sets())


def _latest(seconds: dict[str, list[float]], names) -> str:
    return ", ".join(f"{name} {seconds[name][-1] * 1000:.1f} ms" for name in names)


def _gunicorn(environment: dict[str, str]) -> tuple[subprocess.Popen, str]:
    """gunicorn with 2 workers on a free loopback port, production settings; its base URL."""
    port = _free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "config.wsgi",
            f"--bind=127.0.0.1:{port}",
            "--workers=2",
            "--log-level=warning",
            # Two servers run at once: without this both would claim the same control socket.
            "--no-control-socket",
        ],
        cwd=BASE_DIR,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": BENCH_SETTINGS, **environment},
    )
    return process, f"http://127.0.0.1:{port}"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    request = urllib.request.Request(url, headers={"X-Forwarded-Proto": "https"})
    while True:
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            if time.monotonic() > deadline:
                raise CommandError(f"gunicorn did not answer {url} in {timeout:.0f} s.") from None
            time.sleep(0.2)


WRK_RATE = re.compile(r"Requests/sec:\s+([\d.]+)")
WRK_P99 = re.compile(r"^\s*99%\s+([\d.]+)(us|ms|s)\s*$", re.MULTILINE)
WRK_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0}


def _wrk(wrk: str, url: str, seconds: float) -> tuple[float, float]:
    """Requests per second and p99 latency (seconds) of `url` under wrk: 2 threads, 4
    connections, the proxy's X-Forwarded-Proto header."""
    output = subprocess.run(
        [
            wrk,
            "--threads=2",
            "--connections=4",
            f"--duration={max(1, round(seconds))}s",
            "--latency",
            "--header=X-Forwarded-Proto: https",
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return parse_wrk(output)


def parse_wrk(output: str) -> tuple[float, float]:
    """Requests per second and p99 latency in seconds from `wrk --latency` output."""
    if "Non-2xx or 3xx responses" in output:
        raise CommandError(f"wrk saw error responses:\n{output}")
    rate, p99 = WRK_RATE.search(output), WRK_P99.search(output)
    if not rate or not p99:
        raise CommandError(f"Unexpected wrk output:\n{output}")
    return float(rate.group(1)), float(p99.group(1)) * WRK_UNITS[p99.group(2)]


# --- The table --------------------------------------------------------------------------------


def table(results: dict[str, Any]) -> str:
    """One table for every database: median, ratio to its floor, target, verdict."""
    databases = results["databases"]
    lines = [
        f"Registry benchmark: {results['organizations']:,} organizations, "
        f"{results['people']:,} people (seed {results['seed']}); median of {results['runs']} "
        f"run{'s' * (results['runs'] != 1)} ({results['requests_per_run']} requests each for "
        "pages). Ratios compare with the floor of the same run and database.",
        "",
    ]
    width = max(len(label) for label, _, _ in FIGURES.values()) + 2
    head = f"{'figure':<{width}}{'target':>8}"
    rule = "-" * (width + 8)
    for result in databases.values():
        title = f"{result['database']['vendor']} {result['database']['version']}"
        head += f"  {title:>32}"
        rule += "-" * 34
    lines += [
        head,
        f"{'':<{width + 8}}"
        + "".join(f"  {'median':>12}{'q':>5}{'ratio':>8}{'':>7}" for _ in databases),
        rule,
    ]
    for name, (label, _floor, target) in FIGURES.items():
        line = f"{label:<{width}}{target:>8}"
        for result in databases.values():
            figure = result["figures"].get(name)
            if figure is None:
                line += f"  {'not measured':>32}"
                continue
            value = figure["median_seconds"]
            shown = (
                f"{1 / value:,.0f}/s" if name.startswith(("http", "floor_http")) else _ms(value)
            )
            queries = str(figure.get("queries", ""))
            ratio = f"{figure['ratio']:.2f}x" if "ratio" in figure else ""
            verdict = ("met" if figure["met"] else "MISSED") if "met" in figure else ""
            line += f"  {shown:>12}{queries:>5}{ratio:>8}{verdict:>7}"
        lines.append(line)
    lines.append("")
    for name, result in databases.items():
        details = result["details"]
        lines.append(f"{name}: " + _details(details))
        if "command_import" in result:
            lines.append("  `import_registry organizations FILE` (a whole process, with history):")
            lines.append(describe(result["command_import"]))
        failed = [check for check, ok in result["checks"].items() if ok is False]
        passed = [check for check, ok in result["checks"].items() if ok]
        lines.append(f"  checks passed: {', '.join(passed) or 'none'}")
        if failed:
            lines.append(f"  CHECKS FAILED: {', '.join(failed)}")
    return "\n".join(lines)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms" if seconds < 10 else f"{seconds:,.1f} s"


def _details(details: dict[str, Any]) -> str:
    parts = [
        f"generated in {details['generate_seconds']} s",
        f"typical unit {details['typical']['id']} ({details['typical']['descendants']} "
        "descendants)",
        f"large unit {details['large']['id']} ({details['large']['descendants']} descendants)",
        "searches "
        + ", ".join(
            f"“{search['q']}” ({search['matches']} matches)"
            for search in details["searches"].values()
        ),
        f"moved {details['move']['units']} units",
        f"read as on {details['dated']['on']} ({details['dated']['placements_in_force']} "
        "earlier placements in force in the large unit's subtree)",
        f"export peak memory {details['csv']['export_peak_megabytes']} MB",
    ]
    http = details.get("http")
    if isinstance(http, dict):
        p99 = http["p99_milliseconds"]
        parts.append(
            f"p99 latency {p99['floor_http']} ms (floor), {p99['http_organization']} ms "
            f"(organization page), {p99['http_organization_rendered']} ms (rendered)"
        )
    elif http:
        parts.append(f"HTTP {http}")
    if "changes" in details:
        parts.append(details["changes"])
    past = details.get("reform_imports")
    if isinstance(past, dict):
        parts += [
            f"import_registry events + placements, {size} ({past[size]['events']:,} events, "
            f"{past[size]['placements']:,} placements): {past[size]['median_seconds']} s, "
            f"floor (bulk_create) {past[size]['floor_seconds']} s, {past[size]['ratio']}x, "
            f"{past[size]['per_row_ms']} ms a row"
            for size in ("quarter", "all")
        ]
        parts.append(f"per-row cost, all over a quarter: {past['per_row_growth']}")
    elif past:
        parts.append(past)
    return "; ".join(parts)
