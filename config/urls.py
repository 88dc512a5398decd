from django.conf.urls.i18n import i18n_patterns
from django.contrib import admin
from django.urls import include, path
from django.utils.translation import gettext_lazy as _

from config.language import switch_language
from registry.admin.recent import recent_changes_view
from registry.downloads import download
from registry.views import favicon

admin.site.site_header = _("Registry of Government Organizations: curation")
admin.site.site_title = _("Registry curation")
admin.site.index_title = _("Curate the registry")
admin.site.index_template = "admin/registry/site_index.html"  # links to recent changes

# English at the registry's permanent unprefixed addresses, Chinese under /zh-hans/
# (config/language.py).
urlpatterns = [
    path("favicon.ico", favicon, name="favicon"),
    path("language/<slug:code>/", switch_language, name="switch-language"),
    # The API's addresses name no language: its documents carry every language.
    path("api/v1/", include("registry.api.urls")),
    # The bulk downloads name no language either: every file holds every language.
    path("downloads/<str:name>", download, name="download"),
    *i18n_patterns(
        # Recent changes across every model (registry/admin/recent.py): a page of the admin's.
        path(
            "admin/recent-changes/",
            admin.site.admin_view(recent_changes_view),
            name="admin-recent-changes",
        ),
        path("admin/", admin.site.urls),
        path("", include("registry.urls")),
        prefix_default_language=False,
    ),
]
