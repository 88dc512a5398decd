"""The admin's CSV import (with its preview and confirm step) and export buttons."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.utils.translation import gettext
from django.views.decorators.http import require_POST
from import_export.admin import ImportExportMixin
from import_export.forms import ExportForm

from ..history import record_lock
from ..imports import ImportReport
from ..models import Organization
from ..resources import (
    PREVIEW_ROWS,
    ExcelCSV,
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
from ..services import csv_import


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
        form.add_error(
            "import_file", gettext("The file cannot be read: %(problem)s") % {"problem": e}
        )

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
                "refusal": gettext(
                    "This is not an upload your preview stored, or it was removed "
                    "after waiting too long: nothing was imported. Choose the file again."
                )
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
            gettext(
                "Import finished: %(file)s: %(new)s new, %(updated)s updated, %(unchanged)s "
                "unchanged %(records)s."
            )
            % {
                "file": entry["file_name"],
                "new": report.count("new"),
                "updated": report.count("update"),
                "unchanged": report.count("unchanged"),
                "records": self.model._meta.verbose_name_plural,
            },
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
                    form.add_error(
                        "import_file",
                        gettext("The file cannot be read: %(problem)s")
                        % {"problem": problem.message},
                    )
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
