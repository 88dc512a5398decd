"""The admins of kinds, ranks, sources, posts and people."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Count
from django.urls import path
from django.utils.translation import gettext_lazy

from ..models import (
    ChangeEvent,
    EventOrganization,
    Holding,
    Kind,
    Person,
    Post,
    Rank,
    Source,
)
from ..resources import PostResource
from .autocomplete import OrganizationPickerMixin
from .csv import CSVImportExportMixin
from .forms import KeepWhitespaceMixin
from .history import HistoryAdmin
from .organizations import IdentifierInline
from .reforms import correct_date_view, record_view


@admin.register(Kind)
class KindAdmin(KeepWhitespaceMixin, HistoryAdmin):
    list_display = ("name", "code", "section", "order")
    list_editable = ("order",)
    search_fields = ("name", "code")


@admin.register(Rank)
class RankAdmin(KeepWhitespaceMixin, HistoryAdmin):
    list_display = ("name", "name_zh", "code", "order")
    list_editable = ("order",)
    search_fields = ("name", "name_zh", "code")


@admin.register(Source)
class SourceAdmin(KeepWhitespaceMixin, HistoryAdmin):
    list_display = ("title", "publisher", "url")
    search_fields = ("title", "publisher", "url")


class HoldingInline(KeepWhitespaceMixin, admin.TabularInline):
    model = Holding
    extra = 0
    autocomplete_fields = ("person",)
    fields = ("person", "position", "start", "end")


@admin.register(Post)
class PostAdmin(OrganizationPickerMixin, KeepWhitespaceMixin, CSVImportExportMixin, HistoryAdmin):
    resource_classes = (PostResource,)
    list_display = ("title", "organization", "position", "holder_count")
    list_select_related = ("organization",)
    list_filter = ("title",)
    search_fields = ("title", "organization__name", "organization__id")
    autocomplete_fields = ("organization",)
    inlines = (HoldingInline,)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(holders_total=Count("holdings"))

    @admin.display(description=gettext_lazy("holders"), ordering="holders_total")
    def holder_count(self, post: Post) -> int:
        return post.holders_total


class HeldPostInline(KeepWhitespaceMixin, admin.TabularInline):
    model = Holding
    extra = 0
    autocomplete_fields = ("post",)
    fields = ("post", "position", "start", "end")
    verbose_name = "post held"
    verbose_name_plural = "posts held"


@admin.register(Person)
class PersonAdmin(KeepWhitespaceMixin, HistoryAdmin):
    list_display = ("name", "name_zh", "id")
    # Chinese names and their pinyin (toneless, as `pinyin_key` holds it) find people too.
    search_fields = ("name", "name_zh", "pinyin_key", "id")
    autocomplete_fields = ("sources",)
    inlines = (IdentifierInline, HeldPostInline)

    def get_readonly_fields(self, request, obj=None):
        return ("id",) if obj else ()


class EventOrganizationInline(OrganizationPickerMixin, admin.TabularInline):
    model = EventOrganization
    extra = 1
    autocomplete_fields = ("organization",)
    fields = ("organization", "role", "position")


@admin.register(ChangeEvent)
class ChangeEventAdmin(KeepWhitespaceMixin, HistoryAdmin):
    """Reforms as they happened: typed, dated, sourced, with the organizations before and after."""

    list_display = ("id", "type", "date", "source")
    list_filter = ("type",)
    list_select_related = ("source",)
    search_fields = ("id", "note", "participants__organization__name")
    autocomplete_fields = ("source", "rank_before", "rank_after")
    fields = ("id", "type", "date", "note", "source", "locator", "rank_before", "rank_after")
    inlines = (EventOrganizationInline,)
    # "Record a change" beside django-reversion's "Recover deleted".
    change_list_template = "admin/registry/changeevent/change_list.html"

    def get_readonly_fields(self, request, obj=None):
        # A saved event's date is corrected on its own page ("Correct the date"), which moves
        # the dates of the placements, names, dissolutions and links it wrote with it.
        return ("id", "date") if obj else ()

    def get_urls(self):
        def wrap(view):
            return self.admin_site.admin_view(
                lambda request, *args, **kwargs: view(self, request, *args, **kwargs)
            )

        return [
            path("record/", wrap(record_view), name="registry_changeevent_record"),
            path(
                "<path:object_id>/date/",
                wrap(correct_date_view),
                name="registry_changeevent_correct_date",
            ),
            *super().get_urls(),
        ]
