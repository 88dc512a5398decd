"""The one write of the development tools: loading the synthetic registry, through the same
import service curators' CSV files go through."""

from __future__ import annotations

from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db import transaction

from registry.csvcodec import csv_lines
from registry.history import history_initialize
from registry.imports import ImportReport, Progress
from registry.models import Person
from registry.services import csv_import

from . import synthetic


def synthetic_registry_load(
    *, organizations: int, people: int, seed: int, progress: Progress | None = None
) -> tuple[ImportReport, ImportReport]:
    """Add the synthetic registry `devtools.synthetic` describes for `seed`: `organizations`
    units in many trees, `people` people, and the posts they hold. Everything goes through the
    CSV import service in one transaction; loading the same arguments again changes nothing.

    Returns the organizations and posts import reports. Raises ValidationError, with nothing
    written, if a generated identifier clashes with a different registry row.
    """
    rows = synthetic.organization_rows(organizations, seed)
    header = next(rows)
    body = list(rows)
    id_cell, parent_cell = header.index("id"), header.index("parent")
    levels: dict[str, int] = {}
    for row in body:  # tree order: every parent comes before its children
        parent = row[parent_cell]
        levels[row[id_cell]] = levels[parent] + 1 if parent else 0
    name = f"the synthetic registry (seed {seed})"
    with transaction.atomic():
        reports = [
            csv_import(
                "organizations", _csv_bytes(header, body), file_name=name, progress=progress
            )
        ]
        if reports[0].ok:
            Person.objects.bulk_create(
                (
                    Person(id=pk, name=person, name_zh=name_zh)
                    for pk, person, name_zh in synthetic.people(people, seed)
                ),
                batch_size=2000,
                ignore_conflicts=True,
            )
            posts = synthetic.post_rows(levels.items(), people, seed)
            reports.append(
                csv_import(
                    "posts", _csv_bytes(next(posts), posts), file_name=name, progress=progress
                )
            )
        for report in reports:
            if not report.ok:
                problems = "; ".join(str(problem) for problem in report.problems[:5])
                raise ValidationError(f"The synthetic {report.dataset} were refused: {problems}")
        history_initialize(comment=f"Synthetic registry generated (seed {seed}): initial version.")
    return reports[0], reports[1]


def _csv_bytes(header: list[str], rows: Iterable[list[str]]) -> bytes:
    return "".join(csv_lines(header, rows)).encode()
