from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.http.request import split_domain_port, validate_host

from registry.downloads import Addresses, build


class Command(BaseCommand):
    help = (
        "Build the bulk downloads (/downloads/) of the registry as it is now, unless they are "
        "built already, and remove older builds: for cron, or after an import, so that no "
        "reader waits for a build."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--origin",
            required=True,
            help="The site's scheme and host as readers reach it (https://registry.example.org):"
            " the documents' absolute addresses start with it, and requests to that host serve"
            " this build.",
        )

    def handle(self, *args, origin: str, **options) -> None:
        try:
            origin = Addresses(origin).origin
        except ValueError as error:
            raise CommandError(str(error)) from error
        host, _ = split_domain_port(origin.split("://", 1)[1])
        if not validate_host(host, settings.ALLOWED_HOSTS):
            raise CommandError(f"{host} is not in ALLOWED_HOSTS: the site would not serve it.")
        built = build(origin)
        if options["verbosity"] >= 1:
            self.stdout.write(
                self.style.SUCCESS(f"Downloads of registry version {built.version}: {built.path}")
            )
