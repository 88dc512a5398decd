"""Benchmark the bulk downloads against the CSV export of the same registry.

A benchmark, not a test: seconds depend on the machine, so each figure is printed next to a
floor measured in the same run on the same registry: the site's CSV export of the whole
registry (the four files the zip holds, streamed through `csv_lines` into a sink that keeps
nothing). The issue's target: the Popolo dump within 3 times that. The zip (the same CSV,
compressed) is shown against it too.

It runs at N organizations and at 4N, so that the peak memory of each build (tracemalloc, in a
separate untimed run) can be compared: flat memory means the same peak at both sizes, once N is
at least a page of the exports (`exports.CHUNK`, 5,000 organizations: below it the page, and
with it the peak, grows with the registry).

Everything happens inside a transaction that is rolled back: the synthetic registry is added,
measured and removed; the files are written to a temporary directory.
"""

from __future__ import annotations

import datetime
import gc
import statistics
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.core.management.base import CommandError
from django.db import transaction
from django.test.utils import override_settings
from django.utils import timezone

from devtools.benchmark import (
    BenchmarkCommand,
    Rollback,
    database_description,
    size_arguments,
)
from devtools.services import synthetic_registry_load
from registry import downloads, exports
from registry.csvcodec import csv_lines
from registry.models import Holding, Organization

# The target: the Popolo dump's build within this multiple of the CSV export's time.
POPOLO_TARGET = 3.0
# Flat memory: the peak at 4N within this multiple of the peak at N.
MEMORY_GROWTH_LIMIT = 1.5
ORIGIN = "https://registry.example.org"


class _Sink:
    def write(self, data: str) -> int:
        return len(data)


def _csv_export() -> None:
    """The floor: every CSV file of the zip, as the site's downloads stream it."""
    sink = _Sink()
    for rows_for in downloads.CSV_FILES.values():
        rows = rows_for()
        for line in csv_lines(next(rows), rows):
            sink.write(line)


def _popolo(folder: Path) -> None:
    meta = {"registry": {}, "built": timezone.now().isoformat(), "origin": ORIGIN}
    downloads._write_popolo(folder / downloads.POPOLO, meta, downloads.Addresses(ORIGIN))


def _zip(folder: Path) -> None:
    downloads._write_csv_zip(folder / downloads.CSV_ZIP, timezone.now())


def _timed(function: Callable[[], Any]) -> float:
    gc.collect()
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def _peak(function: Callable[[], Any]) -> float:
    """Megabytes allocated at the most while `function` ran (tracemalloc)."""
    gc.collect()
    tracemalloc.start()
    try:
        function()
        return tracemalloc.get_traced_memory()[1] / 1e6
    finally:
        tracemalloc.stop()


class Command(BenchmarkCommand):
    help = (
        "Benchmark the bulk downloads (the Popolo dump and the CSV zip) of a synthetic registry "
        "against the CSV export of the same registry, at N and 4N organizations, with peak "
        "memory at both. Everything is rolled back."
    )

    def add_arguments(self, parser):
        size_arguments(parser, organizations=5000, runs=3)

    def handle(self, *args, organizations: int, runs: int, seed: int, **options) -> None:
        if organizations < 1 or runs < 1:
            raise CommandError("--organizations and --runs must be at least 1.")
        with override_settings(DEBUG=False), tempfile.TemporaryDirectory() as folder:
            sizes = [
                self._size(count, runs, seed, Path(folder))
                for count in (organizations, 4 * organizations)
            ]
        results = self._results(sizes, runs, seed)
        self._print(results)
        self.fail_on_checks({"downloads": results})

    def _size(self, count: int, runs: int, seed: int, folder: Path) -> dict[str, Any]:
        self.note(f"Generating {count:,} organizations (seed {seed})...")
        measured: dict[str, Any] = {}
        try:
            with transaction.atomic():
                synthetic_registry_load(organizations=count, people=count // 5, seed=seed)
                measured["memberships"] = Holding.objects.count()
                measured["organizations"] = Organization.objects.count()
                _popolo(folder)  # once untimed: what a process reads once (code, translations)
                seconds: dict[str, list[float]] = {"csv": [], "popolo": [], "zip": []}
                for run in range(1, runs + 1):
                    seconds["csv"].append(_timed(_csv_export))
                    seconds["popolo"].append(_timed(lambda: _popolo(folder)))
                    seconds["zip"].append(_timed(lambda: _zip(folder)))
                    self.note(
                        f"{count:,}, run {run}/{runs}: "
                        + ", ".join(f"{name} {times[-1]:.2f} s" for name, times in seconds.items())
                    )
                measured["seconds"] = seconds
                measured["peak_megabytes"] = {
                    "csv": _peak(_csv_export),
                    "popolo": _peak(lambda: _popolo(folder)),
                    "zip": _peak(lambda: _zip(folder)),
                }
                measured["megabytes"] = {
                    name: (folder / name).stat().st_size / 1e6
                    for name in (downloads.POPOLO, downloads.CSV_ZIP)
                }
                raise Rollback
        except Rollback:
            pass
        return measured

    def _results(self, sizes: list[dict[str, Any]], runs: int, seed: int) -> dict[str, Any]:
        figures = []
        for size in sizes:
            medians = {name: statistics.median(times) for name, times in size["seconds"].items()}
            figures.append(
                {
                    "organizations": size["organizations"],
                    "memberships": size["memberships"],
                    "median_seconds": {name: round(value, 3) for name, value in medians.items()},
                    "popolo_ratio": round(medians["popolo"] / medians["csv"], 2),
                    "zip_ratio": round(medians["zip"] / medians["csv"], 2),
                    "peak_megabytes": {k: round(v, 1) for k, v in size["peak_megabytes"].items()},
                    "megabytes": {k: round(v, 2) for k, v in size["megabytes"].items()},
                }
            )
        small, large = figures
        growth = {
            name: round(large["peak_megabytes"][name] / small["peak_megabytes"][name], 2)
            for name in ("csv", "popolo", "zip")
        }
        # The zip streams the CSV export into its entries: what it adds to the export's own
        # peak is what the zip is judged by (the export's own growth is shown beside it).
        added = [f["peak_megabytes"]["zip"] - f["peak_megabytes"]["csv"] for f in figures]
        growth["zip_beyond_csv"] = round(max(added[1], 0) / max(added[0], 0.1), 2)
        return {
            "database": database_description(),
            "runs": runs,
            "seed": seed,
            "when": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "sizes": figures,
            "memory_growth": growth,
            # Speed is a figure, met or MISSED (machines are noisy); only the checks fail a run.
            "targets": {
                f"popolo_within_{POPOLO_TARGET:g}x_csv_at_{f['organizations']}": f["popolo_ratio"]
                <= POPOLO_TARGET
                for f in figures
            },
            "checks": {
                # Below a page of the exports, a registry four times larger is a larger page.
                **{
                    f"{name}_memory_flat": growth[name] <= MEMORY_GROWTH_LIMIT
                    for name in ("popolo", "zip_beyond_csv")
                    if small["organizations"] >= exports.CHUNK
                },
            },
        }

    def _print(self, results: dict[str, Any]) -> None:
        write = self.stdout.write
        database = results["database"]
        write(
            f"Bulk downloads benchmark (seed {results['seed']}), median of {results['runs']} "
            f"run{'s' * (results['runs'] != 1)}"
        )
        write(f"Database: {database['vendor']} {database['version']} ({database['name']})")
        write("")
        write(
            f"{'organizations':>13} {'CSV export s':>12} {'Popolo s':>9} {'vs CSV':>7} "
            f"{'zip s':>7} {'vs CSV':>7}   {'peak MB: CSV':>12} {'Popolo':>7} {'zip':>6}"
            f"   {'files MB: Popolo':>16} {'zip':>6}"
        )
        for f in results["sizes"]:
            s, p, m = f["median_seconds"], f["peak_megabytes"], f["megabytes"]
            write(
                f"{f['organizations']:>13,} {s['csv']:>12.2f} {s['popolo']:>9.2f} "
                f"{f['popolo_ratio']:>6.2f}x {s['zip']:>7.2f} {f['zip_ratio']:>6.2f}x   "
                f"{p['csv']:>12.1f} {p['popolo']:>7.1f} {p['zip']:>6.1f}   "
                f"{m[downloads.POPOLO]:>16.2f} {m[downloads.CSV_ZIP]:>6.2f}"
            )
        write("")
        growth = results["memory_growth"]
        write(
            f"Peak memory at 4N / at N: Popolo {growth['popolo']:.2f}x, zip {growth['zip']:.2f}x "
            f"(beyond the CSV export's own peak: {growth['zip_beyond_csv']:.2f}x; the CSV "
            f"export alone: {growth['csv']:.2f}x)"
        )
        write(f"Flat: at most {MEMORY_GROWTH_LIMIT:g}x, from N of {exports.CHUNK:,} up.")
        for target, ok in results["targets"].items():
            write(f"  target {target}: {'met' if ok else 'MISSED'}")
        for check, ok in results["checks"].items():
            verdict = self.style.SUCCESS("passed") if ok else self.style.ERROR("FAILED")
            write(f"  check {check}: {verdict}")
