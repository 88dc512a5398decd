from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from registry.models import Organization
from registry.quickstatements import (
    for_quickstatements,
    parents_without_qid,
    quickstatements,
    refusals,
)
from registry.trees import tree_order_key


class Command(BaseCommand):
    help = (
        "Write organizations (by id, or --root and everything under it) as QuickStatements V1 "
        "commands for Wikidata, to stdout. See the README, Back to Wikidata."
    )

    def add_arguments(self, parser):
        parser.add_argument("ids", nargs="*", metavar="id", help="Organizations, by id.")
        parser.add_argument("--root", help="This organization (its id) and its whole subtree.")

    def handle(self, *args, ids: list[str], root: str | None, **options) -> None:
        if bool(ids) == bool(root):
            raise CommandError("Give organization ids, or --root and one id, not both.")
        if root:
            unit = Organization.objects.filter(pk=root).first()
            if unit is None:
                raise CommandError(f"No organization has the id “{root}”.")
            queryset = Organization.objects.subtree(unit)
        else:
            queryset = Organization.objects.filter(pk__in=ids)
        organizations = sorted(for_quickstatements(queryset), key=tree_order_key)
        if missing := set(ids) - {o.pk for o in organizations}:
            raise CommandError(f"No organization has the id “{'”, “'.join(sorted(missing))}”.")
        if refused := refusals(organizations):
            raise CommandError(
                "Nothing was written: "
                + "; ".join(f"{o.pk} “{o}”: {reason}" for o, reason in refused)
            )
        for organization in parents_without_qid(organizations):
            self.stderr.write(
                f"{organization.pk}: no parent organization (P749): its parent "
                f"{organization.parent_id} has no Wikidata Q-number."
            )
        for line in quickstatements(organizations, retrieved=timezone.localdate()):
            self.stdout.write(line)
