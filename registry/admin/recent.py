"""Recent changes, for curators: who changed what, when, newest first, each linked to the
record's history.

Every path that writes the registry with history writes django-reversion `Revision` rows: the
admin's saves (their comment is the admin's change message), drag and drop moves, CSV imports
and reforms (`history_record`, one revision per record, all with the same date, curator and
comment), restores and recovers. Deletes leave no revision, so they come from the admin's
`LogEntry` rows. An import of 20,000 organizations is 20,000 revisions with one date, curator
and comment: they are grouped into one line ("Imported 20,000 organizations") by the database,
and a page reads the records of its own lines only.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from datetime import datetime

from django.contrib import admin
from django.contrib.admin.models import DELETION, LogEntry
from django.contrib.admin.utils import quote
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Min, OuterRef, Subquery
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils.text import capfirst
from django.utils.translation import gettext
from reversion.models import Revision, Version
from reversion.revisions import get_registered_models

PER_PAGE = 50


class Kind:
    ADDED = "added"
    CHANGED = "changed"
    MOVED = "moved"
    DELETED = "deleted"
    IMPORTED = "imported"
    REVERTED = "reverted"


@dataclass
class Change:
    when: datetime
    user_id: int | None
    comment: str
    kind: str = Kind.CHANGED
    records: int = 1
    model: type | None = None
    object_id: str = ""
    object_repr: str = ""
    models_count: list[tuple[type, int]] | None = None
    revision_first: int | None = None
    user: object = None

    @property
    def what(self) -> str:
        """The record, or for a line of many records how many of each model."""
        if self.records > 1 and self.models_count:
            return ", ".join(
                f"{count:,} {_plural(model, count)}" for model, count in self.models_count
            )
        return self.object_repr

    @property
    def model_label(self) -> str:
        return str(self.model._meta.verbose_name) if self.model is not None else ""

    @property
    def kind_label(self) -> str:
        return {
            Kind.ADDED: gettext("added"),
            Kind.CHANGED: gettext("changed"),
            Kind.MOVED: gettext("moved"),
            Kind.DELETED: gettext("deleted"),
            Kind.IMPORTED: gettext("imported"),
            Kind.REVERTED: gettext("reverted"),
        }[self.kind]

    def _url(self, view: str) -> str:
        if self.model is None or not self.object_id:
            return ""
        opts = self.model._meta
        try:
            return reverse(
                f"admin:{opts.app_label}_{opts.model_name}_{view}", args=[quote(self.object_id)]
            )
        except NoReverseMatch:
            return ""

    @property
    def change_url(self) -> str:
        if self.records > 1 and self.model is not None:
            opts = self.model._meta
            return reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
        return "" if self.kind == Kind.DELETED else self._url("change")

    @property
    def history_url(self) -> str:
        return "" if self.records > 1 else self._url("history")


def _plural(model, count: int) -> str:
    return str(model._meta.verbose_name if count == 1 else model._meta.verbose_name_plural)


def _kind(comment: str, records: int) -> str:
    """The kind of change a revision's comment tells (the comments the registry writes:
    services.py, history.py, reforms.py and the admin's change messages)."""
    if comment.startswith(("CSV import", "Initial version", "Seed registry loaded")):
        return Kind.IMPORTED
    if comment.startswith(("Restored", "Recovered", "Reverted")):
        return Kind.REVERTED
    if comment.startswith("Moved") or "Moved from" in comment:
        return Kind.MOVED
    if comment.startswith("Added") and records == 1:
        return Kind.ADDED
    return Kind.CHANGED


def visible_models(request) -> list[type]:
    """The models with history whose records the request's user may view in the admin."""
    return [
        model
        for model in get_registered_models()
        if admin.site.is_registered(model)
        and admin.site.get_model_admin(model).has_view_permission(request)
    ]


def _revision_groups(models, user_id, offset, limit):
    types = ContentType.objects.get_for_models(*models).values()
    # A revision is its first version's record (the one saved; what it owns, and owners
    # recorded with it, come after), so it is shown to those who may view that record's model.
    record_type = (
        Version.objects.filter(revision=OuterRef("pk")).order_by("pk").values("content_type")[:1]
    )
    revisions = Revision.objects.annotate(record_type=Subquery(record_type)).filter(
        record_type__in=[t.pk for t in types]
    )
    if user_id:
        revisions = revisions.filter(user_id=user_id)
    rows = (
        revisions.values("date_created", "user_id", "comment")
        .annotate(records=Count("id"), first=Min("id"))
        .order_by("-date_created", "-first")[offset : offset + limit]
    )
    return [
        Change(
            when=row["date_created"],
            user_id=row["user_id"],
            comment=row["comment"],
            records=row["records"],
            revision_first=row["first"],
            kind=_kind(row["comment"], row["records"]),
        )
        for row in rows
    ]


def _deletions(models, user_id, offset, limit):
    types = ContentType.objects.get_for_models(*models).values()
    entries = LogEntry.objects.filter(action_flag=DELETION, content_type__in=types)
    if user_id:
        entries = entries.filter(user_id=user_id)
    return [
        Change(
            when=entry.action_time,
            user_id=entry.user_id,
            comment=gettext("Deleted."),
            kind=Kind.DELETED,
            model=entry.content_type.model_class(),
            object_id=entry.object_id or "",
            object_repr=entry.object_repr,
        )
        for entry in entries.select_related("content_type").order_by("-action_time", "-pk")[
            offset : offset + limit
        ]
    ]


def _describe(changes: list[Change], models) -> None:
    """Each line's record (the first version of its first revision: the record saved, before
    what it owns) and, for lines of many records, how many of each model; a few queries for the
    page, whatever the size of its revisions."""
    types = ContentType.objects.get_for_models(*models).values() if models else []
    firsts = [c.revision_first for c in changes if c.revision_first is not None]
    first_versions = {}
    for version in (
        Version.objects.filter(revision_id__in=firsts)
        .select_related("content_type")
        .order_by("revision_id", "pk")
    ):
        first_versions.setdefault(version.revision_id, version)
    for change in changes:
        version = first_versions.get(change.revision_first)
        if version is not None:
            change.model = version.content_type.model_class()
            change.object_id = version.object_id
            change.object_repr = version.object_repr
        if change.records > 1:
            group = Revision.objects.filter(date_created=change.when, comment=change.comment)
            group = (
                group.filter(user_id=change.user_id)
                if change.user_id is not None
                else group.filter(user__isnull=True)
            )
            record_versions = (
                Version.objects.filter(revision__in=group)
                .values("revision_id")
                .annotate(first=Min("pk"))
                .values("first")
            )
            counts = (
                Version.objects.filter(pk__in=record_versions, content_type__in=types)
                .values("content_type_id")
                .annotate(count=Count("pk"))
                .order_by("-count")
            )
            change.models_count = [
                (
                    ContentType.objects.get_for_id(row["content_type_id"]).model_class(),
                    row["count"],
                )
                for row in counts
            ]
            if change.models_count:
                change.model = change.models_count[0][0]


def recent_changes_view(request):
    if not request.user.is_active or not request.user.is_staff:
        raise PermissionDenied
    models = visible_models(request)
    by_label = {m._meta.label_lower: m for m in models}
    asked = request.GET.get("model", "")
    chosen_model = by_label.get(asked)
    # A model the curator may not view (or none such) shows nothing, not everything.
    shown_models = [chosen_model] if chosen_model else ([] if asked else models)
    user_id = request.GET.get("user", "")
    user_id = int(user_id) if user_id.isdigit() else None
    try:
        page = max(1, int(request.GET.get("p", "1")))
    except ValueError:
        page = 1
    # Two streams, newest first: the first page*PER_PAGE + 1 of each hold the page's lines.
    wanted = page * PER_PAGE + 1
    changes = []
    if shown_models:
        changes = list(
            heapq.merge(
                _revision_groups(shown_models, user_id, 0, wanted),
                _deletions(shown_models, user_id, 0, wanted),
                key=lambda c: c.when,
                reverse=True,
            )
        )
    has_next = len(changes) > page * PER_PAGE
    changes = changes[(page - 1) * PER_PAGE : page * PER_PAGE]
    _describe(changes, shown_models)
    users = get_user_model()._default_manager.filter(is_staff=True).order_by("username")
    by_id = {u.pk: u for u in users}
    for change in changes:
        change.user = by_id.get(change.user_id)
    context = {
        **admin.site.each_context(request),
        "title": gettext("Recent changes"),
        "changes": changes,
        "page": page,
        "has_next": has_next,
        "curators": users,
        "chosen_user": user_id,
        "models": sorted(
            ((m._meta.label_lower, capfirst(m._meta.verbose_name_plural)) for m in models),
            key=lambda pair: str(pair[1]),
        ),
        "chosen_model": chosen_model._meta.label_lower if chosen_model else "",
    }
    return TemplateResponse(request, "admin/registry/recent_changes.html", context)
