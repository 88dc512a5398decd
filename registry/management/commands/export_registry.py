import codecs
import sys

from django.core.management.base import BaseCommand, CommandError

from registry.csvcodec import csv_lines
from registry.exports import event_rows, organization_rows, placement_rows, post_rows
from registry.models import Organization

EXPORTERS = {
    "organizations": organization_rows,
    "posts": post_rows,
    "placements": placement_rows,
    "events": event_rows,
}


class Command(BaseCommand):
    help = (
        "Export organizations, posts, placements or events as CSV (see docs/csv.md), to stdout "
        "or --output."
    )

    def add_arguments(self, parser):
        parser.add_argument("dataset", choices=sorted(EXPORTERS))
        parser.add_argument("--output", "-o", help="Write to this file instead of stdout.")
        parser.add_argument("--root", help="Only this organization (its id) and its subtree.")
        parser.add_argument(
            "--excel", action="store_true", help="Start with a UTF-8 BOM, as Excel expects."
        )

    def handle(self, *args, dataset: str, output: str | None, root: str | None, excel: bool, **o):
        subtree = None
        if root:
            subtree = Organization.objects.filter(pk=root).first()
            if subtree is None:
                raise CommandError(f"No organization has the id “{root}”.")
        rows = EXPORTERS[dataset](subtree)
        lines = csv_lines(next(rows), rows)
        with (
            open(output, "w", encoding="utf-8", newline="")
            if output
            else open(sys.stdout.fileno(), "w", encoding="utf-8", newline="", closefd=False)
        ) as stream:
            if excel:
                stream.write(codecs.BOM_UTF8.decode())
            for line in lines:
                stream.write(line)
