from django.urls import path

from . import views
from .caching import public_page

app_name = "registry"

# Every page here is public and the same for everyone: each is served with the registry's ETag
# and may be held briefly by a CDN (caching.py). A page about one record names it (`subject`),
# so that a stale ETag never answers for a record that is gone.
urlpatterns = [
    path("", public_page(views.home), name="home"),
    path(
        "organizations/<slug:pk>/",
        public_page(views.OrganizationDetailView.as_view(), subject=views.organization_in_url),
        name="organization",
    ),
    path(
        "organizations/<slug:pk>/chart.svg",
        public_page(views.organization_chart_svg, subject=views.organization_in_url),
        name="organization-chart",
    ),
    path(
        "people/<slug:pk>/",
        public_page(views.PersonDetailView.as_view(), subject=views.person_in_url),
        name="person",
    ),
    path("search/", public_page(views.search), name="search"),
    path(
        "organizations.csv",
        public_page(views.organizations_csv, subject=views.subtree_root),
        name="organizations-csv",
    ),
    path(
        "posts.csv",
        public_page(views.posts_csv, subject=views.subtree_root),
        name="posts-csv",
    ),
]
