from django.core.management.base import BaseCommand, CommandError

from registry.resources import UPLOAD_MAX_AGE, upload_folder, uploads_sweep


class Command(BaseCommand):
    help = (
        "Remove admin CSV uploads that were previewed but never confirmed. Each new preview "
        "sweeps too; run this from cron where previews are rare."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--hours",
            type=float,
            default=UPLOAD_MAX_AGE / 3600,
            help="Remove uploads older than this many hours (default: %(default)s).",
        )

    def handle(self, *args, hours: float, **options):
        if hours < 0:
            raise CommandError("--hours cannot be negative.")
        removed = uploads_sweep(max_age=hours * 3600)
        self.stdout.write(f"Removed {removed} unconfirmed upload file(s) from {upload_folder()}.")
