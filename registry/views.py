"""Public, read-only pages."""

from __future__ import annotations

import codecs
import datetime
import itertools
from collections import defaultdict
from functools import cache, wraps
from typing import NamedTuple

from django.contrib.staticfiles import finders
from django.core.paginator import Paginator
from django.db.models import Case, Prefetch, Q, QuerySet, Value, When
from django.http import (
    Http404,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.html import escape
from django.utils.http import urlencode
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_safe
from django.views.generic import DetailView

from . import changes, cite, validtime
from .api import linked
from .charts import organization_chart
from .csvcodec import csv_lines
from .dates import On
from .exports import event_rows, organization_rows, placement_rows, post_rows
from .models import ChangeEvent, Holding, Kind, Organization, Person, Succession
from .search import MatchedName, person_matched_name
from .search import organization_matched_name as organization_matched
from .templatetags.registry_i18n import parenthetical
from .templatetags.registry_names import in_chinese, names_html
from .trees import children_by_parent, outline_folding, tree_order

SEARCH_MAX_LENGTH = 200
SEARCH_PAGE_SIZE = 50
HOME_PAGE_SIZE = 30
# What the departments lists and the chart show of each unit below the page's: a large unit has
# thousands, and every field left out is work not done for each of them.
OUTLINE_FIELDS = ("id", "parent", "name", "name_zh", "kind", "rank")
# Identifiers are lowercase: this never occurs in a URL as an identifier.
URL_SENTINEL = "IDENTIFIER"


def dated(view):
    """Read `?on=DATE` (a partial date) into `request.on` (None without it), or answer 400
    naming what is wrong with it. Every public page is wrapped in this."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        request.on = None
        # An empty date box means today, as leaving it out does.
        if text := request.GET.get("on", ""):
            try:
                request.on = On.parse(text)
            except ValueError as error:
                return _bad_request(
                    _("The date in ?on= is not valid: %(reason)s")
                    % {"reason": _shortened(error, text)}
                )
        return view(request, *args, **kwargs)

    return wrapped


def dated_links(request) -> dict:
    """Template context: the date a page is read on, and the query that keeps it in links."""
    on = getattr(request, "on", None)
    if on is None:
        return {"on": None, "on_query": "", "on_and": ""}
    return {"on": on, "on_query": f"?on={on}", "on_and": f"&on={on}"}


def home(request):
    """The top-level bodies, a page at a time, each with its offices (the units right under
    it) and how many departments and institutions each office has. The queries are the same
    for any size of registry: one page of bodies, their offices, one grouped count.

    Today's page lists current bodies (`?ended=1` adds the dissolved and succeeded ones);
    `?on=DATE` lists what existed then, each under its parent then."""
    on = request.on
    show_ended = on is None and request.GET.get("ended") == "1"
    present = on.existing() if on else Q() if show_ended else Organization.objects.current_q()
    moved = validtime.parents_on(on) if on else {}
    to_top = [unit for unit, parent in moved.items() if parent is None]
    roots_then = (
        Organization.objects.filter(Q(parent__isnull=True) | Q(pk__in=to_top))
        .exclude(pk__in=[unit for unit, parent in moved.items() if parent is not None])
        .filter(present)
        .in_tree_order()
        .with_labels()
    )
    page = Paginator(roots_then, HOME_PAGE_SIZE).get_page(request.GET.get("page"))
    roots = list(page.object_list)
    offices = _children_then(
        [r.pk for r in roots], moved, present, Organization.objects.with_labels()
    )
    units_by_section: dict[tuple, int] = defaultdict(int)
    for unit in _children_then(
        [o.pk for o in offices],
        moved,
        present,
        Organization.objects.select_related("kind").only("parent", "kind__section"),
    ):
        units_by_section[(unit.parent_then, unit.kind.section)] += 1
    offices_by_root = defaultdict(list)
    for office in offices:
        offices_by_root[office.parent_then].append(office)
    bodies = [
        {
            "organization": root,
            "offices": [
                {
                    "organization": office,
                    "departments": units_by_section[(office.pk, Kind.Section.STRUCTURE)],
                    "affiliated": units_by_section[(office.pk, Kind.Section.AFFILIATED)],
                }
                for office in offices_by_root.get(root.pk, ())
            ],
        }
        for root in roots
    ]
    # Counted from the top-level bodies' trees, without reading the whole table.
    totals = {"organizations": Organization.objects.total(), "people": Person.objects.count()}
    return render(
        request,
        "registry/home.html",
        {"bodies": bodies, "totals": totals, "page": page, "show_ended": show_ended},
    )


def _children_then(parents: list[str], moved: dict, present: Q, queryset) -> list[Organization]:
    """The units right under `parents` (then, when `moved` holds parents on a date), that pass
    `present`, in tree order, each with `parent_then`."""
    arrived = [unit for unit, parent in moved.items() if parent in set(parents)]
    units = []
    for unit in (
        queryset.filter(Q(parent__in=parents) | Q(pk__in=arrived)).filter(present).in_tree_order()
    ):
        unit.parent_then = moved.get(unit.pk, unit.parent_id)
        if unit.parent_then in parents:
            units.append(unit)
    return units


class OrganizationDetailView(DetailView):
    """One organization with everything the registry knows of it.

    The number of queries is fixed: it does not grow with the subtree or with the posts.
    """

    queryset = (
        Organization.objects.with_labels().select_related("parent").prefetch_related("identifiers")
    )

    def get(self, request, *args, **kwargs):
        self.object = self.get_object()
        on = request.on
        if on is not None and not validtime.exists_on(self.object, on):
            return render(
                request,
                "registry/organization_not_then.html",
                self._not_then(self.object, on),
                status=404,
            )
        return self.render_to_response(self.get_context_data(object=self.object))

    @staticmethod
    def _not_then(organization: Organization, on: On) -> dict:
        """What to offer instead of a unit that did not exist on `on`: its dates, its
        predecessors and its parent then (when those existed), and today's page."""
        parent = validtime.parent_on(organization, on)
        predecessors = [
            link.predecessor
            for link in organization.predecessor_links.select_related("predecessor")
        ]
        return {
            "organization": organization,
            "parent_then": parent if parent and validtime.exists_on(parent, on) else None,
            "predecessors": [p for p in predecessors if validtime.exists_on(p, on)],
            "formed_later": organization.formed is not None
            and organization.formed.earliest > on.last,
        }

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        organization = self.object
        on = self.request.on
        if on is None:
            children = children_by_parent(_descendants(organization))
            ancestors = list(Organization.objects.ancestors(organization))
            parent = organization.parent
        else:
            children = validtime.structure_on(organization, on, _outline_rows).children
            ancestors = validtime.ancestors_on(organization, on)
            parent = ancestors[-1] if ancestors else None
        direct = children.get(organization.pk, [])
        links = list(
            Succession.objects.filter(
                Q(successor=organization) | Q(predecessor=organization)
            ).select_related("predecessor", "successor")
        )
        posts = list(
            organization.posts.prefetch_related(
                Prefetch("holdings", queryset=Holding.objects.select_related("person"))
            )
        )
        for post in posts:
            holdings = list(post.holdings.all())
            post.holdings_shown = validtime.holdings_on(holdings, on) if on else holdings
        suffix = f"?on={on}" if on else ""
        name, name_zh = _both_names_on(organization, on)
        context.update(
            ancestors=ancestors,
            parent=parent,
            name=name,
            name_zh=name_zh,
            # The pinyin shown is today's name's: a former Chinese name's would be generated.
            pinyin=organization.pinyin_shown if name_zh == organization.name_zh else "",
            other_names=validtime.names_on(organization, on)
            if on
            else organization.other_names_in_order,
            rank=validtime.rank_on(organization, on) if on else organization.rank,
            ended=organization.dissolved is not None
            or any(link.predecessor_id == organization.pk for link in links),
            dates_unknown=validtime.dates_unknown(organization),
            posts=posts,
            departments=_outline_html(
                [c for c in direct if not c.kind.is_affiliated], children, suffix
            ),
            affiliated=_outline_html(
                [c for c in direct if c.kind.is_affiliated], children, suffix
            ),
            predecessors=[link for link in links if link.successor_id == organization.pk],
            successors=[link for link in links if link.predecessor_id == organization.pk],
            citations=organization.citations.select_related("source"),
            cite_this=cite.page_citation(self.request, organization, name=name, name_zh=name_zh),
            # The record as it is (the page's permanent address), whatever the page's date.
            linked_data=linked.script_block(
                linked.organization_document(
                    self.request,
                    organization,
                    predecessors=[
                        link.predecessor_id
                        for link in links
                        if link.successor_id == organization.pk
                    ],
                    successors=[
                        link.successor_id
                        for link in links
                        if link.predecessor_id == organization.pk
                    ],
                    identifiers=organization.identifiers.all(),
                )
            ),
            timeline=validtime.timeline(organization),
            # Built with ElementTree from the rows above, so every name is escaped.
            chart=mark_safe(
                organization_chart(
                    organization,
                    children,
                    url_for=lambda node: node.get_absolute_url() + suffix,
                )
            )
            if direct
            else "",
        )
        return context


def _both_names_on(organization: Organization, on: On | None) -> tuple[str, str]:
    """`organization`'s English and Chinese names as on `on` (today's without a date)."""
    if on is None:
        return organization.name, organization.name_zh
    return validtime.name_on(organization, on), validtime.name_on(organization, on, chinese=True)


def _outline_rows(queryset: QuerySet) -> QuerySet:
    """What outlines and charts show of each unit, in tree order."""
    return (
        queryset.in_tree_order()
        .with_labels()
        .only_with_place(*OUTLINE_FIELDS, "formed", "dissolved")
    )


def _descendants(organization: Organization) -> QuerySet:
    """Everything under `organization`, in tree order, with what outlines and charts show."""
    return _outline_rows(Organization.objects.subtree(organization, include_self=False))


def _outline_html(tops: list[Organization], children: dict, suffix: str = "") -> str:
    """Nested lists of links to `tops` and the units under them (`children`, grouped by
    parent), each with what the sources write in parentheses. A unit with units under it has
    a <details> saying how many, open or folded as `outline_folding()` decides, so that a large
    subtree stays a page one can read, without JavaScript; folded units stay in the HTML, for
    search engines and find-in-page. Built here rather than in a template: a large
    unit has thousands of lines, and the template engine (with a URL reversal per line) costs
    several times more."""
    if not tops:
        return ""
    folding = outline_folding(tops, children)
    before, after = reverse("registry:organization", kwargs={"pk": URL_SENTINEL}).split(
        URL_SENTINEL
    )
    after += suffix
    page_chinese = in_chinese()
    html = ["<ul>"]
    # One entry per list being written: its units, the index of the next one, their depth.
    stack: list[tuple[list[Organization], int, int]] = [(tops, 0, 0)]
    while stack:
        units, index, depth = stack[-1]
        shown = folding.shown(units)
        if index == len(units):
            stack.pop()
            if shown < len(units):
                html.append("</ul></details></li>")
            html.append("</ul>")
            if stack:
                html.append("</details></li>")
            continue
        stack[-1] = (units, index + 1, depth)
        if index == shown:
            more = ngettext(
                "%(count)s more unit at this level",
                "%(count)s more units at this level",
                len(units) - shown,
            ) % {"count": len(units) - shown}
            html.append(f'\n<li class="fold-rest"><details><summary>{escape(more)}</summary><ul>')
        node = units[index]
        url = f"{before}{node.pk}{after}"
        line = names_html(node.name, node.name_zh, url, page_chinese)
        parts = parenthetical(node)
        if parts:
            line += f' <span class="aside">({escape(", ".join(parts))})</span>'
        kids = children.get(node.pk)
        if not kids:
            html.append(f"\n<li>{line}</li>")
            continue
        # The fold's control comes after the unit's link, not around it: a link inside a
        # <summary> is a control inside a control (axe: nested-interactive).
        size = folding.sizes[node.pk]
        count = ngettext("%(count)s unit", "%(count)s units", size) % {"count": size}
        label = ngettext(
            "%(count)s unit under %(name)s", "%(count)s units under %(name)s", size
        ) % {"count": size, "name": (node.name_zh if page_chinese else "") or node.name}
        opened = " open" if depth < folding.open_depth else ""
        html.append(
            f'\n<li>{line} <details{opened}><summary aria-label="{escape(label)}">'
            f"{escape(count)}</summary><ul>"
        )
        stack.append((kids, 0, depth + 1))
    return mark_safe("".join(html))


def organization_chart_svg(request, pk):
    """The organization chart as a standalone SVG file (links are absolute, for reports)."""
    organization = get_object_or_404(Organization.objects.with_labels(), pk=pk)
    on = request.on
    if on is None:
        children = children_by_parent(_descendants(organization))
    elif not validtime.exists_on(organization, on):
        raise Http404(f"{organization.name} did not exist {on.phrase()}.")
    else:  # as on the page it is linked from
        children = validtime.structure_on(organization, on, _outline_rows).children
    suffix = f"?on={on}" if on else ""
    svg = organization_chart(
        organization,
        children,
        url_for=lambda node: request.build_absolute_uri(node.get_absolute_url() + suffix),
    )
    response = HttpResponse(
        '<?xml version="1.0" encoding="UTF-8"?>\n' + svg,
        content_type="image/svg+xml; charset=utf-8",
    )
    response["Content-Disposition"] = f'inline; filename="{organization.pk}-chart.svg"'
    return response


class PersonDetailView(DetailView):
    queryset = Person.objects.prefetch_related("sources", "identifiers")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        holdings = list(
            self.object.holdings.select_related("post__organization__kind")
            .order_by(*tree_order("post__organization__"), "post__position")
            .all()
        )
        on = self.request.on
        context["holdings"] = validtime.holdings_on(holdings, on) if on else holdings
        context["cite_this"] = cite.page_citation(self.request, self.object)
        context["linked_data"] = linked.script_block(
            linked.person_document(
                self.request, self.object, identifiers=self.object.identifiers.all()
            )
        )
        return context


# "Cite this page" as files for citation managers: the organization or person page's citation
# (as on `?on=`, like the page), in the language of the address.


def _organization_citation(request, pk: str) -> tuple[cite.PageCitation, str]:
    organization = get_object_or_404(Organization, pk=pk)
    on = request.on
    if on is not None and not validtime.exists_on(organization, on):
        raise Http404(f"{organization.name} did not exist {on.phrase()}.")
    name, name_zh = _both_names_on(organization, on)
    citation = cite.page_citation(request, organization, name=name, name_zh=name_zh)
    return citation, _citation_filename(organization.pk, on)


def _person_citation(request, pk: str) -> tuple[cite.PageCitation, str]:
    person = get_object_or_404(Person, pk=pk)
    return cite.page_citation(request, person), _citation_filename(person.pk, request.on)


def _citation_filename(pk: str, on: On | None) -> str:
    return f"{pk}-{on}" if on else pk


def organization_cite_bib(request, pk: str):
    return cite.bibtex_response(*_organization_citation(request, pk))


def organization_cite_json(request, pk: str):
    return cite.csl_json_response(*_organization_citation(request, pk))


def person_cite_bib(request, pk: str):
    return cite.bibtex_response(*_person_citation(request, pk))


def person_cite_json(request, pk: str):
    return cite.csl_json_response(*_person_citation(request, pk))


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
        if request.on is not None:
            matches = matches.filter(request.on.existing())
        people = Person.objects.matching(query)
        if in_chinese():
            # Chinese readers look names up in pinyin order; units without a Chinese name
            # follow, in English order.
            matches, people = (
                queryset.order_by(
                    Case(When(name_zh="", then=Value(1)), default=Value(0)), "pinyin_key", "name"
                )
                for queryset in (matches, people)
            )
        page = Paginator(matches, SEARCH_PAGE_SIZE).get_page(request.GET.get("page"))
        roots = Organization.objects.with_labels().roots_of(page.object_list)
        context.update(
            page=page,
            results=[
                (node, roots.get(node.pk), _match_shown(node, organization_matched(node, query)))
                for node in page.object_list
            ],
            people=[
                (person, _match_shown(person, person_matched_name(person, query)))
                for person in people[:SEARCH_PAGE_SIZE]
            ],
        )
    return render(request, "registry/search.html", context)


class MatchShown(NamedTuple):
    """A name a search matched that the result's line does not already show."""

    text: str
    lang: str  # its `lang` attribute
    pinyin: bool


def _match_shown(record, matched: MatchedName | None) -> MatchShown | None:
    """What a result line adds of the name the query matched, in the language it matched: an
    other name, a short form or the pinyin; nothing when it matched a name the line shows."""
    if matched is None or matched.text in (record.name, record.name_zh):
        return None
    pinyin = matched.language == "pinyin"
    return MatchShown(matched.text, "zh-Latn-pinyin" if pinyin else matched.language, pinyin)


class BadParameter(ValueError):
    """A query parameter a reader can fix: answered with 400 and this message."""


def _shortened(error: ValueError, text: str) -> str:
    """The parser's message, or for text far longer than a date, one that does not repeat it
    (a request with 100 KB of it would get 100 KB back)."""
    if len(text) <= 40:
        return str(error)
    return _("%(count)s characters are not a date; use YYYY, YYYY-MM or YYYY-MM-DD.") % {
        "count": f"{len(text):,}"
    }


def _bad_request(message: str) -> HttpResponseBadRequest:
    return HttpResponseBadRequest(message.encode(), content_type="text/plain; charset=utf-8")


class Redirect(Exception):
    """The request is good but is answered at another URL."""

    def __init__(self, url: str):
        self.url = url


def comparison_asked(request) -> changes.Changes | None:
    """The comparison `?from=DATE&to=DATE` (`root=ID` narrows it to a subtree) of a compare
    page or its CSV, or None when no `from` is given. Raises BadParameter naming what is wrong,
    Http404 for an unknown root, or Redirect to the same URL naming today's date when `to` is
    left out: the pages are cached by the registry's state and their URL, and "today" moves on
    by itself."""
    if not request.GET.get("from"):
        if request.GET.get("to"):
            raise BadParameter(_("Give the first date too: ?from=YYYY[-MM[-DD]]."))
        return None
    today = datetime.date.today().isoformat()
    dates = {}
    for name, default in (("from", None), ("to", today)):
        try:
            dates[name] = On.parse(request.GET.get(name) or default)
        except ValueError as error:
            text = request.GET.get(name, "")
            raise BadParameter(
                _("The date in ?%(name)s= is not valid: %(reason)s")
                % {"name": name, "reason": _shortened(error, text)}
            ) from error
    if dates["to"].last < dates["from"].last:
        raise BadParameter(
            _("?from= (%(start)s) is after ?to= (%(end)s): give the earlier date first.")
            % {"start": dates["from"], "end": dates["to"]}
        )
    kind = request.GET.get("kind", "")
    if kind and kind not in changes.KIND_CODES:
        raise BadParameter(
            _("?kind= must be one of: %(kinds)s.") % {"kinds": ", ".join(changes.KIND_CODES)}
        )
    root = None
    if pk := _root_in_url(request):
        root = get_object_or_404(Organization, pk=pk)
    if not request.GET.get("to"):
        query = request.GET.copy()
        query["to"] = today
        raise Redirect(f"{request.path}?{query.urlencode()}")
    return changes.changes_between(dates["from"], dates["to"], root)


COMPARE_SHOWN = 100  # changes of each kind listed on the compare page; the rest one click away
COMPARE_PAGE_SIZE = 200  # changes a page lists when it shows one kind only


def compare(request):
    """/changes/?from=D1&to=D2 (&root=ID): what changed between two dates, by kind, each change
    linked; `&kind=K` lists one kind a page at a time."""
    try:
        found = comparison_asked(request)
    except BadParameter as error:
        return _bad_request(str(error))
    except Redirect as redirect:
        return HttpResponseRedirect(redirect.url)
    context = {"kinds": changes.KINDS, "found": found, "compared": found is not None}
    if found is None:
        # The form alone, for the whole registry or the subtree `?root=` names.
        pk = _root_in_url(request)
        context["root"] = get_object_or_404(Organization, pk=pk) if pk else None
        return render(request, "registry/changes.html", context)
    context["root"] = found.root
    kind = request.GET.get("kind", "")
    query = {
        "from": found.start,
        "to": found.end,
        **({"root": found.root.pk} if found.root else {}),
    }
    base = urlencode(query)
    sections = []
    for each in changes.KINDS:
        if kind and each.code != kind:
            continue
        listed = found.by_kind.get(each.code, [])
        page = None
        if kind:
            page = Paginator(listed, COMPARE_PAGE_SIZE).get_page(request.GET.get("page"))
            shown = page.object_list
        else:
            shown = listed[:COMPARE_SHOWN]
        sections.append({"kind": each, "changes": shown, "count": len(listed), "page": page})
    context.update(
        sections=sections,
        kind=kind,
        base=base,
        page_extra=f"&{base}&kind={kind}",
        counts=[(each, len(found.by_kind.get(each.code, []))) for each in changes.KINDS],
    )
    return render(request, "registry/changes.html", context)


CHANGE_COLUMNS = (
    "kind",
    "date",
    "organization",
    "name",
    "detail",
    "related",
    "person",
    "event",
    "source",
)


def changes_csv(request):
    """The compare page's changes, every one, as CSV (columns: CHANGE_COLUMNS)."""
    try:
        found = comparison_asked(request)
    except BadParameter as error:
        return _bad_request(str(error))
    except Redirect as redirect:
        return HttpResponseRedirect(redirect.url)
    if found is None:
        return _bad_request(
            _("Give the dates to compare: ?from=YYYY[-MM[-DD]]&to=YYYY[-MM[-DD]].")
        )
    rows = (
        [
            change.kind,
            str(change.date or ""),
            change.unit.id,
            change.unit.name,
            change.detail,
            " ".join(unit.id for unit in change.related),
            change.person.id if change.person else "",
            change.event_id or "",
            change.source,
        ]
        for change in found
    )
    response = StreamingHttpResponse(
        csv_lines(CHANGE_COLUMNS, rows), content_type="text/csv; charset=utf-8"
    )
    scope = f"-{found.root.pk}" if found.root else ""
    response["Content-Disposition"] = (
        f'attachment; filename="changes{scope}-{found.start}-to-{found.end}.csv"'
    )
    return response


def event(request, pk: str):
    """One change event: its type, date, source, and the organizations before and after."""
    found = get_object_or_404(
        ChangeEvent.objects.select_related("source", "rank_before", "rank_after"), pk=pk
    )
    parts = list(found.participants.select_related("organization"))
    return render(
        request,
        "registry/event_detail.html",
        {
            "event": found,
            "originals": [p.organization for p in parts if p.role == "original"],
            "results": [p.organization for p in parts if p.role == "result"],
            "placements": found.placements.select_related("organization", "parent"),
            "successions": found.successions.select_related("predecessor", "successor"),
        },
    )


# What the pages about one record are about (caching.public_page's `subject`).


def organization_in_url(request, pk: str) -> QuerySet:
    return Organization.objects.filter(pk=pk)


def person_in_url(request, pk: str) -> QuerySet:
    return Person.objects.filter(pk=pk)


def event_in_url(request, pk: str) -> QuerySet:
    return ChangeEvent.objects.filter(pk=pk)


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


def _csv_download(
    request, dataset: str, rows_for, *, dated: bool = True
) -> StreamingHttpResponse | HttpResponseBadRequest:
    """Stream a whole dataset (or `?root=ID`'s subtree) as CSV; `?excel=1` adds a UTF-8 BOM.
    A `dated` dataset read `?on=DATE` is the registry as it stood then (same columns: the file
    imports as it is); the others are the dated facts themselves, and refuse a date."""
    root = None
    name = dataset
    on = request.on
    if on is not None and not dated:
        return HttpResponseBadRequest(
            (
                _("The %(dataset)s file holds every dated fact: ?on= does not apply to it.")
                % {"dataset": dataset}
            ).encode(),
            content_type="text/plain; charset=utf-8",
        )
    if pk := _root_in_url(request):
        root = get_object_or_404(Organization, pk=pk)
        if on is not None and not validtime.exists_on(root, on):
            raise Http404(f"“{root.pk}” did not exist {on.phrase()}.")
        name = f"{dataset}-{root.pk}"
    if on is not None:
        name = f"{name}-{on}"
    rows = rows_for(root, on) if dated else rows_for(root)
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


def placements_csv(request):
    return _csv_download(request, "placements", placement_rows, dated=False)


def events_csv(request):
    return _csv_download(request, "events", event_rows, dated=False)


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
