from django.core.management.base import BaseCommand

from registry.history import history_initialize


class Command(BaseCommand):
    help = (
        "Give every record that has no history yet an initial version (rows loaded or imported "
        "before history was kept), so that it can be recovered after a delete. Safe to run "
        "again: records that have a version are left alone."
    )

    def handle(self, *args, **options) -> None:
        written = history_initialize(comment="Initial version (history started).")
        if options["verbosity"] >= 1:
            done = ", ".join(f"{count} {name}" for name, count in written.items() if count)
            self.stdout.write(
                self.style.SUCCESS(f"Initial versions recorded: {done}.")
                if done
                else "Every record already has a version."
            )
