from django.apps import AppConfig


class RegistryConfig(AppConfig):
    name = "registry"
    verbose_name = "Registry"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from .roles import sync_roles_after_migrate
        from .triggers import triggers_after_migrate

        # Roles must track the models: every `migrate` brings the groups' permissions up to date.
        post_migrate.connect(sync_roles_after_migrate, sender=self)
        # A migration may drop triggers (SQLite remakes a table to alter it) or add a table:
        # every `migrate` puts back what is missing (registry/triggers.py).
        post_migrate.connect(triggers_after_migrate, sender=self)
