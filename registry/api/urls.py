from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from . import views
from .views import api_endpoint

app_name = "api"


def _organization(request, pk):
    return views.Organization.objects.filter(pk=pk)


urlpatterns = [
    path("organizations/", api_endpoint(views.OrganizationList.as_view()), name="organizations"),
    path(
        "organizations/<slug:pk>/",
        api_endpoint(views.OrganizationDetail.as_view(), subject=_organization),
        name="organization-detail",
    ),
    path(
        "organizations/<slug:pk>/subtree/",
        api_endpoint(views.OrganizationSubtree.as_view(), subject=_organization),
        name="organization-subtree",
    ),
    path(
        "organizations/<slug:pk>.jsonld",
        api_endpoint(views.organization_linked_data, subject=_organization),
        name="organization-linked-data",
    ),
    path("persons/", api_endpoint(views.PersonList.as_view()), name="persons"),
    path(
        "persons/<slug:pk>.jsonld",
        api_endpoint(
            views.person_linked_data,
            subject=lambda request, pk: views.Person.objects.filter(pk=pk),
        ),
        name="person-linked-data",
    ),
    path(
        "persons/<slug:pk>/",
        api_endpoint(
            views.PersonDetail.as_view(),
            subject=lambda request, pk: views.Person.objects.filter(pk=pk),
        ),
        name="person-detail",
    ),
    path("posts/", api_endpoint(views.PostList.as_view()), name="posts"),
    path(
        "posts/<int:pk>/",
        api_endpoint(
            views.PostDetail.as_view(),
            subject=lambda request, pk: views.Post.objects.filter(pk=pk),
        ),
        name="post-detail",
    ),
    path("memberships/", api_endpoint(views.MembershipList.as_view()), name="memberships"),
    path(
        "memberships/<int:pk>/",
        api_endpoint(
            views.MembershipDetail.as_view(),
            subject=lambda request, pk: views.Holding.objects.filter(pk=pk),
        ),
        name="membership-detail",
    ),
    path("schema/", api_endpoint(SpectacularAPIView.as_view()), name="schema"),
    path(
        "docs/",
        api_endpoint(
            SpectacularSwaggerSplitView.as_view(
                url_name="api:schema", template_name="registry/api/docs.html"
            )
        ),
        name="docs",
    ),
    # Any other address under the API is a JSON 404 too, never the site's HTML page.
    re_path(r"^", views.not_found, name="not-found"),
]
