"""Benchmark CSV import and export against what the database driver alone can do.

A benchmark, not a test: the seconds depend on the machine, so it reports them next to a floor
measured on the same machine and database (the driver's `executemany` INSERT of the same rows,
and a raw cursor loop into `csv.writer`), and compares the ratios with the targets. On
PostgreSQL it also times COPY of the same rows, as a reference only: the import writes with
COPY there, which is faster than the executemany floor the targets are defined by.

Everything happens inside one transaction that is rolled back at the end, so the database is
left as it was: registry rows are deleted first (so the import really goes into an empty
registry), each run works in a savepoint that is rolled back, and the row counts of every
registry table are compared before and after. No row changes; on PostgreSQL two things outside
the rows do: sequences move on (they are never rolled back) and the rolled-back rows stay as
dead space until (auto)vacuum reclaims it. The import locks the organizations table while it
runs, so do not run this against a database that curators are writing to.

Caveat for reading PostgreSQL figures: the imported rows are never committed, so autovacuum never
analyzes them and the export's queries are planned with the statistics of the registry as it
was; and each run's rolled-back rows slow the next runs a little (see the per-run seconds in the
JSON). Running ANALYZE here would fix the first, but its row estimates are not rolled back.
"""

from __future__ import annotations

import csv
import gc
import hashlib
import json
import statistics
import time
import tracemalloc
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.core.management.base import CommandError
from django.db import connection, transaction
from django.test.utils import override_settings

from devtools.benchmark import (
    BenchmarkCommand,
    Rollback,
    database_description,
    rolled_back,
    size_arguments,
)
from devtools.synthetic import organization_rows as synthetic_rows
from registry.csvcodec import csv_lines
from registry.database import insert_rows
from registry.exports import organization_rows as exported_rows
from registry.imports import ImportReport, import_organizations
from registry.models import HISTORY_ROOTS, REGISTRY_MODELS, Organization
from registry.names import organization_pinyin_key
from registry.trees import nested_set_layout, tree_order

# figure: (short name, what it measures, its floor)
FIGURES = {
    "floor_import": ("import floor", "floor: executemany INSERT", None),
    "import": ("import", "import into an empty registry", "floor_import"),
    "reimport": ("re-import", "re-import of the unchanged file", "floor_import"),
    "floor_export": ("export floor", "floor: cursor loop into csv.writer", None),
    "export": ("export", "export (organization_rows, csv_lines)", "floor_export"),
}
# Timed where the database offers it, shown but not a floor: figure -> label.
REFERENCES = {"copy_import": "reference, not a floor: COPY"}
# The targets: (figure, compared with, the most it may take as a multiple of that).
TARGETS = (
    ("import", "floor_import", 10.0),
    ("reimport", "import", 1.0),
    ("export", "floor_export", 5.0),
)


class _Sink:
    """Where exports write: counts characters, keeps nothing."""

    def __init__(self) -> None:
        self.size = 0

    def write(self, text: str) -> int:
        self.size += len(text)
        return len(text)


class _HashingSink(_Sink):
    """Keeps only a digest of what was written, to compare with the imported file."""

    def __init__(self) -> None:
        super().__init__()
        self.digest = hashlib.sha256()

    def write(self, text: str) -> int:
        self.digest.update(text.encode())
        return super().write(text)


class Command(BenchmarkCommand):
    help = (
        "Benchmark CSV import and export of a synthetic registry against the database "
        "driver's own speed (executemany INSERT, cursor to csv.writer), on the configured "
        "database. Everything is rolled back: the database is left as it was."
    )

    def add_arguments(self, parser):
        size_arguments(parser, organizations=100_000, runs=3)

    def handle(
        self, *args, organizations: int, runs: int, seed: int, json_path: str | None, **options
    ) -> None:
        if organizations < 1 or runs < 1:
            raise CommandError("--organizations and --runs must be at least 1.")
        # With DEBUG on (the dev settings), Django records every query and, on SQLite, runs
        # extra queries to quote the parameters of each; production does neither.
        with override_settings(DEBUG=False):
            results = self._bench(organizations, runs, seed)
        self._print(results)
        if json_path:
            Path(json_path).write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
        if not results["checks"]["database_unchanged"]:
            raise CommandError("The database's row counts changed; see above.")

    # --- The benchmark ----------------------------------------------------------------------

    def _bench(self, count: int, runs: int, seed: int) -> dict[str, Any]:
        before = _row_counts()
        self.note(f"Generating {count:,} organizations (seed {seed})...")
        rows = synthetic_rows(count, seed)
        header = next(rows)
        body = list(rows)
        data = "".join(csv_lines(header, body)).encode()
        columns, table_rows = _table_rows(header, body)

        seconds: dict[str, list[float]] = defaultdict(list)
        checks: dict[str, Any] = {}
        try:
            with transaction.atomic():
                _empty_registry()
                for run in range(1, runs + 1):
                    with rolled_back():
                        seconds["floor_import"].append(_timed(_insert, columns, table_rows)[0])
                    if connection.vendor == "postgresql":
                        with rolled_back():
                            seconds["copy_import"].append(_timed(_copy, columns, table_rows)[0])
                    with rolled_back():
                        self._run(data, count, seconds)
                        if run == runs:
                            checks.update(self._checks(data))
                    self.note(
                        f"Run {run}/{runs}: "
                        + ", ".join(f"{name} {times[-1]:.2f} s" for name, times in seconds.items())
                    )
                raise Rollback
        except Rollback:
            pass
        checks["database_unchanged"] = _row_counts() == before
        checks["row_counts"] = before

        medians = {name: statistics.median(times) for name, times in seconds.items()}
        return {
            "database": database_description(),
            "organizations": count,
            "runs": runs,
            "seed": seed,
            "csv_megabytes": round(len(data) / 1e6, 1),
            "figures": {
                name: {
                    "name": short,
                    "label": label,
                    "median_seconds": round(medians[name], 3),
                    "rows_per_second": round(count / medians[name]),
                    "ratio_to_floor": round(medians[name] / medians[floor or name], 2),
                    "seconds": [round(value, 3) for value in seconds[name]],
                }
                for name, (short, label, floor) in FIGURES.items()
            },
            "targets": [
                {
                    "figure": name,
                    "compared_with": base,
                    "at_most": limit,
                    "ratio": round(medians[name] / medians[base], 2),
                    "met": medians[name] <= limit * medians[base],
                }
                for name, base, limit in TARGETS
            ],
            "references": {
                name: {
                    "label": label,
                    "median_seconds": round(medians[name], 3),
                    "rows_per_second": round(count / medians[name]),
                    "import_ratio": round(medians["import"] / medians[name], 2),
                    "seconds": [round(value, 3) for value in seconds[name]],
                }
                for name, label in REFERENCES.items()
                if name in seconds
            },
            "checks": checks,
        }

    def _run(self, data: bytes, count: int, seconds: dict[str, list[float]]) -> None:
        """One run of everything but the floor import, from an empty registry."""
        elapsed, report = _timed(import_organizations, data)
        _expect(report, new=count, changed=count)
        seconds["import"].append(elapsed)

        elapsed, report = _timed(import_organizations, data)
        _expect(report, new=0, changed=0)
        seconds["reimport"].append(elapsed)

        seconds["floor_export"].append(_timed(_raw_export, _Sink())[0])
        seconds["export"].append(_timed(_export, _Sink())[0])

    def _checks(self, data: bytes) -> dict[str, Any]:
        """Untimed checks on the imported registry: export memory, round trip, tree."""
        sink = _HashingSink()
        gc.collect()
        tracemalloc.start()
        try:
            baseline = tracemalloc.get_traced_memory()[0]
            _export(sink)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

        self.note("Checking the tree with rebuild()...")
        snapshot = Organization.objects.nested_sets()
        Organization.objects.rebuild()
        rebuilt = Organization.objects.nested_sets()
        return {
            "export_peak_megabytes": round((peak - baseline) / 1e6, 1),
            "export_identical_to_imported_file": (
                sink.digest.digest() == hashlib.sha256(data).digest()
            ),
            "tree_valid": snapshot == rebuilt,
        }

    # --- Output -----------------------------------------------------------------------------

    def _print(self, results: dict[str, Any]) -> None:
        write = self.stdout.write
        database, checks = results["database"], results["checks"]
        write(
            f"CSV benchmark: {results['organizations']:,} organizations (seed {results['seed']}, "
            f"{results['csv_megabytes']} MB of CSV), median of {results['runs']} run"
            f"{'s' * (results['runs'] != 1)}"
        )
        write(f"Database: {database['vendor']} {database['version']} ({database['name']})")
        write("")
        write(f"{'figure':<40} {'median seconds':>14} {'rows/s':>9} {'vs its floor':>12}")
        for figure in results["figures"].values():
            write(
                f"{figure['label']:<40} {figure['median_seconds']:>14.3f} "
                f"{figure['rows_per_second']:>9,} {figure['ratio_to_floor']:>11.2f}x"
            )
        for reference in results["references"].values():
            write(
                f"{reference['label']:<40} {reference['median_seconds']:>14.3f} "
                f"{reference['rows_per_second']:>9,}  import {reference['import_ratio']:.2f}x"
            )
        write("")
        write("Targets:")
        for target in results["targets"]:
            name = results["figures"][target["figure"]]["name"]
            base = results["figures"][target["compared_with"]]["name"]
            verdict = "met" if target["met"] else "NOT MET"
            write(
                f"  {name:<10} <= {target['at_most']:>4g}x {base:<13} "
                f"{target['ratio']:>6.2f}x  {self._styled(verdict, target['met'])}"
            )
        write("")
        write(f"Export peak memory growth (tracemalloc): {checks['export_peak_megabytes']} MB")
        identical = checks["export_identical_to_imported_file"]
        write(f"Export identical to the imported file: {self._yes(identical)}")
        write(f"tree valid: {self._yes(checks['tree_valid'])}")
        write(f"Database unchanged (row counts): {self._yes(checks['database_unchanged'])}")

    def _yes(self, value: bool) -> str:
        return self._styled("yes" if value else "no", value)

    def _styled(self, text: str, good: bool) -> str:
        return self.style.SUCCESS(text) if good else self.style.ERROR(text)


# --- Steps ------------------------------------------------------------------------------------


def _timed(function: Callable[..., Any], *args: Any) -> tuple[float, Any]:
    gc.collect()
    start = time.perf_counter()
    result = function(*args)
    return time.perf_counter() - start, result


def _expect(report: ImportReport, *, new: int, changed: int) -> None:
    if report.ok and report.count("new") == new and report.changed == changed:
        return
    problems = "\n".join(str(problem) for problem in report.problems[:10])
    raise CommandError(
        f"Unexpected import result (wanted {new} new, {changed} changed): "
        f"{report.summary()}\n{problems}"
    )


def _row_counts() -> dict[str, int]:
    return {model._meta.label: model.objects.count() for model in REGISTRY_MODELS}


def _empty_registry() -> None:
    """Delete registry rows (people and sources may stay). Organizations go by raw SQL:
    django-mptt's per-row delete and PROTECT links between organizations refuse a queryset
    delete of a whole tree."""
    for model in reversed(REGISTRY_MODELS):
        if model not in HISTORY_ROOTS:  # the rows that belong to organizations
            model.objects.all().delete()
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {connection.ops.quote_name(Organization._meta.db_table)}")


def _table_rows(header: list[str], rows: list[list[str]]) -> tuple[list[str], list[tuple]]:
    """The generated rows as complete rows of the organizations table: the columns, and one
    tuple per row with the tree fields computed here (siblings by `order`, roots in order)."""
    cell = {name: index for index, name in enumerate(header)}
    children: dict[str | None, list[tuple[int, str]]] = defaultdict(list)
    for row in rows:
        children[row[cell["parent"]] or None].append((int(row[cell["order"]]), row[cell["id"]]))
    ordered = {parent: [pk for _, pk in sorted(nodes)] for parent, nodes in children.items()}
    tree = nested_set_layout(ordered, ((root, i) for i, root in enumerate(ordered[None], 1)))

    fields = Organization._meta.concrete_fields
    table_rows = []
    for row in rows:
        values = {name: row[index] for name, index in cell.items()}
        values.update(tree[values["id"]]._asdict())
        values["parent_id"] = values["parent"] or None
        values["kind_id"] = values["kind"]
        values["rank_id"] = values["rank"] or None
        values["pinyin_key"] = organization_pinyin_key(
            values["name_zh"], values["short_name_zh"], values["pinyin"]
        )
        table_rows.append(tuple(values[field.attname] for field in fields))
    return [field.column for field in fields], table_rows


def _raw_cursor():
    """The driver's own cursor, without Django's wrapper."""
    connection.ensure_connection()
    return connection.connection.cursor()


def _insert(columns: list[str], table_rows: list[tuple]) -> None:
    """The import floor: one executemany INSERT of complete rows."""
    marker = "?" if connection.Database.paramstyle == "qmark" else "%s"
    table = connection.ops.quote_name(Organization._meta.db_table)
    names = ", ".join(connection.ops.quote_name(column) for column in columns)
    cursor = _raw_cursor()
    try:
        cursor.executemany(
            f"INSERT INTO {table} ({names}) VALUES ({', '.join([marker] * len(columns))})",
            table_rows,
        )
    finally:
        cursor.close()


def _copy(columns: list[str], table_rows: list[tuple]) -> None:
    """A reference on PostgreSQL: COPY of the same complete rows, through the import's own
    bulk write (`insert_rows`)."""
    fields = {field.column: field.attname for field in Organization._meta.concrete_fields}
    insert_rows(Organization, tuple(fields[column] for column in columns), table_rows)


def _raw_export(sink: _Sink) -> None:
    """The export floor: every column of every organization, in tree order, to csv.writer."""
    columns = [field.column for field in Organization._meta.concrete_fields]
    names = ", ".join(connection.ops.quote_name(column) for column in columns)
    table = connection.ops.quote_name(Organization._meta.db_table)
    order = ", ".join(
        connection.ops.quote_name(Organization._meta.get_field(name).column)
        for name in tree_order()
    )
    writer = csv.writer(sink, lineterminator="\r\n")
    writer.writerow(columns)
    cursor = _raw_cursor()
    try:
        cursor.execute(f"SELECT {names} FROM {table} ORDER BY {order}")
        for row in cursor:
            writer.writerow(row)
    finally:
        cursor.close()


def _export(sink: _Sink) -> None:
    """What the registry's export does, line by line into the sink."""
    rows = exported_rows()
    for line in csv_lines(next(rows), rows):
        sink.write(line)
