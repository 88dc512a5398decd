"""Public, read-only pages."""

from __future__ import annotations

import codecs
import itertools
from functools import cache

from django.contrib.staticfiles import finders
from django.core.paginator import Paginator
from django.db.models import Count, Prefetch, Q, QuerySet
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.html import escape
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_safe
from django.views.generic import DetailView

from .charts import organization_chart
from .csvcodec import csv_lines
from .exports import organization_rows, post_rows
from .models import Holding, Kind, Organization, Person, Succession
from .trees import OutlineRow, children_by_parent, outline, tree_order

SEARCH_MAX_LENGTH = 200
SEARCH_PAGE_SIZE = 50
HOME_PAGE_SIZE = 30
# What the departments lists and the chart show of each unit below the page's: a large unit has
# thousands, and every field left out is work not done for each of them.
OUTLINE_FIELDS = ("id", "parent", "name", "kind", "rank")
# Identifiers are lowercase: this never occurs in a URL as an identifier.
URL_SENTINEL = "IDENTIFIER"


def home(request):
    """The top-level bodies, a page at a time, each with its offices (the units right under
    it) and how many departments and institutions each office has. The queries are the same
    for any size of registry: one page of bodies, their offices, one grouped count."""
    page = Paginator(Organization.objects.roots().with_labels(), HOME_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    roots = list(page.object_list)
    offices = list(Organization.objects.filter(parent__in=[r.pk for r in roots]).with_labels())
    units_by_section = {
        (row["parent_id"], row["kind__section"]): row["total"]
        # order_by(): the tree manager's default ordering would split the GROUP BY per row.
        for row in Organization.objects.filter(parent__in=[o.pk for o in offices])
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
    # Counted from the top-level bodies' trees, without reading the whole table.
    totals = {"organizations": Organization.objects.total(), "people": Person.objects.count()}
    return render(
        request, "registry/home.html", {"bodies": bodies, "totals": totals, "page": page}
    )


class OrganizationDetailView(DetailView):
    """One organization with everything the registry knows of it.

    The number of queries is fixed: it does not grow with the subtree or with the posts.
    """

    queryset = Organization.objects.with_labels().select_related("parent")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        organization = self.object
        descendants = list(_descendants(organization))
        children = children_by_parent(descendants)
        direct = children.get(organization.pk, [])
        links = list(
            Succession.objects.filter(
                Q(successor=organization) | Q(predecessor=organization)
            ).select_related("predecessor", "successor")
        )
        context.update(
            ancestors=list(Organization.objects.ancestors(organization)),
            posts=organization.posts.prefetch_related(
                Prefetch("holdings", queryset=Holding.objects.select_related("person"))
            ),
            departments=_outline_html(
                outline([c for c in direct if not c.kind.is_affiliated], children)
            ),
            affiliated=_outline_html(
                outline([c for c in direct if c.kind.is_affiliated], children)
            ),
            predecessors=[link for link in links if link.successor_id == organization.pk],
            successors=[link for link in links if link.predecessor_id == organization.pk],
            citations=organization.citations.select_related("source"),
            # Built with ElementTree from the rows above, so every name is escaped.
            chart=mark_safe(organization_chart(organization, children)) if direct else "",
        )
        return context


def _descendants(organization: Organization) -> QuerySet:
    """Everything under `organization`, in tree order, with what outlines and charts show."""
    return (
        Organization.objects.subtree(organization, include_self=False)
        .in_tree_order()
        .with_labels()
        .only_with_place(*OUTLINE_FIELDS)
    )


def _outline_html(rows: list[OutlineRow]) -> str:
    """Nested lists of links to the units in `rows`, each with what the sources write in
    parentheses. Built here rather than in a template: a large unit has thousands of lines,
    and the template engine (with a URL reversal per line) costs several times more."""
    if not rows:
        return ""
    before, after = reverse("registry:organization", kwargs={"pk": URL_SENTINEL}).split(
        URL_SENTINEL
    )
    html = []
    for row in rows:
        node = row.node
        html.append("<ul>" if row.opens else "</li>")
        html.append(f'\n<li><a href="{before}{node.pk}{after}">{escape(node.name)}</a>')
        parts = node.parenthetical
        if parts:
            html.append(f' <span class="aside">({escape(", ".join(parts))})</span>')
        html.append("</li></ul>" * len(row.closes))
    return mark_safe("".join(html))


def organization_chart_svg(request, pk):
    """The organization chart as a standalone SVG file (links are absolute, for reports)."""
    organization = get_object_or_404(Organization.objects.with_labels(), pk=pk)
    descendants = list(_descendants(organization))
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
            .order_by(*tree_order("post__organization__"), "post__position")
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
        roots = Organization.objects.with_labels().roots_of(page.object_list)
        context.update(
            page=page,
            results=[(node, roots.get(node.pk)) for node in page.object_list],
            people=Person.objects.matching(query)[:SEARCH_PAGE_SIZE],
        )
    return render(request, "registry/search.html", context)


# What the pages about one record are about (caching.public_page's `subject`).


def organization_in_url(request, pk: str) -> QuerySet:
    return Organization.objects.filter(pk=pk)


def person_in_url(request, pk: str) -> QuerySet:
    return Person.objects.filter(pk=pk)


def _root_in_url(request) -> str:
    """The `?root=ID` of a CSV download ("" for none). No identifier holds NUL, and
    PostgreSQL cannot even compare text holding it (the query failed: a 500)."""
    root = request.GET.get("root", "")
    if "\x00" in root:
        raise Http404("No organization has that identifier.")
    return root


def subtree_root(request) -> QuerySet | None:
    """The `?root=ID` of a CSV download, whose subtree it holds."""
    root = _root_in_url(request)
    return Organization.objects.filter(pk=root) if root else None


def _csv_download(request, dataset: str, rows_for) -> StreamingHttpResponse:
    """Stream a whole dataset (or `?root=ID`'s subtree) as CSV; `?excel=1` adds a UTF-8 BOM."""
    root = None
    name = dataset
    if pk := _root_in_url(request):
        root = get_object_or_404(Organization, pk=pk)
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


@cache
def _favicon() -> bytes:
    with open(finders.find("registry/favicon.ico"), "rb") as icon:
        return icon.read()


@require_safe
def favicon(request):
    """/favicon.ico, where browsers and feed readers look when a page names no icon (the pages
    name the SVG and this file). Served from the app's static folder, as WhiteNoise serves
    only hashed names under /static/."""
    response = HttpResponse(_favicon(), content_type="image/vnd.microsoft.icon")
    response["Cache-Control"] = "public, max-age=86400"
    return response
