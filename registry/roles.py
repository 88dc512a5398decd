"""Staff roles. Kept in step with the models by `migrate` and by `manage.py sync_roles`.

- Editors: view, add, change and delete every kind of registry record (history and recovery
  come with those rights).
- Viewers: see everything in the admin, change nothing.
Neither may manage users or groups; that stays with superusers.
"""

from django.contrib.auth.models import Group, Permission

EDITORS = "Editors"
VIEWERS = "Viewers"
REGISTRY_APP = "registry"


def sync_roles() -> list[Group]:
    """Create or update the staff groups with exactly their permissions."""
    registry = Permission.objects.filter(content_type__app_label=REGISTRY_APP)
    editors, _ = Group.objects.get_or_create(name=EDITORS)
    editors.permissions.set(registry)
    viewers, _ = Group.objects.get_or_create(name=VIEWERS)
    viewers.permissions.set(registry.filter(codename__startswith="view_"))
    return [editors, viewers]


def sync_roles_after_migrate(sender, using="default", **kwargs) -> None:
    if Permission.objects.using(using).filter(content_type__app_label=REGISTRY_APP).exists():
        sync_roles()
