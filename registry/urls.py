from django.urls import path

from . import feeds, views
from .caching import public_page

app_name = "registry"


# Every page here is public and the same for everyone: each is served with the registry's ETag
# and may be held briefly by a CDN (caching.py). A page about one record names it (`subject`),
# so that a stale ETag never answers for a record that is gone. A page that names the day it
# is served (a citation's retrieval date) is `daily`.
def _page(route: str, view, name: str, subject=None, *, daily: bool = False):
    return path(route, public_page(views.dated(view), subject=subject, daily=daily), name=name)


urlpatterns = [
    _page("", views.home, "home"),
    _page(
        "organizations/<slug:pk>/",
        views.OrganizationDetailView.as_view(),
        "organization",
        views.organization_in_url,
        daily=True,
    ),
    _page(
        "organizations/<slug:pk>/cite.bib",
        views.organization_cite_bib,
        "organization-cite-bib",
        views.organization_in_url,
        daily=True,
    ),
    _page(
        "organizations/<slug:pk>/cite.json",
        views.organization_cite_json,
        "organization-cite-json",
        views.organization_in_url,
        daily=True,
    ),
    _page(
        "organizations/<slug:pk>/chart.svg",
        views.organization_chart_svg,
        "organization-chart",
        views.organization_in_url,
    ),
    _page(
        "people/<slug:pk>/",
        views.PersonDetailView.as_view(),
        "person",
        views.person_in_url,
        daily=True,
    ),
    _page(
        "people/<slug:pk>/cite.bib",
        views.person_cite_bib,
        "person-cite-bib",
        views.person_in_url,
        daily=True,
    ),
    _page(
        "people/<slug:pk>/cite.json",
        views.person_cite_json,
        "person-cite-json",
        views.person_in_url,
        daily=True,
    ),
    _page("search/", views.search, "search"),
    _page("changes/", views.compare, "changes"),
    _page("changes.csv", views.changes_csv, "changes-csv", views.subtree_root),
    _page("changes.atom", feeds.ChangesFeed(), "changes-feed"),
    _page(
        "organizations/<slug:pk>/changes.atom",
        feeds.OrganizationChangesFeed(),
        "organization-changes-feed",
        views.organization_in_url,
    ),
    _page("events/<slug:pk>/", views.event, "event", views.event_in_url),
    _page("organizations.csv", views.organizations_csv, "organizations-csv", views.subtree_root),
    _page("posts.csv", views.posts_csv, "posts-csv", views.subtree_root),
    _page("placements.csv", views.placements_csv, "placements-csv", views.subtree_root),
    _page("events.csv", views.events_csv, "events-csv", views.subtree_root),
]
