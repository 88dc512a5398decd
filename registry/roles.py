"""Staff roles. Kept in step with the models by `migrate` and by `manage.py sync_roles`.

- Editors: view, add, change and delete every kind of registry record (history and recovery
  come with those rights).
- Viewers: see everything in the admin, change nothing.
Neither may manage users or groups; that stays with superusers.
"""

from django.apps import apps as global_apps
from django.apps.registry import Apps
from django.db import DEFAULT_DB_ALIAS, router

EDITORS = "Editors"
VIEWERS = "Viewers"
REGISTRY_APP = "registry"


def sync_roles(*, apps: Apps = global_apps, using: str = DEFAULT_DB_ALIAS) -> list:
    """Create or update the staff groups with exactly their permissions. `apps`: the models
    as the database has them (a migration state's, inside `post_migrate`)."""
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    registry = Permission.objects.using(using).filter(content_type__app_label=REGISTRY_APP)
    editors, _ = Group.objects.using(using).get_or_create(name=EDITORS)
    editors.permissions.set(registry)
    viewers, _ = Group.objects.using(using).get_or_create(name=VIEWERS)
    viewers.permissions.set(registry.filter(codename__startswith="view_"))
    return [editors, viewers]


def sync_roles_after_migrate(
    sender, *, using: str = DEFAULT_DB_ALIAS, apps: Apps = global_apps, **kwargs
) -> None:
    """post_migrate: with the models the migrations left (`apps`), never the global ones. On a
    database migrated one registry migration at a time, auth's tables do not exist yet."""
    try:
        Permission = apps.get_model("auth", "Permission")
        apps.get_model("auth", "Group")
    except LookupError:
        return
    if not router.allow_migrate_model(using, Permission):
        return
    if Permission.objects.using(using).filter(content_type__app_label=REGISTRY_APP).exists():
        sync_roles(apps=apps, using=using)
