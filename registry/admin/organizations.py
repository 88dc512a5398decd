"""The organizations admin: the tree list, drag and drop, inlines, subtree export."""

from __future__ import annotations

from html import escape

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.utils import quote
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Prefetch
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join
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
from ..trees import tree_order_key
from .autocomplete import (
    URL_NAME,
    OrganizationAutocompleteJsonView,
    OrganizationPickerMixin,
    is_autocomplete,
    ranked,
)
from .csv import CSVImportExportMixin
from .forms import KeepWhitespaceMixin, identifier_suggestion_view
from .history import HistoryAdmin


class TreeListFilter(admin.SimpleListFilter):
    """Narrow the changelist to one top-level body and everything under it.

    A registry holds hundreds or thousands of top-level bodies: a link for each in the sidebar
    would make the page long and slow to build, so they are offered as one drop-down list.
    """

    title = "tree"
    parameter_name = "tree"
    template = "admin/registry/organization/tree_filter.html"

    def lookups(self, request, model_admin):
        return _roots().tree_choices()

    def queryset(self, request, queryset):
        if self.value() and self.value().isdigit():
            return queryset.in_tree(int(self.value()))
        return queryset

    def choices(self, changelist):
        # Only "All" as a link; the drop-down list (`options`) offers the bodies.
        self.kept_parameters = [
            (name, value)
            for name, value in changelist.params.items()
            if name != self.parameter_name
        ]
        yield {
            "selected": self.value() is None,
            "query_string": changelist.get_query_string(remove=[self.parameter_name]),
            "display": "All",
        }

    def options(self) -> str:
        # Built with the standard library's escape: a thousand options through format_html
        # cost more than the rest of the sidebar.
        chosen = self.value()
        return mark_safe(
            "".join(
                f'<option value="{tree_id}"{" selected" if str(tree_id) == chosen else ""}>'
                f"{escape(name)}</option>"
                for tree_id, name in self.lookup_choices
            )
        )


class TreePaginator(Paginator):
    """The admin's paginator, counting the whole registry from the top-level bodies' trees
    (`total()`) instead of COUNT(*) over every row, which is most of an unfiltered changelist's
    time on PostgreSQL at 100,000 organizations. Filtered lists are counted as usual."""

    @cached_property
    def count(self) -> int:
        if self.object_list.query.where:
            return super().count
        return Organization.objects.total()


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
    list_display = ("tree_actions", "indented_title", "id", "kind", "rank", "formed")
    list_display_links = ("indented_title",)
    list_filter = (TreeListFilter, "kind", "rank")
    list_select_related = ("kind", "rank")
    # Names repeat across bodies ("Secretariat"), so search covers every name and the id.
    search_fields = ("name", "name_zh", "short_name_zh", "pinyin_key", "id", "other_names__name")
    # A <select> of every organization does not scale; the autocomplete asks as you type.
    autocomplete_fields = ("parent",)
    # Each row costs the admin's (and django-mptt's) row machinery, about 0.3 ms for this list's
    # columns: fifty rows keep the page within four times the admin's own empty list. The tree
    # filter, the other filters and search narrow the list; drag and drop works within a page.
    list_per_page = 50
    # "N of 100,000 selected" would count the whole table again on every filtered page.
    show_full_result_count = False
    paginator = TreePaginator
    # django-mptt's tree list, with django-reversion's "Recover deleted organizations" link.
    change_list_template = "admin/registry/organization/tree_change_list.html"
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

    def get_changelist_instance(self, request):
        changelist = super().get_changelist_instance(request)
        request.registry_changelist_rows = changelist.result_list
        return changelist

    def _build_tree_structure(self, queryset):
        return {}  # see _tree_context

    def _tree_context(self, request):
        context = super()._tree_context(request)
        structure: dict[str | int, list[str]] = {}
        for node in getattr(request, "registry_changelist_rows", ()):
            structure.setdefault(str(node.parent_id) if node.parent_id else 0, []).append(node.pk)
        context["treeStructure"] = structure
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
            with transaction.atomic():  # the log entry goes with the move
                before = self.get_data_before_update(request, cut_item, pasted_on)
                note = organization_move(
                    organization=cut_item, target=pasted_on, position=position, user=request.user
                )
                self.log_change(
                    request,
                    cut_item,
                    self.get_move_node_change_message(request, cut_item, pasted_on, before),
                )
                if is_active():  # the changelist's revision: where it went, not which fields
                    set_comment(note)
        except ValidationError as refused:
            self.message_user(request, " ".join(refused.messages), level=messages.ERROR)
            return HttpResponse("FAIL, invalid move.")
        self.message_user(request, gettext("%s has been successfully moved.") % cut_item)
        return HttpResponse("OK, moved.")
