from django.contrib import admin
from django.urls import include, path

from registry.views import favicon

admin.site.site_header = "Registry of Government Organizations: curation"
admin.site.site_title = "Registry curation"
admin.site.index_title = "Curate the registry"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("favicon.ico", favicon, name="favicon"),
    path("", include("registry.urls")),
]
