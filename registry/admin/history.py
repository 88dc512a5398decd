"""History in the admin: scoped reverts and recovers, paged history lists, stale-form checks."""

from __future__ import annotations

from contextlib import nullcontext

from django.contrib import admin, messages
from django.contrib.admin.utils import quote, unquote
from django.contrib.admin.views.main import PAGE_VAR
from django.core.exceptions import ImproperlyConfigured, PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import connections, models, transaction
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_delete, pre_save
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext
from reversion import add_to_revision, is_active, set_comment
from reversion.admin import VersionAdmin, _RollBackRevisionView
from reversion.errors import RevertError
from reversion.models import Version
from reversion.utils import mute_signals

from ..history import (
    history_fingerprint,
    history_owner_fields,
    history_restore,
    record_lock,
)


class HistoryAdmin(VersionAdmin):
    """django-reversion's history pages, restoring the chosen record only.

    The library reverts every object of the version's revision; here `history_restore`
    writes back the record and what it owns, nothing else (see registry/history.py). A
    version is used only from its own model's pages and, for a revert, its own record's.
    The preview (GET) restores, renders and rolls back; the save (POST) keeps it.
    """

    # A change form carries the state of the record it was opened on (`history_fingerprint`:
    # the record and what it owns). Saving it after someone else saved the record would
    # silently put back their values with the form's, so such a save is refused instead.

    STATE_FIELD = "registry_state"
    object_history_template = "reversion/registry/object_history.html"
    recover_list_template = "reversion/registry/recover_list.html"
    # "Recover deleted" and "Recent changes" (registry/admin/recent.py).
    change_list_template = "reversion/registry/change_list.html"
    history_per_page = 100

    def _state(self, pk) -> str:
        """The record as its change form edits it: with what it owns (its history's `follow`)
        and the rows of its inlines that belong to other records (a person's holdings)."""
        return history_fingerprint(model=self.model, pk=pk, also=self._inline_rows())

    def _inline_rows(self) -> list[tuple[type[models.Model], str]]:
        """Each inline's model, with its foreign key's attname pointing at this model."""
        inlines = []
        for inline in self.inlines:
            fk = next(
                f
                for f in inline.model._meta.concrete_fields
                if f.is_relation
                and f.related_model is self.model
                and inline.fk_name in (None, f.name)
            )
            inlines.append((inline.model, fk.attname))
        return inlines

    def render_change_form(self, request, context, add=False, change=False, **kwargs):
        obj = kwargs.get("obj")
        if change and obj is not None and obj.pk is not None:
            # A form sent back with errors keeps the state it was first opened on; a restore's
            # form carries the state its preview was worked out from (see below).
            context.setdefault(
                self.STATE_FIELD, request.POST.get(self.STATE_FIELD) or self._state(obj.pk)
            )
        return super().render_change_form(request, context, add=add, change=change, **kwargs)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        opened = request.POST.get(self.STATE_FIELD) if request.method == "POST" else None
        if obj is None or not opened or getattr(request, "registry_restoring", False):
            return form
        admin_ = self

        class StateCheckedForm(form):
            def clean(self):
                cleaned = super().clean()
                # No save or restore may land between this check and the save.
                record_lock(model=admin_.model, pk=self.instance.pk)
                if admin_._state(self.instance.pk) != opened:
                    raise ValidationError(
                        f"“{self.instance}” was changed by someone else after you opened this "
                        "form, so nothing was saved: saving would have put back the values "
                        "this form was opened with. Open the form again (its history shows "
                        "what changed) and make your change there.",
                        code="stale",
                    )
                return cleaned

        return StateCheckedForm

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        # Rows saved here may belong to another record's history: a post's to its organization,
        # a holding edited on its person's page to its post, a successor link to its successor.
        # Record those owners too, or their history would miss the change (a post recovered
        # later would come back without the holder added on the person's page).
        if not is_active():
            return
        touched = [(form.instance, form)]
        for formset in formsets:
            deleted = set(map(id, formset.deleted_forms)) if formset.can_delete else set()
            touched += [
                (f.instance, f) for f in formset.forms if f.has_changed() or id(f) in deleted
            ]
        owners = {}
        while touched:
            row, row_form = touched.pop()
            for field in history_owner_fields(type(row)):
                ids = {getattr(row, field.attname)}
                if row_form is not None:  # where it belonged before this save
                    ids.add(row_form.initial.get(field.name))
                for pk in ids - {None}:
                    key = (field.related_model, str(pk))
                    if key in owners or key == (type(form.instance), str(form.instance.pk)):
                        continue
                    owners[key] = field.related_model._base_manager.filter(pk=pk).first()
                    if owners[key] is not None:
                        touched.append((owners[key], None))
        for owner in owners.values():
            if owner is not None:
                add_to_revision(owner)

    def recoverlist_view(self, request, extra_context=None):
        """django-reversion's "Recover deleted" list, a page at a time (thousands of deleted
        records would otherwise be one page)."""
        if not self.has_change_permission(request) or not self.has_add_permission(request):
            raise PermissionDenied
        deleted = self._reversion_order_version_queryset(
            request, Version.objects.get_deleted(self.model).select_related("revision")
        )
        page = Paginator(deleted, self.history_per_page).get_page(request.GET.get(PAGE_VAR))
        context = {
            "deleted": list(page),
            "versions_page": page,
            "versions_page_range": page.paginator.get_elided_page_range(page.number),
            "page_var": PAGE_VAR,
        } | (extra_context or {})
        return super().recoverlist_view(request, context)

    def history_view(self, request, object_id, extra_context=None):
        """django-reversion's history list, a page at a time: a record edited thousands of times
        would otherwise list every version on one page."""
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        versions = self._reversion_order_version_queryset(
            request,
            Version.objects.get_for_object_reference(
                self.model, unquote(object_id)
            ).select_related("revision", "revision__user"),
        )
        page = Paginator(versions, self.history_per_page).get_page(request.GET.get(PAGE_VAR))
        context = {
            "action_list": [
                {
                    "revision": version.revision,
                    "url": self._admin_url("revision", quote(version.object_id), version.pk),
                }
                for version in page
            ],
            "versions_page": page,
            "versions_page_range": page.paginator.get_elided_page_range(page.number),
            "page_var": PAGE_VAR,
        } | (extra_context or {})
        return admin.ModelAdmin.history_view(self, request, object_id, context)

    def recover_view(self, request, version_id, extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        version = get_object_or_404(Version.objects.get_for_model(self.model), pk=version_id)
        if self.model._base_manager.filter(pk=version.object_id).exists():
            messages.error(
                request,
                gettext(
                    "“%(record)s” is not deleted: restore one of its versions from its history "
                    "page instead."
                )
                % {"record": version.object_repr},
            )
            return redirect(self._history_url(version.object_id))
        return self._restore_view(request, version, "recover", extra_context)

    def revision_view(self, request, object_id, version_id, extra_context=None):
        # Checked before anything is restored, even in a rolled-back preview.
        if not self.has_view_or_change_permission(request) or (
            request.method == "POST" and not self.has_change_permission(request)
        ):
            raise PermissionDenied
        object_id = unquote(object_id)
        version = get_object_or_404(
            Version.objects.get_for_model(self.model), pk=version_id, object_id=object_id
        )
        return self._restore_view(request, version, "revert", extra_context)

    def _restore_view(self, request, version, action: str, extra_context=None):
        """django-reversion's recover or revision form (`action`: "recover" or "revert")."""
        template = {"recover": "recover_form.html", "revert": "revision_form.html"}[action]
        chosen = self.recover_form_template if action == "recover" else self.revision_form_template
        context = {"title": f"{action.capitalize()} {version.object_repr}", action: True}
        return self._reversion_revisionform_view(
            request,
            version,
            chosen or self._reversion_get_template_list(template),
            context | (extra_context or {}),
        )

    def _reversion_revisionform_view(self, request, version, template_name, extra_context=None):
        if not connections[version.db].features.uses_savepoints:
            raise ImproperlyConfigured("History needs a database with savepoints.")
        # A preview must have no side effects beyond the rolled-back transaction.
        signals = (
            mute_signals(pre_save, post_save, pre_delete, post_delete, m2m_changed)
            if request.method == "GET"
            else nullcontext()
        )
        opened = request.POST.get(self.STATE_FIELD) if request.method == "POST" else None
        try:
            with transaction.atomic(using=version.db), signals:
                # The confirm carries the state its preview was worked out from: the restore
                # is refused if someone changed the record since.
                plan = history_restore(
                    version=version, opened_state=opened, also=self._inline_rows()
                )
                request.registry_restoring = True  # the form's own state check would differ
                context = {
                    "restore_plan": plan.summary,
                    "restore_record": version.object_repr,
                    self.STATE_FIELD: opened or plan.state,
                } | (extra_context or {})
                with self.create_revision(request):
                    response = self.changeform_view(
                        request, quote(version.object_id), request.path, context
                    )
                    if request.method == "POST" and response.status_code == 302:
                        saved = timezone.localtime(version.revision.date_created)
                        set_comment(
                            " ".join(
                                [
                                    f"Restored the version saved on {saved:%Y-%m-%d %H:%M}.",
                                    *plan.summary,
                                ]
                            )
                        )
                    elif response.status_code == 200:
                        response.template_name = template_name
                        response.render()
                        raise _RollBackRevisionView(response)
                    else:
                        raise Http404(f"“{version.object_repr}” could not be loaded.")
        except (ValidationError, RevertError) as error:
            messages.error(request, " ".join(getattr(error, "messages", [str(error)])))
            if "recover" in (extra_context or {}):
                return redirect(self._admin_url("recoverlist"))
            return redirect(self._history_url(version.object_id))
        except _RollBackRevisionView as rolled_back:
            return rolled_back.response
        return response

    def _admin_url(self, name: str, *args) -> str:
        opts = self.model._meta
        return reverse(
            f"{self.admin_site.name}:{opts.app_label}_{opts.model_name}_{name}", args=args
        )

    def _history_url(self, object_id) -> str:
        return self._admin_url("history", quote(object_id))
