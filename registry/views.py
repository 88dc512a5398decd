"""Public, read-only pages."""

from __future__ import annotations

import codecs
import itertools

from django.core.paginator import Paginator
from django.db.models import Count, Prefetch, Q
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils.safestring import mark_safe
from django.views.generic import DetailView

from .charts import organization_chart
from .csvcodec import csv_lines
from .exports import organization_rows, post_rows
from .models import Holding, Kind, Organization, Person, Succession
from .trees import children_by_parent, outline

SEARCH_MAX_LENGTH = 200
SEARCH_PAGE_SIZE = 50


def home(request):
    roots = list(Organization.objects.roots().with_labels())
    offices = list(Organization.objects.filter(level=1).with_labels())
    units_by_section = {
        (row["parent_id"], row["kind__section"]): row["total"]
        # order_by(): the tree manager's default ordering would split the GROUP BY per row.
        for row in Organization.objects.filter(level=2)
        .order_by()
        .values("parent_id", "kind__section")
        .annotate(total=Count("pk"))
    }
    offices_by_root = children_by_parent(offices)
    bodies = [
        {
            "organization": root,
            "offices": [
                {
                    "organization": office,
                    "departments": units_by_section.get((office.pk, Kind.Section.STRUCTURE), 0),
                    "affiliated": units_by_section.get((office.pk, Kind.Section.AFFILIATED), 0),
                }
                for office in offices_by_root.get(root.pk, ())
            ],
        }
        for root in roots
    ]
    totals = {"organizations": Organization.objects.count(), "people": Person.objects.count()}
    return render(request, "registry/home.html", {"bodies": bodies, "totals": totals})


class OrganizationDetailView(DetailView):
    """One organization with everything the registry knows of it.

    The number of queries is fixed: it does not grow with the subtree or with the posts.
    """

    queryset = Organization.objects.with_labels().select_related("parent")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        organization = self.object
        descendants = list(organization.get_descendants().with_labels())
        children = children_by_parent(descendants)
        direct = children.get(organization.pk, [])
        links = list(
            Succession.objects.filter(
                Q(successor=organization) | Q(predecessor=organization)
            ).select_related("predecessor", "successor")
        )
        context.update(
            ancestors=list(organization.get_ancestors()),
            posts=organization.posts.prefetch_related(
                Prefetch("holdings", queryset=Holding.objects.select_related("person"))
            ),
            departments=outline([c for c in direct if not c.kind.is_affiliated], children),
            affiliated=outline([c for c in direct if c.kind.is_affiliated], children),
            predecessors=[link for link in links if link.successor_id == organization.pk],
            successors=[link for link in links if link.predecessor_id == organization.pk],
            citations=organization.citations.select_related("source"),
            # Built with ElementTree from the rows above, so every name is escaped.
            chart=mark_safe(organization_chart(organization, children)) if direct else "",
        )
        return context


def organization_chart_svg(request, pk):
    """The organization chart as a standalone SVG file (links are absolute, for reports)."""
    organization = get_object_or_404(Organization.objects.with_labels(), pk=pk)
    descendants = list(organization.get_descendants().with_labels())
    svg = organization_chart(
        organization,
        children_by_parent(descendants),
        url_for=lambda node: request.build_absolute_uri(node.get_absolute_url()),
    )
    response = HttpResponse(
        '<?xml version="1.0" encoding="UTF-8"?>\n' + svg,
        content_type="image/svg+xml; charset=utf-8",
    )
    response["Content-Disposition"] = f'inline; filename="{organization.pk}-chart.svg"'
    return response


class PersonDetailView(DetailView):
    queryset = Person.objects.prefetch_related("sources")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["holdings"] = (
            self.object.holdings.select_related("post__organization__kind")
            .order_by("post__organization__tree_id", "post__organization__lft", "post__position")
            .all()
        )
        return context


def _clean_query(raw: str) -> str:
    # NUL cannot be stored or compared in PostgreSQL text; whitespace runs mean nothing here.
    return " ".join(raw.replace("\x00", "").split())


def search(request):
    raw = request.GET.get("q", "")
    query = _clean_query(raw)
    too_long = len(query) > SEARCH_MAX_LENGTH
    context = {"query": query, "too_long": too_long, "max_length": SEARCH_MAX_LENGTH}
    if query and not too_long:
        matches = Organization.objects.matching(query).with_labels().select_related("parent")
        page = Paginator(matches, SEARCH_PAGE_SIZE).get_page(request.GET.get("page"))
        roots = {
            root.tree_id: root
            for root in Organization.objects.roots()
            .with_labels()
            .filter(tree_id__in={node.tree_id for node in page.object_list})
        }
        context.update(
            page=page,
            results=[(node, roots.get(node.tree_id)) for node in page.object_list],
            people=Person.objects.matching(query)[:SEARCH_PAGE_SIZE],
        )
    return render(request, "registry/search.html", context)


def _csv_download(request, dataset: str, rows_for) -> StreamingHttpResponse:
    """Stream a whole dataset (or `?root=ID`'s subtree) as CSV; `?excel=1` adds a UTF-8 BOM."""
    root = None
    name = dataset
    if request.GET.get("root"):
        root = get_object_or_404(Organization, pk=request.GET["root"])
        name = f"{dataset}-{root.pk}"
    rows = rows_for(root)
    lines = csv_lines(next(rows), rows)
    if request.GET.get("excel"):
        lines = itertools.chain([codecs.BOM_UTF8.decode()], lines)
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
    return response


def organizations_csv(request):
    return _csv_download(request, "organizations", organization_rows)


def posts_csv(request):
    return _csv_download(request, "posts", post_rows)
