from django.core.management.base import BaseCommand

from registry.services import seed_load


class Command(BaseCommand):
    help = (
        "Load the seed registry (both General Offices) from fixtures/seed.json, once. "
        "Does nothing when it is already loaded, so curators' edits are kept."
    )

    def handle(self, *args, **options) -> None:
        loaded = seed_load()
        if options["verbosity"] >= 1:
            self.stdout.write(
                self.style.SUCCESS("Seed registry loaded.")
                if loaded
                else "Seed registry already present; left as it is."
            )
