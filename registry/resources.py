"""django-import-export integration: the admin's Import and Export buttons, its dry-run
preview and confirm step, run on the registry's own CSV pipeline (imports.py, exports.py).

django-import-export's default per-row import saves one MPTT node at a time (slow, and
`use_bulk` corrupts trees); its CSV reading assumes UTF-8; its formula escaping loses data.
So the resources here hand whole files to the pipeline and translate its report into the
Result that the admin's preview renders.
"""

from __future__ import annotations

import codecs

import tablib
from django.core.exceptions import ValidationError
from import_export import fields, resources
from import_export.formats.base_formats import CSV
from import_export.results import Error, Result, RowResult

from .csvcodec import csv_lines, decode, read_records
from .exports import organization_rows, post_rows, selected_organization_rows
from .imports import ORGANIZATION_COLUMNS, POST_COLUMNS, ImportReport
from .services import csv_import

IMPORT_TYPES = {"new": RowResult.IMPORT_TYPE_NEW, "update": RowResult.IMPORT_TYPE_UPDATE}
PREVIEW_HEADERS = ["where", "identifier", "action", "changes"]


class RegistryCSV(CSV):
    """CSV in the registry's contract. Read as bytes, so the importer can detect UTF-8, UTF-8
    with BOM or GB18030; written UTF-8 with reversible formula escaping."""

    def get_title(self) -> str:
        return "csv"

    def is_binary(self) -> bool:
        return True

    def get_read_mode(self) -> str:
        return "rb"

    def create_dataset(self, in_stream, **kwargs) -> tablib.Dataset:
        data = bytes(in_stream)
        header, records = read_records(decode(data)[0])
        dataset = tablib.Dataset(
            *[[record.values.get(name, "") for name in header] for record in records],
            headers=header,
        )
        dataset.source_bytes = data
        return dataset

    def export_data(self, dataset, **kwargs) -> bytes:
        return "".join(csv_lines(dataset.headers, dataset)).encode()


class ExcelCSV(RegistryCSV):
    """The same CSV with a UTF-8 byte-order mark, which Excel needs to read non-ASCII text."""

    def get_title(self) -> str:
        return "csv (Excel: UTF-8 with BOM)"

    def export_data(self, dataset, **kwargs) -> bytes:
        return codecs.BOM_UTF8 + super().export_data(dataset)


def report_to_result(report: ImportReport) -> Result:
    """The pipeline's report in the shape the admin's import preview renders."""
    result = Result()
    result.diff_headers = list(PREVIEW_HEADERS)
    problems_by_row: dict[str, dict[str, list[str]]] = {}
    for problem in report.problems:
        if problem.where == "file" or problem.where.startswith("header"):
            result.append_base_error(Error(ValueError(str(problem))))
        else:
            errors = problems_by_row.setdefault(problem.where, {})
            errors.setdefault(problem.column or "row", []).append(problem.message)
    for where, errors in problems_by_row.items():
        values = {"where": where, "identifier": "", "action": "rejected", "changes": ""}
        result.append_invalid_row(where, values, ValidationError(errors))
    for outcome in report.outcomes:
        row = RowResult()
        row.import_type = IMPORT_TYPES.get(outcome.action, RowResult.IMPORT_TYPE_SKIP)
        row.diff = [outcome.where, outcome.key, outcome.action, "; ".join(outcome.changes)]
        row.object_id = outcome.key
        row.object_repr = outcome.key
        result.append_row_result(row)
        result.increment_row_result_total(row)
    result.total_rows = len(report.outcomes)
    return result


class _PipelineResource(resources.Resource):
    dataset = ""
    columns: tuple[str, ...] = ()

    @classmethod
    def get_display_name(cls) -> str:
        return f"{cls.dataset} (registry CSV, see docs/csv.md)"

    def get_user_visible_fields(self) -> list[fields.Field]:
        # The admin's import page lists these as the columns a file may have.
        return [fields.Field(column_name=name) for name in self.columns]

    def import_data(self, dataset, dry_run=False, raise_errors=False, **kwargs) -> Result:
        data = getattr(dataset, "source_bytes", None)
        if data is None:
            data = "".join(csv_lines(dataset.headers, dataset)).encode()
        report = csv_import(
            self.dataset,
            data,
            file_name=kwargs.get("file_name") or "an upload",
            user=kwargs.get("user"),
            dry_run=dry_run,
        )
        return report_to_result(report)


class OrganizationResource(_PipelineResource):
    dataset = "organizations"
    columns = ORGANIZATION_COLUMNS

    def export(self, queryset=None, **kwargs) -> tablib.Dataset:
        rows = organization_rows() if queryset is None else selected_organization_rows(queryset)
        return tablib.Dataset(*list(rows)[1:], headers=list(ORGANIZATION_COLUMNS))


class PostResource(_PipelineResource):
    dataset = "posts"
    columns = POST_COLUMNS

    def export(self, queryset=None, **kwargs) -> tablib.Dataset:
        rows = list(post_rows())[1:]
        if queryset is not None:
            wanted = {(post.organization_id, post.title) for post in queryset}
            rows = [row for row in rows if (row[0], row[1]) in wanted]
        return tablib.Dataset(*rows, headers=list(POST_COLUMNS))
