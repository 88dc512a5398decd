from django.core.management.base import BaseCommand

from registry.roles import sync_roles


class Command(BaseCommand):
    help = "Create or update the staff groups (Editors, Viewers) and their permissions."

    def handle(self, *args, **options) -> None:
        for group in sync_roles():
            self.stdout.write(f"{group.name}: {group.permissions.count()} permissions.")
