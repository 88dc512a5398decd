"""Curation: staff edit the registry here (the Django admin, registered by these modules)."""

from . import organizations, records  # noqa: F401  (each registers its admins)
