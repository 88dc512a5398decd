"""django-import-export integration: the admin's Import and Export buttons, its dry-run
preview and confirm step, run on the registry's own CSV pipeline (imports, exports.py).

django-import-export's default per-row import saves one MPTT node at a time (slow, and
`use_bulk` corrupts trees); its CSV reading assumes UTF-8; its formula escaping loses data.
So the resources here hand whole files to the pipeline and translate its report into the
Result that the admin's preview renders.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import os
import re
import secrets
import tempfile
import time
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path

import tablib
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, ValidationError
from import_export import fields, resources
from import_export.formats.base_formats import CSV
from import_export.results import Error, Result, RowResult

from . import schema
from .csvcodec import CSVFormatError, csv_lines, decode, read_records
from .exports import (
    organization_rows,
    person_identifier_cells,
    post_rows,
    selected_organization_rows,
)
from .imports import ImportReport, RowOutcome
from .models import (
    Citation,
    Holding,
    Identifier,
    Organization,
    OtherName,
    Person,
    Post,
    Succession,
)
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
        result = report_to_result(report)
        result.report = report  # the admin's preview reads the pipeline's own report
        return result


class OrganizationResource(_PipelineResource):
    dataset = "organizations"
    columns = schema.ORGANIZATIONS.columns

    def export(self, queryset=None, **kwargs) -> tablib.Dataset:
        rows = organization_rows() if queryset is None else selected_organization_rows(queryset)
        return tablib.Dataset(*list(rows)[1:], headers=list(schema.ORGANIZATIONS.columns))


class PostResource(_PipelineResource):
    dataset = "posts"
    columns = schema.POSTS.columns

    def export(self, queryset=None, **kwargs) -> tablib.Dataset:
        rows = list(post_rows())[1:]
        if queryset is not None:
            wanted = {(post.organization_id, post.title) for post in queryset}
            rows = [row for row in rows if (row[0], row[1]) in wanted]
        return tablib.Dataset(*rows, headers=list(schema.POSTS.columns))


# --- The admin's import preview ------------------------------------------------------------------
#
# django-import-export's own preview renders every row (100,000 rows of table for a large file,
# 91 MB of HTML for 20,000 bad rows) and hides each validation message behind a hover tooltip. The
# registry's preview leads with the counts, lists each problem in its row in file order, and
# shows at most PREVIEW_ROWS rows of each kind with a count of the rest.

PREVIEW_ROWS = 200
SHOWN_CHARACTERS = 300  # of each old and new value; the rest is counted, never silently cut
MESSAGE_CHARACTERS = 500
ROW_PROBLEMS = 20  # messages listed per row (one cell of a thousand items may fail each)
_LINE = re.compile(r"line (\d+)")


@dataclass
class PreviewRow:
    dataset: str
    line: int
    where: str
    identifier: str
    action: str  # new, update, unchanged or rejected
    problems: list[str] = field(default_factory=list)
    more_problems: int = 0
    changes: list[str] = field(default_factory=list)
    # (column, old value, new value), both shortened for display (see _shown)
    values: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def notes(self) -> list[str]:
        """The changes that `values` does not show (e.g. "reordered" when the file has no
        order column)."""
        shown = {column for column, _, _ in self.values}
        return [
            change
            for change in self.changes
            if not shown.intersection(_columns_changed(self.dataset, change))
        ]


@dataclass
class ImportPreview:
    """What a curator sees before confirming: counts, then rows in file order, bounded."""

    dataset: str
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    rejected: int = 0
    problem_count: int = 0
    file_problems: list[str] = field(default_factory=list)
    more_file_problems: int = 0
    rows: list[PreviewRow] = field(default_factory=list)  # rejected, or new and changed rows
    more_rows: int = 0
    unchanged_rows: list[PreviewRow] = field(default_factory=list)
    more_unchanged: int = 0

    @property
    def ok(self) -> bool:
        return not self.problem_count


def report_digest(report: ImportReport) -> str:
    """A fingerprint of everything a preview tells the curator: each row's outcome and each
    problem. A confirm whose report has another fingerprint would do something else than what
    the curator saw."""
    content = json.dumps(
        [
            report.dataset,
            [[o.where, o.key, o.action, o.changes] for o in report.outcomes],
            [[p.where, p.column, p.message] for p in report.problems],
        ]
    )  # ASCII: a message may quote a lone surrogate from a JSON cell
    return hashlib.sha256(content.encode()).hexdigest()


# The organization columns an import may overwrite; not the nested-set fields, which move
# whenever a unit is added anywhere before them in their tree.
_STATE_FIELDS = tuple(
    f.attname
    for f in Organization._meta.concrete_fields
    if f.attname not in ("lft", "rght", "tree_id", "level")
)


def updated_keys(report: ImportReport) -> list[str]:
    """What an import overwrites: the updated organizations, or for posts the organizations
    whose posts and holders it updates."""
    return sorted({o.organization for o in report.outcomes if o.action == "update"})


def registry_state_digest(dataset: str, keys: list[str]) -> str:
    """A fingerprint of the stored rows behind `keys` (see updated_keys).

    Two reports can agree on every outcome while the rows they overwrite were edited in
    between: another curator renamed a unit the file renames too. The preview showed the old
    name, so confirming would silently drop that edit; this fingerprint tells.
    """
    if dataset == "organizations":
        tables = [
            _rows_of(Organization, "id", keys, _STATE_FIELDS),
            _rows_of(OtherName, "organization_id", keys),
            _rows_of(Identifier, "organization_id", keys),
            _rows_of(Citation, "organization_id", keys),
            _rows_of(Succession, "successor_id", keys),
        ]
    else:
        holdings = _rows_of(Holding, "post__organization_id", keys)
        person = [f.attname for f in Holding._meta.concrete_fields].index("person_id")
        people = sorted({row[person] for row in holdings})
        tables = [
            _rows_of(Post, "organization_id", keys),
            holdings,
            _rows_of(Person, "id", people),
            _rows_of(Identifier, "person_id", people),
        ]
    digest = hashlib.sha256(dataset.encode())
    for rows in tables:
        digest.update(ascii(rows).encode())
    return digest.hexdigest()


WHOLE_TABLE_FROM = 5000


def _rows_of(model, key: str, keys: list, fields: tuple[str, ...] = ()) -> list[tuple]:
    """The rows of `model` whose `key` is one of `keys`, sorted by primary key (the first
    field). Past a few thousand keys, one pass over the table beats IN (...) queries."""
    fields = fields or tuple(f.attname for f in model._meta.concrete_fields)
    rows = []
    if len(keys) > WHOLE_TABLE_FROM:
        wanted = set(keys)
        for row in model.objects.values_list(key, *fields).iterator(chunk_size=5000):
            if row[0] in wanted:
                rows.append(row[1:])
    else:
        for start in range(0, len(keys), 900):
            chunk = keys[start : start + 900]
            rows.extend(model.objects.filter(**{f"{key}__in": chunk}).values_list(*fields))
    rows.sort(key=itemgetter(0))
    return rows


def _line(where: str) -> int:
    match = _LINE.match(where)
    return int(match.group(1)) if match else 0


def _shown(value: str, limit: int = SHOWN_CHARACTERS) -> str:
    """`value` for display: messages and identifiers quote the file's cells, which may be
    megabytes long, or lone surrogates (from JSON escapes) that no page can encode."""
    if not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError:
            value = value.encode("utf-8", "backslashreplace").decode()
    if len(value) <= limit:
        return value
    return f"{value[:limit]}… ({len(value) - limit} more characters not shown)"


def _records_by_where(data: bytes, encoding: str) -> dict[str, dict[str, str]]:
    """The file's rows, to name rejected rows and show new values. Empty if the file cannot
    be parsed (the report says why)."""
    try:
        text = decode(data, encoding if encoding not in ("", "text") else None)[0]
        return {record.where: record.values for record in read_records(text)[1]}
    except (CSVFormatError, LookupError, UnicodeError):
        return {}


def _identifier(dataset: str, values: dict[str, str]) -> str:
    if dataset == "organizations":
        return values.get("id", "")
    return " / ".join(values.get(name, "") for name in ("organization", "post", "person"))


def import_preview(report: ImportReport, data: bytes) -> ImportPreview:
    """The preview of `report` (a dry run of `data`), in file order and bounded."""
    preview = ImportPreview(
        dataset=report.dataset,
        new=report.count("new"),
        changed=report.count("update"),
        unchanged=report.count("unchanged"),
        problem_count=len(report.problems),
    )
    by_row: dict[str, list[str]] = {}
    more_in_row: dict[str, int] = {}
    for problem in report.problems:
        if problem.where == "file" or not _line(problem.where):
            if len(preview.file_problems) < PREVIEW_ROWS:
                preview.file_problems.append(_shown(str(problem), MESSAGE_CHARACTERS))
            else:
                preview.more_file_problems += 1
        else:
            messages = by_row.setdefault(problem.where, [])
            if len(messages) < ROW_PROBLEMS:
                column = f"column {problem.column}: " if problem.column else ""
                messages.append(_shown(f"{column}{problem.message}", MESSAGE_CHARACTERS))
            else:
                more_in_row[problem.where] = more_in_row.get(problem.where, 0) + 1
    preview.rejected = len(by_row)
    records = _records_by_where(data, report.encoding) if by_row or report.outcomes else {}

    if by_row:
        # The pipeline reports tree problems (cycles, unknown parents) after row problems.
        wheres = sorted(by_row, key=_line)
        preview.more_rows = max(0, len(wheres) - PREVIEW_ROWS)
        for where in wheres[:PREVIEW_ROWS]:
            identifier = _shown(_identifier(report.dataset, records.get(where, {})))
            preview.rows.append(
                PreviewRow(
                    report.dataset,
                    _line(where),
                    where,
                    identifier,
                    "rejected",
                    problems=by_row[where],
                    more_problems=more_in_row.get(where, 0),
                )
            )
        return preview

    outcomes = sorted(report.outcomes, key=lambda o: _line(o.where))
    changed = [o for o in outcomes if o.action != "unchanged"]
    unchanged = [o for o in outcomes if o.action == "unchanged"]
    preview.more_rows = max(0, len(changed) - PREVIEW_ROWS)
    preview.more_unchanged = max(0, len(unchanged) - PREVIEW_ROWS)
    shown = changed[:PREVIEW_ROWS]
    old = _stored_cells(report.dataset, shown, records)
    for outcome in shown:
        new = records.get(outcome.where, {})
        preview.rows.append(
            PreviewRow(
                report.dataset,
                _line(outcome.where),
                outcome.where,
                _shown(outcome.key),
                outcome.action,
                changes=list(outcome.changes),
                values=_changed_values(report.dataset, outcome, old.get(outcome.where), new),
            )
        )
    preview.unchanged_rows = [
        PreviewRow(report.dataset, _line(o.where), o.where, _shown(o.key), o.action)
        for o in unchanged[:PREVIEW_ROWS]
    ]
    return preview


def _columns_changed(dataset: str, change: str) -> tuple[str, ...]:
    """The CSV columns behind one of the pipeline's change descriptions."""
    if dataset == "organizations":
        if change.startswith("moved from"):
            return ("parent", "order")
        if change == "reordered":
            return ("order",)
        return (change.replace(" ", "_"),)
    return {
        "new person": ("person_name",),
        "person renamed": ("person_name",),
        "person identifiers": ("person_identifiers",),
        "holder order or end date": ("holder_order", "end"),
        "post update": ("post_plural", "post_order"),
    }.get(change, ())


def _changed_values(
    dataset: str, outcome: RowOutcome, old: dict[str, str] | None, new: dict[str, str]
) -> list[tuple[str, str, str]]:
    if outcome.action == "new":
        name = new.get("name" if dataset == "organizations" else "person_name", "")
        column = "name" if dataset == "organizations" else "person_name"
        return [(column, "", _shown(name))] if name else []
    values = []
    old = old or {}
    for change in outcome.changes:
        for column in _columns_changed(dataset, change):
            if column in new and old.get(column, "") != new[column]:
                values.append((column, _shown(old.get(column, "")), _shown(new[column])))
    return values


def _stored_cells(
    dataset: str, outcomes: list[RowOutcome], records: dict[str, dict[str, str]]
) -> dict[str, dict[str, str]]:
    """The registry's current cells (in the CSV's own format) for the rows `outcomes` update,
    by file position: the "old" side of the preview's old -> new values."""
    updated = [o for o in outcomes if o.action == "update"]
    if not updated:
        return {}
    if dataset == "organizations":
        rows = selected_organization_rows(
            Organization.objects.filter(pk__in=[o.key for o in updated])
        )
        header = next(rows)
        stored = {row[0]: dict(zip(header, row, strict=True)) for row in rows}
        return {o.where: stored[o.key] for o in updated if o.key in stored}
    wanted = [records.get(o.where, {}) for o in updated]
    posts = {
        (post.organization_id, post.title): post
        for post in Post.objects.filter(
            organization_id__in={values.get("organization") for values in wanted}
        )
    }
    holdings = {
        (h.post_id, h.person_id, str(h.start or "")): h
        for h in Holding.objects.filter(post__in=list(posts.values())).select_related("person")
    }
    identifiers = person_identifier_cells({h.person_id for h in holdings.values()})
    cells = {}
    for outcome, values in zip(updated, wanted, strict=True):
        post = posts.get((values.get("organization"), values.get("post")))
        if post is None:
            continue
        row = {"post_plural": post.plural_title, "post_order": str(post.position)}
        holding = holdings.get((post.pk, values.get("person"), values.get("start", "")))
        if holding is not None:
            row.update(
                person_name=holding.person.name,
                person_identifiers=identifiers.get(holding.person_id, ""),
                holder_order=str(holding.position),
                end=str(holding.end or ""),
            )
        cells[outcome.where] = row
    return cells


# --- Uploads between preview and confirm ---------------------------------------------------------
#
# django-import-export keeps an upload in the system's temp folder under a name the confirm form
# posts back, and imports and deletes whatever file that name points to. The registry stores
# uploads in a folder of their own under random names, and the admin only ever accepts a name
# it recorded in the uploader's session (see CSVImportExportMixin).

UPLOAD_MAX_AGE = 24 * 3600  # seconds an upload waits for its confirm before it is swept away
_UPLOAD_NAME = re.compile(r"[0-9a-f]{32}")


def upload_folder() -> Path:
    folder = Path(
        getattr(settings, "REGISTRY_IMPORT_UPLOADS", "")
        or Path(tempfile.gettempdir()) / "registry-import-uploads"
    )
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    # In a shared temp folder, another account could have made this folder first, to swap
    # the uploads: refuse a folder that is not ours, or that others may write to.
    info = folder.lstat()
    if folder.is_symlink() or info.st_uid != os.getuid() or info.st_mode & 0o022:
        raise ImproperlyConfigured(
            f"The import upload folder {folder} must be a directory owned by this account that "
            "no one else may write to; set REGISTRY_IMPORT_UPLOADS to another folder."
        )
    return folder


def upload_save(data: bytes) -> str:
    """Store an upload; return its random name."""
    name = secrets.token_hex(16)
    # O_EXCL: never overwrite, never follow a link; 0o600: readable by this account only.
    descriptor = os.open(_upload_path(name), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)
    return name


def upload_keys_save(name: str, keys: list[str]) -> None:
    """Store, beside the upload, the keys of the rows its preview found it would overwrite
    (see updated_keys): confirm fingerprints those rows before writing."""
    path = _upload_path(name, ".json")
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        json.dump(keys, file)


def upload_keys(name: str) -> list[str]:
    try:
        with open(_upload_path(name, ".json"), encoding="utf-8") as file:
            return json.load(file)
    except FileNotFoundError:
        return []


def _upload_path(name: str, suffix: str = ".csv") -> Path:
    # Only names upload_save makes: no separators, no "..", nothing outside the folder.
    if not isinstance(name, str) or not _UPLOAD_NAME.fullmatch(name):
        raise ValueError(f"not an upload name: {name!r}")
    return upload_folder() / f"{name}{suffix}"


def upload_read(name: str) -> bytes | None:
    try:
        return _upload_path(name).read_bytes()
    except FileNotFoundError:
        return None


def upload_exists(name: str) -> bool:
    return _upload_path(name).is_file()


def upload_remove(name: str) -> None:
    _upload_path(name).unlink(missing_ok=True)
    _upload_path(name, ".json").unlink(missing_ok=True)


def uploads_sweep(max_age: float = UPLOAD_MAX_AGE) -> int:
    """Remove uploads older than `max_age` seconds that were never confirmed; return how many."""
    cutoff = time.time() - max_age
    removed = 0
    for path in upload_folder().iterdir():
        if path.suffix not in (".csv", ".json") or not _UPLOAD_NAME.fullmatch(path.stem):
            continue
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except FileNotFoundError:  # swept by another request at the same moment
            pass
    return removed
