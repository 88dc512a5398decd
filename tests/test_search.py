"""Search: the same results as a plain `icontains`, found through the trigram indexes."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.db.models import Q
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devtools.synthetic import organization_rows
from registry import search, triggers
from registry.csvcodec import csv_lines
from registry.imports import import_organizations
from registry.models import Organization, OtherName, Person

from .transactions import rolled_back

on_sqlite = pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's trigram index")
on_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="PostgreSQL's trigram indexes"
)

NAMES = [
    # (organization name, other names)
    ("Seismology Press", ["中国地震出版社"]),
    ("China Earthquake Administration", ["中国地震局", "CEA"]),
    ("École nationale d'administration", ["ÉCOLE NATIONALE"]),
    ("Straße und Verkehr", []),
    ("100% Guaranteed_Office", []),
    ("Guaranteed Office", ["GuaranteedXOffice"]),
    ('The "Quoted" Bureau', []),
    ("Back\\slash Division", []),
    ("X", ["Ab"]),
]
PEOPLE = [
    ("ouyang-changqiong", "Ouyang Changqiong", "欧阳长穹"),
    ("li-wei", "Li Wei", "李伟"),
    ("percent-person", "Ms 100%", ""),
]
QUERIES = [
    "seismology",
    "SEISMOLOGY",
    "smo",
    "y pr",  # across words
    "地震",
    "中国地震局",
    "震",
    "国地震出",
    "100%",
    "%",
    "% g",
    "_",
    "d_O",  # the underscore is literal: not "GuaranteedXOffice", not "Guaranteed Office"
    "\\",
    "k\\s",
    '"quoted"',
    'e "q',
    "x",
    "ab",
    "AB",
    "école",
    "ÉCOLE",
    "straße",
    "STRASSE",
    "ouyang",
    "欧阳",
    "长穹",
    "wei",
    "nothing like this",
]


@pytest.fixture
def awkward(make_org):
    for name, other_names in NAMES:
        organization = make_org(name)
        for position, other in enumerate(other_names):
            OtherName.objects.create(
                organization=organization,
                name=other,
                name_type=OtherName.Type.TRANSLATION,
                position=position,
            )
    for pk, name, name_zh in PEOPLE:
        Person.objects.create(id=pk, name=name, name_zh=name_zh)


def _plain_organizations(text: str) -> set[str]:
    """What search meant before the indexes: `icontains`, with nothing to help the database."""
    return set(
        Organization.objects.filter(
            Q(name__icontains=text)
            | Q(pk__in=OtherName.objects.filter(name__icontains=text).values("organization"))
        ).values_list("name", flat=True)
    )


def _plain_people(text: str) -> set[str]:
    return set(
        Person.objects.filter(Q(name__icontains=text) | Q(name_zh__icontains=text)).values_list(
            "name", flat=True
        )
    )


def _found(text: str) -> tuple[set[str], set[str]]:
    return (
        set(Organization.objects.matching(text).values_list("name", flat=True)),
        set(Person.objects.matching(text).values_list("name", flat=True)),
    )


@pytest.mark.parametrize("text", QUERIES)
def test_search_finds_what_a_plain_icontains_finds(awkward, text):
    assert _found(text) == (_plain_organizations(text), _plain_people(text))


def test_search_matches_names_other_names_chinese_and_case(awkward):
    organizations, _ = _found("地震")
    assert organizations == {"Seismology Press", "China Earthquake Administration"}
    assert _found("SEISMOLOGY")[0] == {"Seismology Press"}
    assert _found("cea")[0] == {"China Earthquake Administration"}
    assert _found("欧阳")[1] == {"Ouyang Changqiong"}


def test_search_takes_percent_and_underscore_literally(awkward):
    assert _found("100%") == ({"100% Guaranteed_Office"}, {"Ms 100%"})
    assert _found("d_O")[0] == {"100% Guaranteed_Office"}
    assert _found("% g")[0] == {"100% Guaranteed_Office"}


def test_search_still_finds_one_and_two_characters(awkward):
    assert _found("x")[0] == {"X", "Guaranteed Office"}  # "X", and GuaranteedXOffice
    assert _found("Ab")[0] == {"X"}
    assert _found("震")[0] == {"Seismology Press", "China Earthquake Administration"}


# On SQLite the index only proposes rows (every trigram of the text, case-folded) and
# `icontains` decides, so search must agree with plain `icontains` whatever the names hold:
# letters whose case SQLite's LIKE ignores (ASCII) or not (é, ß), quotes, wildcards, Chinese.
ALPHABET = "aAbBéÉßsS中文地震 %_\\\"'-"
names = st.text(alphabet=ALPHABET, min_size=1, max_size=12).filter(str.strip)


@st.composite
def texts(draw, names: list[str]) -> str:
    """Mostly a piece of one of the names, in its own case or another, so that most texts find
    something; sometimes anything."""
    if draw(st.booleans()) and draw(st.booleans()):
        return draw(st.text(alphabet=ALPHABET, min_size=1, max_size=6))
    name = draw(st.sampled_from(names))
    start = draw(st.integers(0, len(name) - 1))
    piece = name[start : start + draw(st.integers(1, 6))]
    return draw(st.sampled_from([piece, piece.swapcase(), piece.upper(), piece.lower()]))


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    organizations=st.lists(names, min_size=1, max_size=6, unique=True),
    other_names=st.lists(names, max_size=6, unique=True),
    data=st.data(),
)
def test_search_agrees_with_plain_icontains_on_any_names(
    make_org, organizations, other_names, data
):
    # Each example in a savepoint of its own, undone, so examples do not see each other.
    with rolled_back():
        units = [make_org(name) for name in organizations]
        for index, name in enumerate(other_names):
            OtherName.objects.create(
                organization=units[index % len(units)], name=name, name_type="translation"
            )
        for text in data.draw(st.lists(texts(organizations + other_names), max_size=8)):
            assert _found(text)[0] == _plain_organizations(text), text


def _plan(queryset) -> str:
    return queryset.explain()


@on_sqlite
def test_sqlite_search_reads_the_trigram_indexes_not_the_tables(awkward):
    organizations = _plan(Organization.objects.matching("seismology"))
    people = _plan(Person.objects.matching("ouyang")[:50])
    assert "SCAN registry_organization_trigram VIRTUAL TABLE" in organizations
    assert "SCAN registry_othername_trigram VIRTUAL TABLE" in organizations
    assert "SCAN registry_person_trigram VIRTUAL TABLE" in people
    # Every other table is reached by key (SEARCH), none read whole (SCAN).
    lines = (organizations + "\n" + people).splitlines()
    assert [line for line in lines if " SCAN " in line and "VIRTUAL TABLE" not in line] == []


def _index_contents(table: str, columns: tuple[str, ...]) -> list[tuple]:
    names = ", ".join(f'f."{column}"' for column in columns)
    with connection.cursor() as cursor:
        cursor.execute(
            f'SELECT k.row_id, {names} FROM "{table}_trigram_key" k '
            f'JOIN "{table}_trigram" f ON f.rowid = k.id ORDER BY k.row_id'
        )
        return [tuple(row) for row in cursor.fetchall()]


def _table_contents(table: str, columns: tuple[str, ...]) -> list[tuple]:
    names = ", ".join(f'"{column}"' for column in columns)
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT id, {names} FROM "{table}" ORDER BY id')
        return [tuple(row) for row in cursor.fetchall()]


def _assert_indexes_match_tables() -> None:
    for table, columns in search.SQLITE_INDEXED.items():
        assert _index_contents(table, columns) == _table_contents(table, columns), table


@on_sqlite
def test_sqlite_indexes_follow_every_kind_of_write(awkward, make_org):
    # CSV import: many rows per INSERT, updates with executemany, other names deleted and
    # written again.
    rows = organization_rows(300, 7)
    header = next(rows)
    body = list(rows)
    assert import_organizations("".join(csv_lines(header, body)).encode()).ok
    for row in body[::3]:
        row[header.index("name")] += " renamed"
        row[header.index("other_names")] = ""
    assert import_organizations("".join(csv_lines(header, body)).encode()).ok
    # The ORM: save, queryset update, delete, bulk create.
    unit = Organization.objects.get(name="Seismology Press")
    unit.name = "Seismological Press"
    unit.save()
    OtherName.objects.filter(name="CEA").update(name="C.E.A.")
    OtherName.objects.filter(name="中国地震局").delete()
    Person.objects.filter(pk="li-wei").update(name_zh="李维")
    Person.objects.filter(pk="percent-person").delete()
    Person.objects.bulk_create([Person(id=f"bulk-{n}", name=f"Bulk {n}") for n in range(5)])
    _assert_indexes_match_tables()
    assert _found("seismological")[0] == {"Seismological Press"}
    assert _found("中国地震局")[0] == set()
    assert _found("李维")[1] == {"Li Wei"}


def _declared_type(table: str, column: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT type FROM pragma_table_info(%s) WHERE name = %s", [table, column])
        return cursor.fetchone()[0]


@on_sqlite
def test_sqlite_key_maps_compare_like_the_keys_they_copy(db):
    # With another type than the primary key's, a map's row_id would compare by other rules and
    # the triggers' lookups could not use its index: every write would read the whole map (an
    # import of 40,000 organizations took 30 s instead of 2).
    for table in search.SQLITE_INDEXED:
        assert _declared_type(f"{table}_trigram_key", "row_id") == _declared_type(table, "id")


@on_sqlite
def test_sqlite_indexes_have_all_their_triggers_after_every_migration(db):
    # Django drops a table's triggers when a migration remakes the table on SQLite: every
    # `migrate` puts them back (registry/triggers.py; tests/test_migrations.py).
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        present = {row[0] for row in cursor.fetchall()}
    for table in search.SQLITE_INDEXED:
        assert set(triggers.sqlite_search_triggers(table)) <= present, table


@on_postgresql
def test_postgresql_search_uses_the_trigram_indexes(awkward):
    # The test tables are tiny, and for tiny tables reading everything is cheapest, so the
    # planner would rightly do that. With sequential and plain index scans off (for this
    # transaction only), the one way left to find the rows without reading a whole table is a
    # bitmap scan of an index that answers the search condition itself, and an expression index
    # does only if its expression and operator class match the query's exactly. So a plan with
    # the trigram indexes proves they serve `icontains` as Django writes it; at 100,000
    # organizations the planner chooses them unprompted.
    with transaction.atomic():
        with connection.cursor() as cursor:
            for setting in ("enable_seqscan", "enable_indexscan", "enable_indexonlyscan"):
                cursor.execute(f"SET LOCAL {setting} = off")
        organizations = _plan(Organization.objects.matching("seismology"))
        people = _plan(Person.objects.matching("ouyang")[:50])
    assert "Bitmap Index Scan on organization_name_trgm" in organizations
    assert "Bitmap Index Scan on other_name_name_trgm" in organizations
    assert "Bitmap Index Scan on person_name_trgm" in people
    assert "Bitmap Index Scan on person_name_zh_trgm" in people
    assert "Seq Scan" not in organizations + people
    # The search condition (LIKE, `~~`) only ever picks rows out of an index, never filters
    # rows read some other way.
    conditions = [line.strip() for line in (organizations + people).splitlines() if "~~" in line]
    assert all(line.startswith(("Index Cond:", "Recheck Cond:")) for line in conditions)
