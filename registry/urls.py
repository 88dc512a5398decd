from django.urls import path

from . import views

app_name = "registry"

urlpatterns = [
    path("", views.home, name="home"),
    path("organizations/<slug:pk>/", views.OrganizationDetailView.as_view(), name="organization"),
    path(
        "organizations/<slug:pk>/chart.svg",
        views.organization_chart_svg,
        name="organization-chart",
    ),
    path("people/<slug:pk>/", views.PersonDetailView.as_view(), name="person"),
    path("search/", views.search, name="search"),
    path("organizations.csv", views.organizations_csv, name="organizations-csv"),
    path("posts.csv", views.posts_csv, name="posts-csv"),
]
