"""Curation: staff edit the registry here."""

from __future__ import annotations

from contextlib import nullcontext
from html import escape

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.utils import quote, unquote
from django.contrib.admin.views.main import PAGE_VAR
from django.core.exceptions import ImproperlyConfigured, PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import connections, models, transaction
from django.db.models import Count, Prefetch
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_delete, pre_save
from django.http import Http404, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext
from django.views.decorators.http import require_POST
from import_export.admin import ImportExportMixin
from import_export.forms import ExportForm
from mptt.admin import DraggableMPTTAdmin
from reversion import add_to_revision, is_active, set_comment
from reversion.admin import VersionAdmin, _RollBackRevisionView
from reversion.errors import RevertError
from reversion.models import Version
from reversion.utils import mute_signals

from .csvcodec import csv_lines
from .exports import organization_rows
from .history import (
    history_fingerprint,
    history_owner_fields,
    history_restore,
    record_lock,
)
from .imports import ImportReport
from .models import (
    Citation,
    Holding,
    Kind,
    Organization,
    OtherName,
    Person,
    Post,
    Rank,
    Source,
    Succession,
)
from .resources import (
    PREVIEW_ROWS,
    ExcelCSV,
    OrganizationResource,
    PostResource,
    RegistryCSV,
    import_preview,
    registry_state_digest,
    report_digest,
    updated_keys,
    upload_exists,
    upload_keys,
    upload_keys_save,
    upload_read,
    upload_remove,
    upload_save,
    uploads_sweep,
)
from .schema import ORGANIZATIONS, admin_fieldsets
from .services import (
    MOVE_POSITIONS,
    csv_import,
    organization_add,
    organization_delete,
    organization_delete_many,
    organization_move,
    organization_update,
)
from .trees import tree_order_key


class KeepWhitespaceMixin:
    """Form fields keep what the curator typed, leading and trailing spaces included.

    Django's form CharField strips them by default, so saving an unchanged form changed
    imported names and summaries, and two other names `X` and `X ` could not be saved.
    Identifiers, codes and dates with spaces are then refused by their validators."""

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if isinstance(db_field, models.URLField):
            # forms.URLField would prefix an address typed without a scheme with "http://"
            # (and warns about that default changing); the model's validators refuse it instead.
            kwargs.setdefault("form_class", forms.CharField)
        formfield = super().formfield_for_dbfield(db_field, request, **kwargs)
        if hasattr(formfield, "strip"):
            formfield.strip = False
            if formfield.required:  # stripping was what refused a name of only spaces
                formfield.validators.append(_not_only_spaces)
        return formfield

    # Browsers send every line break of a text area as CRLF, whatever the text held: a text
    # imported with LF line breaks would change on every save of an unchanged form.

    def get_form(self, request, obj=None, **kwargs):
        return _keeping_line_breaks(super().get_form(request, obj, **kwargs))

    def get_formset(self, request, obj=None, **kwargs):  # inlines
        formset = super().get_formset(request, obj, **kwargs)
        formset.form = _keeping_line_breaks(formset.form)
        return formset


def _not_only_spaces(value) -> None:
    if isinstance(value, str) and value and not value.strip():
        raise ValidationError("This field cannot be only spaces.", code="blank")


def _keeping_line_breaks(form: type[forms.BaseForm]) -> type[forms.BaseForm]:
    """`form`, keeping a text area's stored value when what came back differs from it only in
    how line breaks are written."""

    class LineBreaksKeptForm(form):
        def clean(self):
            cleaned = super().clean()
            for name, field in self.fields.items():
                value = cleaned.get(name)
                if not isinstance(field.widget, forms.Textarea) or not isinstance(value, str):
                    continue
                stored = self.get_initial_for_field(field, name)
                if isinstance(stored, str) and stored != value and _lines(stored) == _lines(value):
                    cleaned[name] = stored
            return cleaned

    LineBreaksKeptForm.__name__ = form.__name__
    return LineBreaksKeptForm


def _lines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


class _PreviewChanged(Exception):
    """Raised inside a confirm's transaction to undo an import that no longer matches its
    preview."""

    def __init__(self, report: ImportReport):
        super().__init__(report.summary())
        self.report = report


class CSVImportExportMixin(ImportExportMixin):
    """Import and Export buttons on the registry's own CSV pipeline (see resources.py).

    The import is django-import-export's two steps, upload (a dry run, shown as a preview) and
    confirm, with three differences. The preview lists every problem in its row, in file order,
    and stays bounded however large the file. An upload is stored under a random name recorded
    in the uploader's session: confirm accepts only that name, never a path. And confirm imports
    only what the preview showed: if the registry changed since, nothing is written and the new
    preview is shown.
    """

    import_formats = (RegistryCSV,)
    export_formats = (RegistryCSV, ExcelCSV)
    export_form_class = ExportForm  # every column, always: the CSV contract is fixed
    skip_admin_log = True
    import_template_name = "admin/import_export/registry_import.html"
    SESSION_UPLOADS = "registry_import_uploads"
    PENDING_UPLOADS = 5  # per session

    def add_data_read_fail_error_to_form(self, form, e):
        # Say what is wrong with the file (encoding, structure), not just the exception's name.
        form.add_error("import_file", f"The file cannot be read: {e}")

    def import_action(self, request, **kwargs):
        """Upload: run the import as a dry run and show its preview."""
        if not self.has_import_permission(request):
            raise PermissionDenied
        form = self.create_import_form(request)
        context = {}
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["import_file"]
            data = b"".join(upload.chunks())
            uploads_sweep()
            self._forget_swept_uploads(request)
            dataset = self._dataset(form, request)
            report = csv_import(
                dataset, data, file_name=upload.name, user=request.user, dry_run=True
            )
            context = self._preview_context(request, report, data, form=form)
            if report.ok and report.changed:  # else there is nothing to confirm
                upload.tmp_storage_name = self._store_upload(
                    request, data, dataset=dataset, file_name=upload.name, report=report
                )
                context["confirm_form"] = self.create_confirm_form(request, import_form=form)
        return self._import_page(request, form, context)

    @method_decorator(require_POST)
    def process_import(self, request, **kwargs):
        """Confirm: import the upload this user's preview stored, if it still does what the
        preview showed."""
        if not self.has_import_permission(request):
            raise PermissionDenied
        form = self._import_form_unbound(request)
        name = request.POST.get("import_file_name", "")
        entry = self._recorded_upload(request, name)
        data = upload_read(name) if entry else None
        if data is None:
            # Never touch the named file: it is not this user's upload, or it was swept.
            context = {
                "refusal": "This is not an upload your preview stored, or it was removed "
                "after waiting too long: nothing was imported. Choose the file again."
            }
            return self._import_page(request, form, context, status=400)
        dataset = entry["dataset"]
        try:
            with transaction.atomic():
                # No other tree writer between the fingerprint and the import's own reads.
                record_lock(model=Organization)
                state = registry_state_digest(dataset, upload_keys(name))
                report = csv_import(dataset, data, file_name=entry["file_name"], user=request.user)
                if (
                    not report.applied
                    or report_digest(report) != entry["digest"]
                    or state != entry["state"]
                ):
                    raise _PreviewChanged(report)
        except _PreviewChanged as changed:
            report = changed.report
            context = self._preview_context(request, report, data, form=form)
            context["changed_since_preview"] = True
            if report.ok and report.changed:
                self._remember_preview(request, name, entry, report)
                context["confirm_form"] = self.get_confirm_form_class(request)(
                    initial={
                        "import_file_name": name,
                        "original_file_name": entry["file_name"],
                        "format": request.POST.get("format", "0"),
                        "resource": request.POST.get("resource", ""),
                    }
                )
            else:
                self._discard_upload(request, name)
            return self._import_page(request, form, context, status=409)
        self._discard_upload(request, name)
        messages.success(
            request,
            f"Import finished: {entry['file_name']}: {report.count('new')} new, "
            f"{report.count('update')} updated, {report.count('unchanged')} unchanged "
            f"{self.model._meta.verbose_name_plural}.",
        )
        return HttpResponseRedirect(
            reverse(
                "admin:{}_{}_changelist".format(*self.get_model_info()),
                current_app=self.admin_site.name,
            )
        )

    def _import_form_unbound(self, request):
        form_class = self.get_import_form_class(request)
        return form_class(
            self.get_import_formats(),
            self.get_import_resource_classes(request),
            initial=self.get_import_form_initial(request),
        )

    def _dataset(self, form, request) -> str:
        return self.choose_import_resource_class(form, request).dataset

    def _preview_context(self, request, report, data: bytes, *, form) -> dict:
        if any(problem.where == "file" for problem in report.problems):
            for problem in report.problems:
                if problem.where == "file":
                    form.add_error("import_file", f"The file cannot be read: {problem.message}")
            return {}
        return {"preview": import_preview(report, data), "preview_limit": PREVIEW_ROWS}

    def _import_page(self, request, form, context: dict, status: int = 200):
        context.update(self.admin_site.each_context(request))
        context.update(
            title="Import",
            form=form,
            opts=self.model._meta,
            media=self.media + form.media,
            fields_list=[
                (resource.get_display_name(), list(resource.columns))
                for resource in self.get_import_resource_classes(request)
            ],
        )
        request.current_app = self.admin_site.name
        return TemplateResponse(request, [self.import_template_name], context, status=status)

    # Uploads awaiting their confirm, recorded in the uploader's session: {name: entry}.

    def _store_upload(self, request, data: bytes, *, dataset: str, file_name: str, report) -> str:
        name = upload_save(data)
        entry = {
            "user": str(request.user.pk),
            "model": self.model._meta.label_lower,
            "dataset": dataset,
            "file_name": file_name,
        }
        self._remember_preview(request, name, entry, report)
        return name

    def _remember_preview(self, request, name: str, entry: dict, report: ImportReport) -> None:
        """Record what the preview of upload `name` showed, for its confirm to compare."""
        keys = updated_keys(report)
        upload_keys_save(name, keys)
        entry["digest"] = report_digest(report)
        entry["state"] = registry_state_digest(report.dataset, keys)
        self._remember_upload(request, name, entry)

    def _remember_upload(self, request, name: str, entry: dict) -> None:
        uploads = dict(request.session.get(self.SESSION_UPLOADS, {}))
        uploads.pop(name, None)
        uploads[name] = entry  # last: the dict keeps the order of previews
        # A few previews may wait side by side (several tabs); older ones give way, so that
        # repeated uploads cannot fill the disk for a day.
        while len(uploads) > self.PENDING_UPLOADS:
            upload_remove(next(iter(uploads)))
            del uploads[next(iter(uploads))]
        request.session[self.SESSION_UPLOADS] = uploads

    def _recorded_upload(self, request, name: str) -> dict | None:
        entry = request.session.get(self.SESSION_UPLOADS, {}).get(name)
        if (
            entry is None
            or entry.get("user") != str(request.user.pk)
            or entry.get("model") != self.model._meta.label_lower
        ):
            return None
        return dict(entry)

    def _discard_upload(self, request, name: str) -> None:
        upload_remove(name)
        uploads = dict(request.session.get(self.SESSION_UPLOADS, {}))
        uploads.pop(name, None)
        request.session[self.SESSION_UPLOADS] = uploads

    def _forget_swept_uploads(self, request) -> None:
        uploads = request.session.get(self.SESSION_UPLOADS, {})
        kept = {name: entry for name, entry in uploads.items() if upload_exists(name)}
        if kept != uploads:
            request.session[self.SESSION_UPLOADS] = kept


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
                f"“{version.object_repr}” is not deleted: restore one of its versions from "
                "its history page instead.",
            )
            return redirect(self._history_url(version.object_id))
        context = {"title": f"Recover {version.object_repr}", "recover": True}
        return self._reversion_revisionform_view(
            request,
            version,
            self.recover_form_template or self._reversion_get_template_list("recover_form.html"),
            context | (extra_context or {}),
        )

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
        context = {"title": f"Revert {version.object_repr}", "revert": True}
        return self._reversion_revisionform_view(
            request,
            version,
            self.revision_form_template or self._reversion_get_template_list("revision_form.html"),
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
    fields = ("name", "name_type", "language", "position")


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

    @admin.display(description="holders, in order")
    def holder_list(self, post: Post):
        holdings = post.holdings.all()
        if not holdings:
            return "—"
        return format_html_join(", ", "{}", ((h.person.name,) for h in holdings))


class PredecessorInline(KeepWhitespaceMixin, admin.TabularInline):
    model = Succession
    fk_name = "successor"
    extra = 0
    autocomplete_fields = ("predecessor",)
    fields = ("predecessor", "date", "note")
    verbose_name = "predecessor"
    verbose_name_plural = "predecessors"


class SuccessorInline(KeepWhitespaceMixin, admin.TabularInline):
    model = Succession
    fk_name = "predecessor"
    extra = 0
    autocomplete_fields = ("successor",)
    fields = ("successor", "date", "note")
    verbose_name = "successor"
    verbose_name_plural = "successors"


@admin.register(Organization)
class OrganizationAdmin(
    KeepWhitespaceMixin, CSVImportExportMixin, HistoryAdmin, DraggableMPTTAdmin
):
    list_display = ("tree_actions", "indented_title", "id", "kind", "rank", "formed")
    list_display_links = ("indented_title",)
    list_filter = (TreeListFilter, "kind", "rank")
    list_select_related = ("kind", "rank")
    # Names repeat across bodies ("Secretariat"), so search covers every name and the id.
    search_fields = ("name", "id", "other_names__name")
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
    actions = ("export_subtrees",)
    inlines = (OtherNameInline, PostInline, CitationInline, PredecessorInline, SuccessorInline)
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

    @admin.action(description="Export selected organizations with everything under them (CSV)")
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

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)

        class TreeCheckedForm(form):
            def clean(self):
                # The model's checks that follow (the parent still exists, is not inside this
                # unit) then see the tree as the save will find it: a parent deleted or moved
                # meanwhile is an error on the form, not a failed save.
                record_lock(model=Organization, pk=self.instance.pk)
                return super().clean()

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
        self.message_user(request, f"Deleted {deleted} organizations.")
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
class PostAdmin(KeepWhitespaceMixin, CSVImportExportMixin, HistoryAdmin):
    resource_classes = (PostResource,)
    list_display = ("title", "organization", "position", "holder_count")
    list_select_related = ("organization",)
    list_filter = ("title",)
    search_fields = ("title", "organization__name", "organization__id")
    autocomplete_fields = ("organization",)
    inlines = (HoldingInline,)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(holders_total=Count("holdings"))

    @admin.display(description="holders", ordering="holders_total")
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
    search_fields = ("name", "name_zh", "id")
    autocomplete_fields = ("sources",)
    inlines = (HeldPostInline,)

    def get_readonly_fields(self, request, obj=None):
        return ("id",) if obj else ()
