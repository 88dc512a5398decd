"""History is recorded in bulk, linearly, exactly as django-reversion would record it."""

import pytest
import reversion
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from reversion.models import Revision, Version

from registry import history
from registry.history import ROOT_MODELS, history_record
from registry.models import (
    ChangeEvent,
    Citation,
    EventOrganization,
    Holding,
    Organization,
    OtherName,
    Person,
    Placement,
    Post,
    Source,
    Succession,
)

from .csvtools import empty_registry, export_text, parse, write

HOSTILE = 'Quote " back\\slash \u2028 line\nbreak 中文 \U0001f600 </script> \t tab'


def _add_hostile_records() -> None:
    source = Source.objects.create(title=HOSTILE, url="https://example.org/a?b=c&d")
    person = Person.objects.create(id="hostile-person", name=HOSTILE, name_zh="张三")
    person.sources.add(source, Source.objects.exclude(pk=source.pk).first())
    unit = Organization.objects.create(
        id="hostile-unit",
        name=HOSTILE,
        kind_id="internal-department",
        parent=Organization.objects.get(pk="npcsc-general-office"),
        formed="1999-05",
        dissolved="2001",
        summary=HOSTILE * 3,
    )
    OtherName.objects.create(organization=unit, name=HOSTILE, name_type="translation")
    Citation.objects.create(organization=unit, source=source, locator=HOSTILE)
    Citation.objects.create(organization=unit, source=source, locator="")
    Succession.objects.create(
        predecessor=Organization.objects.get(pk="npcsc-go-secretariat"),
        successor=unit,
        date="1990-01-02",
        note=HOSTILE,
    )
    post = Post.objects.create(organization=unit, title=HOSTILE, position=2)
    Holding.objects.create(post=post, person=person, position=1, start="2000")
    event = ChangeEvent.objects.create(
        id="hostile-event", type="moved", date="2000-02", note=HOSTILE, source=source
    )
    EventOrganization.objects.create(event=event, organization=unit, role="result")
    Placement.objects.create(
        organization=unit,
        parent=Organization.objects.get(pk="cppcc-general-office"),
        start="1999-05",
        end="2000-02",
        event=event,
    )


def _stored() -> set[tuple]:
    return set(
        Version.objects.values_list(
            "content_type", "object_id", "db", "format", "serialized_data", "object_repr"
        )
    )


@pytest.mark.parametrize("whole_tables", [False, True], ids=["by-ids", "whole-tables"])
def test_bulk_written_versions_equal_django_reversions_own(seeded, monkeypatch, whole_tables):
    if whole_tables:  # the path of large imports: one pass over each table
        monkeypatch.setattr(history, "WHOLE_TABLE_FROM", 1)
    _add_hostile_records()
    Revision.objects.all().delete()
    with reversion.create_revision():
        for model in ROOT_MODELS:
            for obj in model.objects.all():
                reversion.add_to_revision(obj)
    by_reversion = _stored()
    Revision.objects.all().delete()
    date = timezone.now()
    for model in ROOT_MODELS:
        pks = model.objects.values_list("pk", flat=True)
        assert history_record(model=model, pks=pks, comment="x", date=date) == len(pks)
    by_us = _stored()
    assert set(Revision.objects.values_list("date_created", "comment")) == {(date, "x")}
    assert by_us == by_reversion
    models_seen = {ct for ct, *_ in by_us}
    assert len(models_seen) == 13  # every registered model is compared


def test_bulk_written_versions_read_back_through_django_reversion(seeded):
    _add_hostile_records()
    history_record(model=Organization, pks=["hostile-unit"], comment="x")
    version = Version.objects.get_for_object(Organization.objects.get(pk="hostile-unit")).first()
    assert version.field_dict["name"] == HOSTILE
    assert str(version.field_dict["formed"]) == "1999-05"
    assert {v.object_repr for v in version.revision.version_set.all()} >= {
        HOSTILE,
        f"{HOSTILE} as {HOSTILE}",
        f"Secretariat → {HOSTILE}",
    }


def _import_statements(tmp_path, rows: list[dict], name: str) -> tuple[int, int]:
    """SQL statements an import runs (history's own included), and the revisions it records
    for organizations."""
    path = tmp_path / name
    path.write_bytes(write(rows))
    statements = []
    with connection.execute_wrapper(
        lambda run, sql, *args: statements.append(sql) or run(sql, *args)
    ):
        call_command("import_registry", "organizations", str(path), verbosity=0)
    revisions = (
        Version.objects.filter(
            revision__comment__startswith=f"CSV import of {name}",
            content_type__model="organization",
        )
        .values("revision")
        .distinct()
        .count()
    )
    return len(statements), revisions


def _synthetic_rows(count: int) -> list[dict]:
    call_command("generate_registry", "--organizations", str(count), "--people", "0", verbosity=0)
    rows = parse(export_text())
    empty_registry()
    Revision.objects.all().delete()
    return rows


def test_recording_an_import_grows_linearly(db, tmp_path):
    """One revision per organization, and SQL statements in proportion to the file (a few per
    900 organizations): 4x the rows must not cost more than about 4x the statements."""
    small = _synthetic_rows(1000)
    statements_small, revisions_small = _import_statements(tmp_path, small, "small.csv")
    empty_registry()
    big = _synthetic_rows(4000)
    statements_big, revisions_big = _import_statements(tmp_path, big, "big.csv")
    assert (revisions_small, revisions_big) == (len(small), len(big))
    assert statements_big <= 4 * statements_small + 20
    assert statements_big < len(big) / 10
