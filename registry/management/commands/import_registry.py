import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from registry import schema
from registry.services import csv_import


class Command(BaseCommand):
    help = (
        "Import a CSV file of organizations, posts, placements or events (see docs/csv.md). "
        "All or nothing: a file with any bad row writes nothing and every problem is listed. "
        "Exit status 0 when "
        "applied (or, with --dry-run, when it would apply), 1 when the file was rejected."
    )

    def add_arguments(self, parser):
        # Not argparse's `choices`: the datasets' own check refuses an unknown name, in the
        # same words as every other caller gets.
        parser.add_argument("dataset", help=f"What the file holds: {', '.join(schema.DATASETS)}.")
        parser.add_argument("file", help="The CSV file, or - for standard input.")
        parser.add_argument(
            "--dry-run", action="store_true", help="Check and report, write nothing."
        )
        parser.add_argument(
            "--encoding",
            help="The file's encoding (e.g. utf-8, gb18030). Default: detect UTF-8 "
            "(with or without BOM), UTF-16 with BOM, or GB18030/GBK.",
        )

    def handle(self, *args, dataset: str, file: str, dry_run: bool, encoding: str | None, **o):
        try:
            schema.dataset(dataset)
        except ValueError as error:
            raise CommandError(str(error)) from None
        try:
            data = sys.stdin.buffer.read() if file == "-" else Path(file).read_bytes()
        except OSError as error:
            raise CommandError(f"Cannot read {file}: {error.strerror}.") from error
        bar = ProgressBar(self.stderr) if self.stderr.isatty() else None
        name = "standard input" if file == "-" else Path(file).name
        report = csv_import(
            dataset, data, file_name=name, dry_run=dry_run, encoding=encoding, progress=bar
        )
        if bar:
            bar.finish()
        for problem in report.problems:
            self.stderr.write(str(problem))
        if report.problems:
            raise CommandError(report.summary())
        self.stdout.write(self.style.SUCCESS(report.summary()))
        if o["verbosity"] >= 2:
            for outcome in report.outcomes:
                if outcome.action != "unchanged":
                    details = f" ({'; '.join(outcome.changes)})" if outcome.changes else ""
                    self.stdout.write(f"{outcome.where}: {outcome.action} {outcome.key}{details}")


class ProgressBar:
    """A one-line progress bar for terminals; never used when output is redirected."""

    def __init__(self, stream, width: int = 30):
        self.stream = stream
        self.width = width

    def __call__(self, stage: str, done: int, total: int) -> None:
        filled = int(self.width * done / total) if total else self.width
        self.stream.write(
            f"\r{stage:>9} [{'#' * filled}{'.' * (self.width - filled)}] {done}/{total}",
            ending="",
        )
        self.stream.flush()

    def finish(self) -> None:
        self.stream.write("\r" + " " * (self.width + 40) + "\r", ending="")
