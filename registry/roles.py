"""Staff roles. Kept in step with the models by `migrate` and by `manage.py sync_roles`."""

from django.contrib.auth.models import Group, Permission

EDITORS = "Editors"
REGISTRY_APP = "registry"


def sync_roles() -> Group:
    """Create or update the Editors group: every permission on the registry's own models
    (view, add, change, delete), nothing on users, groups or other apps."""
    editors, _ = Group.objects.get_or_create(name=EDITORS)
    editors.permissions.set(Permission.objects.filter(content_type__app_label=REGISTRY_APP))
    return editors


def sync_roles_after_migrate(sender, using="default", **kwargs) -> None:
    if Permission.objects.using(using).filter(content_type__app_label=REGISTRY_APP).exists():
        sync_roles()
