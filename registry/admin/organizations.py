"""The organizations admin: the tree list, drag and drop, inlines, subtree export."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import quote, unquote
from django.contrib.admin.views.main import ORDER_VAR, PAGE_VAR, ChangeList
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Count, Prefetch, Q
from django.http import HttpResponse, HttpResponseNotAllowed, StreamingHttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.utils.translation import gettext, gettext_lazy, ngettext
from mptt.admin import DraggableMPTTAdmin
from reversion import is_active, set_comment

from ..csvcodec import csv_lines
from ..exports import organization_rows
from ..history import record_lock
from ..models import (
    Citation,
    EventOrganization,
    Holding,
    Identifier,
    Organization,
    OtherName,
    Placement,
    Post,
    Succession,
)
from ..quickstatements import (
    for_quickstatements,
    parents_without_qid,
    quickstatements,
    refusals,
)
from ..resources import OrganizationResource
from ..schema import ORGANIZATIONS, admin_fieldsets
from ..services import (
    MOVE_POSITIONS,
    organization_add,
    organization_delete,
    organization_delete_many,
    organization_move,
    organization_update,
)
from ..trees import descendant_count, tree_order_key
from .autocomplete import (
    URL_NAME,
    OrganizationAutocompleteJsonView,
    OrganizationPicker,
    OrganizationPickerMixin,
    is_autocomplete,
    ranked,
)
from .csv import CSVImportExportMixin
from .forms import KeepWhitespaceMixin, identifier_suggestion_view
from .history import HistoryAdmin


class TreeListFilter(admin.SimpleListFilter):
    """Narrow the changelist to one top-level body (`tree`, its tree number) or to one unit and
    everything under it (`subtree`, its id), with the unit's path above it.

    A registry holds hundreds or thousands of top-level bodies: a link or an option for each
    would set the sidebar's width and weigh on every page, so they are found by name
    (`tree_find`), a bounded number of matches at a time.
    """

    title = gettext_lazy("top-level body")
    parameter_name = "tree"
    subtree_parameter = "subtree"
    find_parameter = "tree_find"
    template = "admin/registry/organization/tree_filter.html"
    # Matches listed for a search; a narrower search finds the rest.
    MAX_FOUND = 20

    def __init__(self, request, params, model, model_admin):
        # Taken out of `params` as the admin does with a filter's own parameter, so that the
        # changelist does not read them as lookups on the model.
        self.subtree_value = (params.pop(self.subtree_parameter, None) or [None])[-1]
        self.find_value = (params.pop(self.find_parameter, None) or [""])[-1]
        super().__init__(request, params, model, model_admin)

    def lookups(self, request, model_admin):
        # The bodies are found by name (see `found`), not listed; the filter still shows.
        return ()

    def has_output(self) -> bool:
        return True

    @cached_property
    def subtree(self) -> Organization | None:
        """The unit whose subtree is shown (None when no unit, or an unknown one, is asked)."""
        if not self.subtree_value:
            return None
        return Organization.objects.filter(pk=self.subtree_value).first()

    @cached_property
    def path(self) -> list[Organization]:
        """The ancestors of the unit shown, top-level body first (one query)."""
        return list(self.subtree.get_ancestors()) if self.subtree else []

    @cached_property
    def chosen(self) -> Organization | None:
        """The top-level body chosen with `tree`."""
        if not (self.value() and self.value().isdigit()):
            return None
        return _roots().filter(tree_id=int(self.value())).first()

    @cached_property
    def found(self) -> list[Organization]:
        """Top-level bodies matching the search, in either language or by id."""
        term = self.find_value.strip()
        if not term:
            return []
        matches = Q(name__icontains=term) | Q(name_zh__icontains=term) | Q(pk=term)
        matches |= Q(short_name_zh__icontains=term)
        return list(_roots().filter(matches).only("pk", "name", "tree_id")[: self.MAX_FOUND])

    def queryset(self, request, queryset):
        if self.subtree_value is not None:
            if self.subtree is None:
                return queryset.none()
            return queryset.subtree(self.subtree)
        if self.value() and self.value().isdigit():
            return queryset.in_tree(int(self.value()))
        return queryset

    def choices(self, changelist):
        # Only "All"; the bodies are found with the search field (`found`).
        self.kept_parameters = [
            (name, value)
            for name, value in changelist.params.items()
            if name not in (self.parameter_name, self.subtree_parameter, self.find_parameter)
        ]
        self.changelist = changelist
        yield {
            "selected": self.value() is None and self.subtree_value is None,
            "query_string": changelist.get_query_string(
                remove=[self.parameter_name, self.subtree_parameter, self.find_parameter]
            ),
            "display": gettext("All"),
        }

    def tree_link(self, tree_id: int) -> str:
        return self.changelist.get_query_string(
            {self.parameter_name: tree_id},
            remove=[self.subtree_parameter, self.find_parameter, PAGE_VAR],
        )

    def found_links(self) -> list[tuple[str, Organization]]:
        return [(self.tree_link(root.tree_id), root) for root in self.found]


class TreePaginator(Paginator):
    """The admin's paginator, counting the whole registry from the top-level bodies' trees
    (`total()`) instead of COUNT(*) over every row, which is most of an unfiltered changelist's
    time on PostgreSQL at 100,000 organizations. Filtered lists are counted as usual."""

    @cached_property
    def count(self) -> int:
        if self.object_list.query.where:
            return super().count
        return Organization.objects.total()


class TreeChangeList(ChangeList):
    """The changelist, paged by whole trees when it shows trees.

    Unsearched, unsorted and filtered by tree position only, a page holds whole top-level
    bodies' trees (as many as fit in the admin's `tree_page_rows`), so every sibling group on it is
    whole and drag and drop or the move buttons reach every sibling. A tree (or a chosen
    subtree) larger than a page is shown down to the deepest level that fits, each unit below
    that cut opened in a subtree view of its own, with its path. Searches, other filters and
    sorted columns are flat selections and page as the admin does.

    Query count stays constant: the page's tops (one query), their rows per level (one), the
    rows (one).
    """

    # Never more rows than this, even for one sibling group larger than a page.
    MAX_ROWS = 1000

    def tree_filter(self) -> TreeListFilter | None:
        return next((s for s in self.filter_specs if isinstance(s, TreeListFilter)), None)

    def shows_trees(self) -> bool:
        positional = {
            TreeListFilter.parameter_name,
            TreeListFilter.subtree_parameter,
            TreeListFilter.find_parameter,
        }
        return (
            not self.query
            and ORDER_VAR not in self.params
            and set(self.get_filters_params()) <= positional
        )

    def get_results(self, request):
        self.tree_pages = self.shows_trees()
        self.tree_cut_level = None
        if not self.tree_pages:
            super().get_results(request)
            self.result_list = list(self.result_list)
            return
        spec = self.tree_filter()
        if spec is not None and spec.subtree is not None:
            tops = self.queryset.filter(pk=spec.subtree.pk)
        else:
            tops = self.queryset.filter(parent__isnull=True)
        tops = list(tops.select_related(None).only_with_place("pk").in_tree_order())
        size = self.model_admin.tree_page_rows
        pages = _tree_pages(tops, size)
        try:
            first, last = pages[self.page_num - 1]
        except (IndexError, TypeError):
            raise IncorrectLookupParameters from None
        shown = tops[first : last + 1]
        if not shown:
            rows = self.queryset.none()
        elif spec is not None and spec.subtree is not None:
            rows = self.queryset.subtree(shown[0])
        else:
            rows = self.queryset.filter(
                tree_id__gte=shown[0].tree_id, tree_id__lte=shown[-1].tree_id
            )
        per_level = dict(
            rows.order_by().values_list("level").annotate(count=Count("pk")).order_by("level")
        )
        # The deepest level whose rows, with all above them, fit the page; at least the top
        # and its children, so that one sibling group is always whole.
        total, cut = 0, None
        for number, (level, count) in enumerate(sorted(per_level.items())):
            total += count
            if total > size and number > 1:
                cut = level - 1
                break
        if cut is not None:
            rows = rows.filter(level__lte=cut)
        self.tree_cut_level = cut
        self.result_list = list(rows[: self.MAX_ROWS])
        self.result_count = sum(1 + descendant_count(top) for top in tops)
        self.show_full_result_count = False
        self.show_admin_actions = True
        self.full_result_count = None
        self.can_show_all = False
        self.multi_page = len(pages) > 1
        # One "item" per page: the admin's page links, elided, count pages of trees.
        self.paginator = Paginator(range(len(pages)), 1)
        self._mark_neighbours()

    def _mark_neighbours(self) -> None:
        """Give each row on the page its previous and next sibling (for the move buttons) and
        whether its sub-units are below the cut (for the link to its subtree view)."""
        groups: dict[str | None, list[Organization]] = {}
        for row in self.result_list:
            groups.setdefault(row.parent_id, []).append(row)
        cut_short = len(self.result_list) == self.MAX_ROWS
        for siblings in groups.values():
            for index, row in enumerate(siblings):
                row.tree_previous = siblings[index - 1] if index else None
                row.tree_next = siblings[index + 1] if index + 1 < len(siblings) else None
            if cut_short:  # the group may go on past the rows shown
                siblings[-1].tree_next = None
        # A subtree view indents from its own top, not from the top-level body.
        top = min((row.level for row in self.result_list), default=0)
        for row in self.result_list:
            row.tree_closed = row.level == self.tree_cut_level and descendant_count(row) > 0
            row.tree_depth = row.level - top


def _tree_pages(tops: list[Organization], size: int) -> list[tuple[int, int]]:
    """Consecutive runs of `tops` (with everything under each) of at most `size` rows each (a
    top larger than that alone), as (first, last) indexes."""
    pages: list[tuple[int, int]] = []
    start, rows = 0, 0
    for index, top in enumerate(tops):
        units = 1 + descendant_count(top)
        if index > start and rows + units > size:
            pages.append((start, index - 1))
            start, rows = index, 0
        rows += units
    if tops:
        pages.append((start, len(tops) - 1))
    return pages or [(0, -1)]


_MOVE_UP = gettext_lazy("Move “%(name)s” up, before “%(other)s”")
_MOVE_DOWN = gettext_lazy("Move “%(name)s” down, after “%(other)s”")
_MOVED_UP = gettext_lazy("“%(name)s” moved up, before “%(other)s”.")
_MOVED_DOWN = gettext_lazy("“%(name)s” moved down, after “%(other)s”.")


class TreeMoveForm(forms.Form):
    """Where "move under…" puts a unit: its new parent and its place among the parent's
    sub-units (1 first; empty: last)."""

    parent = forms.ModelChoiceField(
        label=gettext_lazy("New parent"), queryset=Organization.objects.all()
    )
    position = forms.IntegerField(
        label=gettext_lazy("Position among its sub-units"),
        min_value=1,
        required=False,
        help_text=gettext_lazy("1 puts it first; leave empty to put it after the last one."),
    )
    # The parent the unit had when the form was opened: a move made meanwhile is refused.
    seen_parent = forms.CharField(required=False, widget=forms.HiddenInput, strip=False)

    def __init__(self, *args, unit: Organization, admin_site, **kwargs):
        super().__init__(*args, **kwargs)
        self.unit = unit
        # The change form's parent picker (it needs the admin site, known only here).
        self.fields["parent"] = forms.ModelChoiceField(
            label=self.fields["parent"].label,
            queryset=Organization.objects.all(),
            widget=OrganizationPicker(Organization._meta.get_field("parent"), admin_site),
        )
        self.fields["seen_parent"].initial = unit.parent_id or ""
        self.fields["parent"].initial = unit.parent_id

    def clean_parent(self):
        parent = self.cleaned_data["parent"]
        if parent.pk == self.unit.pk or parent.is_descendant_of(self.unit):
            raise ValidationError(
                gettext("“%(parent)s” is inside “%(name)s”: a unit cannot go under itself.")
                % {"parent": parent, "name": self.unit}
            )
        return parent

    def place(self, unit: Organization, parent: Organization) -> tuple[Organization, str]:
        """The target and django-mptt position that put `unit` at the chosen place."""
        siblings = parent.get_children().exclude(pk=unit.pk)
        count = siblings.count()
        number = self.cleaned_data["position"] or count + 1
        if number > count + 1:
            raise ValidationError(
                gettext(
                    "Position %(number)d is past the end: “%(parent)s” has %(count)d other "
                    "sub-units, so choose 1 to %(last)d (or leave it empty for the last place)."
                )
                % {"number": number, "parent": parent, "count": count, "last": count + 1}
            )
        self.position_number = number
        if number <= count:
            return siblings[number - 1], "left"
        return parent, "last-child"


def _roots():
    return Organization.objects.roots().order_by("name")


class OtherNameInline(KeepWhitespaceMixin, admin.TabularInline):
    model = OtherName
    extra = 0
    fields = ("name", "name_type", "language", "start", "end", "position")


class IdentifierInline(KeepWhitespaceMixin, admin.TabularInline):
    """External identifiers (Wikidata, unified social credit code, other schemes); the
    person admin shows the same inline."""

    model = Identifier
    extra = 0
    fields = ("scheme", "identifier")


class CitationInline(KeepWhitespaceMixin, admin.TabularInline):
    model = Citation
    extra = 0
    autocomplete_fields = ("source",)
    fields = ("source", "locator", "position")


class PostInline(KeepWhitespaceMixin, admin.TabularInline):
    """Posts with their holders listed; holders are edited on the post's own page."""

    model = Post
    extra = 0
    fields = ("title", "plural_title", "position", "holder_list")
    readonly_fields = ("holder_list",)
    show_change_link = True

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .prefetch_related(
                Prefetch("holdings", queryset=Holding.objects.select_related("person"))
            )
        )

    @admin.display(description=gettext_lazy("holders, in order"))
    def holder_list(self, post: Post):
        holdings = post.holdings.all()
        if not holdings:
            return "—"
        return format_html_join(", ", "{}", ((h.person.name,) for h in holdings))


def _lineage_inline(side: str, other: str) -> type[admin.TabularInline]:
    """The lineage links in which the organization is the `side` (its successor: the links to
    its predecessors), each naming the `other` organization."""
    return type(
        f"{other.capitalize()}Inline",
        (OrganizationPickerMixin, KeepWhitespaceMixin, admin.TabularInline),
        {
            "__module__": __name__,
            "model": Succession,
            "fk_name": side,
            "extra": 0,
            "fields": (other, "date", "note", "event"),
            "autocomplete_fields": (other, "event"),
            "verbose_name": other,
            "verbose_name_plural": f"{other}s",
        },
    )


class PlacementInline(OrganizationPickerMixin, KeepWhitespaceMixin, admin.TabularInline):
    """Where the unit sat before its current parent (the tree above), and when."""

    model = Placement
    fk_name = "organization"
    extra = 0
    autocomplete_fields = ("parent", "event")
    fields = ("parent", "start", "end", "event")


class EventPartInline(admin.TabularInline):
    """The change events the organization took part in; each is edited on its own page."""

    model = EventOrganization
    extra = 0
    fields = ("event", "role")
    readonly_fields = fields
    show_change_link = False
    can_delete = False
    verbose_name = "change event"
    verbose_name_plural = "change events (edited on each event's page)"

    def has_add_permission(self, request, obj=None) -> bool:
        return False


PredecessorInline = _lineage_inline("successor", "predecessor")
SuccessorInline = _lineage_inline("predecessor", "successor")


@admin.register(Organization)
class OrganizationAdmin(
    OrganizationPickerMixin,
    KeepWhitespaceMixin,
    CSVImportExportMixin,
    HistoryAdmin,
    DraggableMPTTAdmin,
):
    list_display = ("tree_actions", "indented_title", "reorder", "kind", "rank", "formed")
    list_display_links = ("indented_title",)
    list_filter = (TreeListFilter, "kind", "rank")
    list_select_related = ("kind", "rank")
    # Names repeat across bodies ("Secretariat"), so search covers every name and the id.
    search_fields = ("name", "name_zh", "short_name_zh", "pinyin_key", "id", "other_names__name")
    # A <select> of every organization does not scale; the autocomplete asks as you type.
    autocomplete_fields = ("parent",)
    # Each row costs the admin's (and django-mptt's) row machinery, about 0.3 ms for this list's
    # columns: fifty rows keep a flat list (search, other filters) within four times the
    # admin's own empty list. A page of trees holds whole top-level bodies up to
    # `tree_page_rows` (a larger tree is shown to the depth that fits, its deeper units in
    # subtree views: TreeChangeList): sixty, so that the seed's two bodies (53 units) share one
    # page; a hundred took the benchmark's first page past four times the floor.
    list_per_page = 50
    tree_page_rows = 60
    # "N of 100,000 selected" would count the whole table again on every filtered page.
    show_full_result_count = False
    paginator = TreePaginator
    # django-mptt's tree list, with django-reversion's "Recover deleted organizations" link.
    change_list_template = "admin/registry/organization/tree_change_list.html"
    # A page holds whole trees of at most `tree_page_rows` rows; shown open, every row's move
    # controls are reachable by keyboard (django-mptt's fold toggles are not).
    expand_tree_by_default = True
    # The title indents itself (`indented_title`); without this django-mptt would also pad
    # the first model column (the identifier), widening the table by 20 px a level.
    mptt_indent_field = "indented_title_only"
    history_latest_first = True
    resource_classes = (OrganizationResource,)
    actions = ("export_subtrees", "export_quickstatements")
    inlines = (
        OtherNameInline,
        IdentifierInline,
        PostInline,
        CitationInline,
        PlacementInline,
        PredecessorInline,
        SuccessorInline,
        EventPartInline,
    )
    fieldsets = admin_fieldsets(ORGANIZATIONS)

    def get_readonly_fields(self, request, obj=None):
        # The identifier is in published addresses and CSV files: fixed once created.
        return ("id",) if obj else ()

    def action_checkbox(self, obj):
        # The same checkbox as the admin's, without a template render per row.
        return format_html(
            '<input type="checkbox" name="{}" value="{}" class="action-select" '
            'aria-label="Select this object for an action - {}">',
            ACTION_CHECKBOX_NAME,
            obj.pk,
            obj,
        )

    # django-mptt gives its drag-and-drop script the parent link of *every* organization (one
    # query and megabytes of JSON at 100,000 rows), though the script only shows and hides the
    # rows on the page. Give it the links among the rows on the page.

    def get_changelist(self, request, **kwargs):
        return TreeChangeList

    def changelist_view(self, request, extra_context=None):
        # The tree needs the width: names indented by depth beside five more columns. With
        # Django's navigation sidebar (300 px) the title column was about 150 px at 1280 px and
        # names wrapped over six lines. The breadcrumbs lead to the other lists.
        extra_context = {"is_nav_sidebar_enabled": False, **(extra_context or {})}
        return super().changelist_view(request, extra_context=extra_context)

    def get_changelist_instance(self, request):
        changelist = super().get_changelist_instance(request)
        can_move = self.has_change_permission(request)
        for row in changelist.result_list:
            row.tree_can_move = can_move
        request.registry_changelist_rows = changelist.result_list
        return changelist

    @admin.display(description=gettext_lazy("title"))
    def indented_title(self, item: Organization):
        """The name indented by depth (every line of it, where django-mptt's text-indent moves
        only the first), with the identifier under it: a column of its own left the others
        too little room at 1280 px."""
        return format_html(
            '<div class="tree-title" style="padding-inline-start:{}px">{}'
            '<span class="tree-id">{}</span></div>',
            getattr(item, "tree_depth", item.level) * self.mptt_level_indent,
            item,
            item.pk,
        )

    @admin.display(description=gettext_lazy("reorder"))
    def reorder(self, obj: Organization):
        """Move up, move down (beside a sibling on this page) and "move under…", as buttons of
        one form outside the changelist's own (forms cannot nest), each naming what it does
        for screen readers."""
        if not getattr(obj, "tree_can_move", False):
            return ""
        parts = []
        for side, neighbour, position, label, text in (
            ("up", getattr(obj, "tree_previous", None), "left", _MOVE_UP, "↑"),
            ("down", getattr(obj, "tree_next", None), "right", _MOVE_DOWN, "↓"),
        ):
            if neighbour is None:
                parts.append(format_html('<span class="tree-move-none">{}</span>', ""))
                continue
            parts.append(
                format_html(
                    '<button type="submit" form="tree-move-form" name="move" '
                    'value="{} {} {}" id="move-{}-{}" class="tree-move-{}" '
                    'aria-label="{}" title="{}">{}</button>',
                    obj.pk,
                    position,
                    neighbour.pk,
                    obj.pk,
                    side,
                    side,
                    label % {"name": obj, "other": neighbour},
                    label % {"name": obj, "other": neighbour},
                    text,
                )
            )
        under = gettext("Move under…")
        parts.append(
            format_html(
                '<a href="{}" id="move-{}-under" class="tree-move-under" aria-label="{}">{}</a>',
                self._admin_url("tree_move", quote(obj.pk)),
                obj.pk,
                gettext("Move “%(name)s” under another unit…") % {"name": obj},
                under,
            )
        )
        if getattr(obj, "tree_closed", False):
            parts.append(
                format_html(
                    '<a href="?{}={}" class="tree-open">{}</a>',
                    TreeListFilter.subtree_parameter,
                    obj.pk,
                    ngettext(
                        "Open its %(count)d sub-unit",
                        "Open its %(count)d sub-units",
                        descendant_count(obj),
                    )
                    % {"count": descendant_count(obj)},
                )
            )
        return format_html(
            '<span class="tree-move" role="group" aria-label="{}">{}</span>',
            gettext("Reorder “%(name)s”") % {"name": obj},
            mark_safe("".join(parts)),
        )

    def _back_to_list(self, request, fragment: str = ""):
        url = request.POST.get("next", "")
        if not url_has_allowed_host_and_scheme(
            url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            url = self._admin_url("changelist")
        return redirect(f"{url}#{fragment}" if fragment else url)

    def tree_step_view(self, request):
        """One step up or down among the siblings (the list's ↑ and ↓ buttons): the value
        names the unit, the side and the sibling the list showed next to it, so a list shown
        before someone else changed that place is refused instead of moving the wrong way."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_change_permission(request):
            raise PermissionDenied
        try:
            pk, position, neighbour_pk = request.POST.get("move", "").split(" ")
        except ValueError:
            pk = position = neighbour_pk = ""
        if position not in ("left", "right"):
            self.message_user(
                request, gettext("Did not understand moving instruction."), level=messages.ERROR
            )
            return self._back_to_list(request)
        side = "up" if position == "left" else "down"
        try:
            with transaction.atomic():
                # Checked under the tree lock, so nothing moves between the check and the move.
                Organization.objects.lock_tree_writes()
                unit = Organization.objects.filter(pk=pk).first()
                neighbour = Organization.objects.filter(pk=neighbour_pk).first()
                if unit is None or neighbour is None:
                    raise ValidationError(
                        gettext(
                            "“%(id)s” no longer exists: it was deleted after the list was shown. "
                            "Nothing was moved; the list now shows the registry as it is."
                        )
                        % {"id": pk if unit is None else neighbour_pk}
                    )
                now = unit.get_previous_sibling() if side == "up" else unit.get_next_sibling()
                if now is None or now.pk != neighbour.pk:
                    raise ValidationError(
                        gettext(
                            "“%(name)s” is no longer next to “%(other)s”: the list was shown "
                            "before someone moved, added or deleted units there. Nothing was "
                            "moved; the list now shows the current order."
                        )
                        % {"name": unit, "other": neighbour}
                    )
                if not self.has_change_permission(request, unit):
                    raise PermissionDenied
                self._record_move(request, unit, neighbour, position)
        except ValidationError as refused:
            self.message_user(request, " ".join(refused.messages), level=messages.ERROR)
            return self._back_to_list(request, f"move-{pk}-{side}")
        label = _MOVED_UP if side == "up" else _MOVED_DOWN
        self.message_user(
            request, label % {"name": unit, "other": neighbour}, extra_tags="tree-move"
        )
        return self._back_to_list(request, f"move-{pk}-{side}")

    def tree_move_view(self, request, object_id):
        """ "Move under…": a new parent (found as the change form finds one) and a position
        among its sub-units, counted from 1; empty puts it last."""
        unit = self.get_object(request, unquote(object_id))
        if unit is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_change_permission(request, unit):
            raise PermissionDenied
        form = TreeMoveForm(request.POST or None, unit=unit, admin_site=self.admin_site)
        if request.method == "POST" and form.is_valid():
            parent = form.cleaned_data["parent"]
            try:
                with transaction.atomic():
                    Organization.objects.lock_tree_writes()
                    unit.refresh_from_db()
                    if str(unit.parent_id or "") != form.cleaned_data["seen_parent"]:
                        raise ValidationError(
                            gettext(
                                "“%(name)s” was moved elsewhere after this form was opened. "
                                "Nothing was moved: check where it is now and choose again."
                            )
                            % {"name": unit}
                        )
                    target, position = form.place(unit, parent)
                    self._record_move(request, unit, target, position)
            except ValidationError as refused:
                form.add_error(None, refused)
            else:
                self.message_user(
                    request,
                    gettext("“%(name)s” moved under “%(parent)s”, position %(position)d.")
                    % {"name": unit, "parent": parent, "position": form.position_number},
                    extra_tags="tree-move",
                )
                listing = self._admin_url("changelist")
                return redirect(
                    f"{listing}?{TreeListFilter.subtree_parameter}={quote(parent.pk)}"
                    f"#move-{unit.pk}-under"
                )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": gettext("Move “%(name)s”") % {"name": unit},
            "original": unit,
            "path": list(unit.get_ancestors()),
            "form": form,
            "media": self.media + form.media,
            "has_view_permission": True,
        }
        return TemplateResponse(request, "admin/registry/organization/tree_move.html", context)

    def _record_move(self, request, unit, target, position) -> str:
        """`organization_move`, with the admin's log entry and the revision's comment, in one
        transaction: every move of the list (drag and drop, buttons, "move under…")."""
        with transaction.atomic():
            before = self.get_data_before_update(request, unit, target)
            note = organization_move(
                organization=unit, target=target, position=position, user=request.user
            )
            self.log_change(
                request, unit, self.get_move_node_change_message(request, unit, target, before)
            )
            if is_active():  # the changelist's revision: where it went, not which fields
                set_comment(note)
        return note

    def _build_tree_structure(self, queryset):
        return {}  # see _tree_context

    def _tree_context(self, request):
        context = super()._tree_context(request)
        structure: dict[str | int, list[str]] = {}
        for node in getattr(request, "registry_changelist_rows", ()):
            structure.setdefault(str(node.parent_id) if node.parent_id else 0, []).append(node.pk)
        context["treeStructure"] = structure
        # Each zone says what a drop there does; registry/tree-list.js adds the row's name.
        context["messages"] |= {
            "before": gettext("Move before"),
            "child": gettext("Move inside"),
            "after": gettext("Move after"),
        }
        return context

    @admin.action(
        description=gettext_lazy("Export selected organizations with everything under them (CSV)")
    )
    def export_subtrees(self, request, queryset):
        # Selected units whose ancestor is also selected are already inside that subtree.
        # In tree order a unit is inside an earlier selected one only if inside the last top
        # kept: one pass, not a comparison of every pair.
        tops: list[Organization] = []
        for unit in sorted(queryset, key=tree_order_key):
            if not tops or not tops[-1].is_ancestor_of(unit):
                tops.append(unit)

        def rows():
            yield from organization_rows(tops[0])
            for top in tops[1:]:
                subtree = organization_rows(top)
                next(subtree)  # one header for the whole file
                yield from subtree

        lines = rows()
        response = StreamingHttpResponse(
            csv_lines(next(lines), lines), content_type="text/csv; charset=utf-8"
        )
        response["Content-Disposition"] = 'attachment; filename="organizations-subtrees.csv"'
        return response

    @admin.action(
        description=gettext_lazy("Export to Wikidata (QuickStatements)"),
        # As the CSV export: whoever may see the records may take them out.
        permissions=("view",),
    )
    def export_quickstatements(self, request, queryset):
        """The selected organizations as QuickStatements V1 commands (registry/quickstatements.py),
        or, when any of them cannot be written as recorded, no file and a message for each: a
        download leaves the list on screen, so a warning beside it might never be read."""
        organizations = sorted(for_quickstatements(queryset), key=tree_order_key)
        refused = refusals(organizations)
        for organization, reason in refused:
            self.message_user(
                request,
                gettext(
                    "“%(name)s” (%(id)s) cannot be exported to Wikidata: %(reason)s. Nothing was "
                    "exported: correct it, or leave it out of the selection."
                )
                % {"name": organization, "id": organization.pk, "reason": reason},
                level=messages.ERROR,
            )
        if refused:
            return None
        for organization in parents_without_qid(organizations):
            self.message_user(
                request,
                gettext(
                    "“%(name)s” (%(id)s) has no parent organization (P749) in the file: its "
                    "parent “%(parent)s” has no Wikidata Q-number. Once it has one in the "
                    "registry, export again."
                )
                % {"name": organization, "id": organization.pk, "parent": organization.parent},
                level=messages.WARNING,
            )
        lines = quickstatements(organizations, retrieved=timezone.localdate())
        response = HttpResponse(
            "".join(f"{line}\n" for line in lines), content_type="text/plain; charset=utf-8"
        )
        response["Content-Disposition"] = 'attachment; filename="quickstatements.txt"'
        return response

    def get_urls(self):
        site = self.admin_site
        info = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            path(
                "autocomplete/",
                site.admin_view(OrganizationAutocompleteJsonView.as_view(admin_site=site)),
                name=URL_NAME,
            ),
            path(
                "suggest-id/",
                site.admin_view(identifier_suggestion_view),
                name="registry_organization_suggest_id",
            ),
            path("move/", site.admin_view(self.tree_step_view), name=f"{info}_tree_step"),
            path(
                "<path:object_id>/move/",
                site.admin_view(self.tree_move_view),
                name=f"{info}_tree_move",
            ),
            *super().get_urls(),
        ]

    def get_search_results(self, request, queryset, search_term):
        results, duplicates = super().get_search_results(request, queryset, search_term)
        if is_autocomplete(request):  # the picker: exact matches first (autocomplete.py)
            results = ranked(results, search_term)
        return results, duplicates

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)

        class TreeCheckedForm(form):
            def clean(self):
                # The model's checks that follow (the parent still exists, is not inside this
                # unit) then see the tree as the save will find it: a parent deleted or moved
                # meanwhile is an error on the form, not a failed save.
                record_lock(model=Organization, pk=self.instance.pk)
                return super().clean()

        if obj is None:  # ids are fixed once created: suggested on the add form only
            TreeCheckedForm.base_fields["id"].widget.attrs["data-suggest-url"] = reverse(
                f"{self.admin_site.name}:registry_organization_suggest_id"
            )
        return TreeCheckedForm

    def save_model(self, request, obj, form, change):
        if change:
            request.registry_move_note = organization_update(organization=obj, user=request.user)
        else:
            organization_add(organization=obj, user=request.user)

    def log_change(self, request, obj, message):
        entry = super().log_change(request, obj, message)
        note = getattr(request, "registry_move_note", None)
        if note:  # a readable line in the history list, not only "Changed parent."
            set_comment(f"{note} {entry.get_change_message()}")
        return entry

    def delete_model(self, request, obj):
        organization_delete(organization=obj)

    def delete_view(self, request, object_id, extra_context=None):
        try:
            return super().delete_view(request, object_id, extra_context)
        except ValidationError as refused:
            # The page's check ran before the tree lock; the service's, under it, found a
            # sub-unit, post or link added meanwhile. The transaction rolled back.
            self.message_user(request, " ".join(refused.messages), level=messages.ERROR)
            return redirect(self._admin_url("change", quote(object_id)))

    def delete_selected_tree(self, modeladmin, request, queryset):
        """Delete the selected organizations all together or not at all, never cascading into
        sub-units, posts or lineage (django-mptt's own action would delete whole subtrees)."""
        if not request.POST.get("post"):
            return super().delete_selected_tree(modeladmin, request, queryset)
        organizations = list(queryset)
        try:
            with transaction.atomic():  # the log entries go with the deletes, or not at all
                self.log_deletions(request, organizations)
                deleted = organization_delete_many(organizations=organizations)
        except ValidationError as refused:
            for message in refused.messages:
                self.message_user(request, message, level=messages.ERROR)
            return None
        self.message_user(
            request,
            ngettext(
                "Deleted %(count)d organization.", "Deleted %(count)d organizations.", deleted
            )
            % {"count": deleted},
        )
        return None

    def _move_node(self, request):
        """django-mptt's drag and drop, through `organization_move` (which records it in the
        history), with django-mptt's answers: its script reloads the page whatever the answer,
        which shows the message."""
        position = request.POST.get("position")
        if position not in MOVE_POSITIONS:
            self.message_user(
                request, gettext("Did not understand moving instruction."), level=messages.ERROR
            )
            return HttpResponse("FAIL, unknown instruction.")
        queryset = self.get_queryset(request)
        try:
            cut_item = queryset.get(pk=request.POST.get("cut_item"))
            pasted_on = queryset.get(pk=request.POST.get("pasted_on"))
        except (Organization.DoesNotExist, TypeError, ValueError):
            self.message_user(
                request, gettext("Objects have disappeared, try again."), level=messages.ERROR
            )
            return HttpResponse("FAIL, invalid objects.")
        if not self.has_change_permission(request, cut_item):
            self.message_user(request, gettext("No permission"), level=messages.ERROR)
            return HttpResponse("FAIL, no permission.")
        try:
            self._record_move(request, cut_item, pasted_on, position)
        except ValidationError as refused:
            self.message_user(request, " ".join(refused.messages), level=messages.ERROR)
            return HttpResponse("FAIL, invalid move.")
        self.message_user(request, gettext("%s has been successfully moved.") % cut_item)
        return HttpResponse("OK, moved.")
