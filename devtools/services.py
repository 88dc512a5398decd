"""The one write of the development tools: loading the synthetic registry, through the same
import service curators' CSV files go through."""

from __future__ import annotations

from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db import connection, transaction

from registry.csvcodec import csv_lines
from registry.history import history_initialize
from registry.imports import ImportReport, Progress
from registry.models import (
    ChangeEvent,
    EventOrganization,
    Person,
    Placement,
    Succession,
)
from registry.names import person_pinyin_key
from registry.services import csv_import

from . import synthetic

BATCH = 2000


def synthetic_registry_load(
    *, organizations: int, people: int, seed: int, progress: Progress | None = None
) -> tuple[ImportReport, ImportReport]:
    """Add the synthetic registry `devtools.synthetic` describes for `seed`: `organizations`
    units in many trees, `people` people, and the posts they hold. Everything goes through the
    CSV import service in one transaction, then the past the CSV does not hold (change events,
    earlier placements, which event each lineage link belongs to) in bulk after it; loading the
    same arguments again changes nothing.

    Returns the organizations and posts import reports. Raises ValidationError, with nothing
    written, if a generated identifier clashes with a different registry row.
    """
    generated = synthetic.registry(organizations, seed)
    header, body = generated.header, generated.rows
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
            reforms_write(generated.reforms)
            Person.objects.bulk_create(
                (
                    # bulk_create skips save(), which writes the pinyin search key.
                    Person(
                        id=pk,
                        name=person,
                        name_zh=name_zh,
                        pinyin_key=person_pinyin_key(name_zh, ""),
                    )
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


def reforms_write(reforms: synthetic.Reforms) -> None:
    """Write the generated past in bulk: change events and their participants, earlier
    placements, and the event of each lineage link the organizations import wrote. Records that
    exist already (the same seed loaded before) are left as they are."""
    ChangeEvent.objects.bulk_create(
        (
            ChangeEvent(
                id=event["id"],
                type=event["type"],
                date=event["date"],
                note=event["note"],
                rank_before_id=event.get("rank_before"),
                rank_after_id=event.get("rank_after"),
            )
            for event in reforms.events
        ),
        batch_size=BATCH,
        ignore_conflicts=True,
    )
    EventOrganization.objects.bulk_create(
        (
            EventOrganization(event_id=event, organization_id=unit, role=role, position=position)
            for event, unit, role, position in reforms.participants
        ),
        batch_size=BATCH,
        ignore_conflicts=True,
    )
    Placement.objects.bulk_create(
        (
            Placement(
                organization_id=placement["organization"],
                parent_id=placement["parent"],
                start=placement["start"],
                end=placement["end"],
                event_id=placement["event"],
            )
            for placement in reforms.placements
        ),
        batch_size=BATCH,
        ignore_conflicts=True,
    )
    # The links themselves came with the organizations (their `predecessors` cells); one
    # statement per link, sent together (no model instances: nothing else changes).
    table = connection.ops.quote_name(Succession._meta.db_table)
    with connection.cursor() as cursor:
        cursor.executemany(
            f"UPDATE {table} SET event_id = %s WHERE predecessor_id = %s AND successor_id = %s",
            [
                (event, predecessor, successor)
                for predecessor, successor, event in reforms.successions
            ],
        )
