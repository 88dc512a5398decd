from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from devtools.benchmark import size_arguments
from devtools.services import synthetic_registry_load


class Command(BaseCommand):
    help = (
        "Add a synthetic registry (for benchmarks and demonstrations): many top-level bodies, "
        "trees up to six levels deep with uneven branching, other names in English and Chinese, "
        "posts and their holders. The same --seed always gives the same registry; running the "
        "command again with the same arguments changes nothing."
    )

    def add_arguments(self, parser):
        size_arguments(parser, organizations=1000, people=200)

    def handle(self, *args, organizations: int, people: int, seed: int, **options) -> None:
        if organizations < 1 or people < 0:
            raise CommandError("--organizations must be at least 1 and --people at least 0.")
        try:
            units, posts = synthetic_registry_load(
                organizations=organizations, people=people, seed=seed
            )
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from error
        if options["verbosity"] >= 1:
            self.stdout.write(self.style.SUCCESS(units.summary()))
            self.stdout.write(self.style.SUCCESS(posts.summary()))
