from django.core.management.base import BaseCommand

from devtools.csvdocs import DOCUMENT, with_tables


class Command(BaseCommand):
    help = "Rewrite the column tables of docs/csv.md from registry/schema.py."

    def handle(self, *args, **options):
        text = DOCUMENT.read_text(encoding="utf-8")
        new = with_tables(text)
        if new == text:
            self.stdout.write("docs/csv.md already agrees with the declarations.")
            return
        DOCUMENT.write_text(new, encoding="utf-8")
        self.stdout.write("docs/csv.md: column tables rewritten.")
