"""Search: the same results as a plain `icontains`, found through the search indexes, in English,
Chinese (one character and more, traditional characters too) and pinyin."""

from __future__ import annotations

import pytest
import reversion
from django.apps import apps as django_apps
from django.db import connection, transaction
from django.db.models import Q
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reversion.models import Version

from devtools.synthetic import organization_rows
from registry import search, triggers
from registry.csvcodec import csv_lines
from registry.imports import import_organizations
from registry.models import Organization, OtherName, Person

from .conftest import admin_form_data, admin_submit
from .csvtools import export_text, parse, write
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


# --- Chinese: short queries, the short form, traditional characters, pinyin --------------------
#
# Through the search page, as readers use it, on the seed (which has Chinese names).

RESEARCH_OFFICES = {"cppcc-go-research-office", "npcsc-go-research-office"}
CPPCC_GENERAL_OFFICE = "cppcc-general-office"


def _search_page(client, text: str) -> set[str]:
    """The organizations the search page lists for `text` (the seed fits in one page)."""
    response = client.get("/search/", {"q": text})
    assert response.status_code == 200
    # Each result is the organization first, then what the page shows with it.
    return {result[0].pk for result in response.context.get("results", [])}


def _search_texts_plain(text: str) -> Q:
    """What search means, with nothing to help the database: `icontains` of the text, and of
    its simplified form, in every name; of its pinyin folding in the pinyin key."""
    texts = search.search_texts(text)
    condition = Q()
    for names_text in filter(None, (texts.text, texts.simplified)):
        others = OtherName.objects.filter(name__icontains=names_text).values("organization")
        condition |= (
            Q(name__icontains=names_text)
            | Q(name_zh__icontains=names_text)
            | Q(short_name_zh__icontains=names_text)
            | Q(pk__in=others)
        )
    if texts.pinyin:
        condition |= Q(pinyin_key__icontains=texts.pinyin)
    return condition


def _plain_search(text: str) -> set[str]:
    return set(Organization.objects.filter(_search_texts_plain(text)).values_list("pk", flat=True))


@pytest.mark.parametrize("text", ["研究室", "研究", "研"])
def test_one_two_and_three_chinese_characters_find_the_research_offices(client, seeded, text):
    assert _search_page(client, text) >= RESEARCH_OFFICES


@pytest.mark.parametrize(
    "text",
    [
        "全国政协办公厅",  # the short form
        "全國政協辦公廳",  # the same in traditional characters
        "政協",
        "zhengxie",
        "quanguo zhengxie bangongting",
        "Quánguó Zhèngxié",
        "quan2guo2 zheng4xie2",
        "qgzxbgt",
        "QGZX",
    ],
)
def test_the_short_form_traditional_characters_and_pinyin_find_the_cppcc_general_office(
    client, seeded, text
):
    assert CPPCC_GENERAL_OFFICE in _search_page(client, text)


def test_a_pinyin_query_never_matches_across_two_parts_of_the_key(client, seeded):
    key = Organization.objects.get(pk=CPPCC_GENERAL_OFFICE).pinyin_key
    assert "bangongting quanguo" in key and "bgt qgzx" in key  # parts side by side
    assert CPPCC_GENERAL_OFFICE not in _search_page(client, "bangongtingquanguo")
    assert CPPCC_GENERAL_OFFICE not in _search_page(client, "bangongting quanguo")
    assert CPPCC_GENERAL_OFFICE not in _search_page(client, "bgtqgzx")
    assert CPPCC_GENERAL_OFFICE in _search_page(client, "bangongting")


def test_traditional_characters_are_looked_for_only_when_they_differ(seeded):
    assert search.search_texts("全國政協") == ("全國政協", "全国政协", "")
    assert search.search_texts("全国政协") == ("全国政协", "", "")
    assert search.search_texts("General Office") == ("General Office", "", "generaloffice")


HOSTILE = [
    "%",
    "_",
    "%研%",
    "研_",
    "'",
    "''",
    '"',
    '""',
    '"研',
    "研\"'",
    "\\",
    "研\\",
    "*",
    "研*",
    '"*',
    "AND",
    "研 AND 究",
    "NEAR(",
    "NEAR(研 究)",
    "{name}:研",
    "name_zh:研究",
    "^研",
    "-研",
    "(",
    ")",
    ":",
    "研\x00究",
    "\x00",
    "研" * 1000,
    "x" * 1000,
    "😀",
    "𠀀",  # a CJK Extension B character
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_queries_answer_200_with_the_plain_results(client, seeded, text):
    # The page cleans the text as registry/views.py does (NUL and runs of spaces dropped) and
    # refuses texts over 200 characters; what it searches must give what `icontains` gives.
    found = _search_page(client, text)
    cleaned = " ".join(text.replace("\x00", "").split())
    assert found == (_plain_search(cleaned) if cleaned and len(cleaned) <= 200 else set())


@pytest.mark.parametrize("text", [t for t in HOSTILE if "\x00" not in t])
def test_hostile_texts_give_what_plain_icontains_gives(seeded, text):
    # The queryset itself, with no page in front: the long texts and FTS5 syntax reach it.
    assert set(Organization.objects.matching(text).values_list("pk", flat=True)) == (
        _plain_search(text)
    )


CHINESE_QUERIES = [
    "研",
    "研究",
    "研究室",
    "办公",
    "办公厅",
    "厅",
    "全国",
    "政协",
    "全國",
    "辦公廳",
    "局",
    "秘书",
    "zhengxie",
    "yjs",
    "bgt",
    "gt",
    "y",
    "Zhèng",
    "office",
    "of",
    "o",
]


@pytest.mark.parametrize("text", CHINESE_QUERIES)
def test_chinese_and_pinyin_search_finds_what_plain_icontains_finds(seeded, text):
    found = set(Organization.objects.matching(text).values_list("pk", flat=True))
    assert found == _plain_search(text)
    assert found  # each query finds something in the seed


def _people_plain(text: str) -> set[str]:
    texts = search.search_texts(text)
    condition = Q()
    for names_text in filter(None, (texts.text, texts.simplified)):
        condition |= Q(name__icontains=names_text) | Q(name_zh__icontains=names_text)
    if texts.pinyin:
        condition |= Q(pinyin_key__icontains=texts.pinyin)
    return set(Person.objects.filter(condition).values_list("pk", flat=True))


@pytest.mark.parametrize("text", ["欧阳", "欧", "歐陽", "ouyang", "oyzq", "Ōuyáng", "李", "li"])
def test_people_are_found_by_chinese_traditional_characters_and_pinyin(db, text):
    for pk, name, name_zh in PEOPLE:
        Person(id=pk, name=name, name_zh=name_zh).save()
    found = set(Person.objects.matching(text).values_list("pk", flat=True))
    assert found == _people_plain(text)
    assert found


def test_the_matching_name_is_given_in_the_language_it_matched(seeded):
    unit = Organization.objects.prefetch_related("other_names").get(pk=CPPCC_GENERAL_OFFICE)
    assert search.organization_matched_name(unit, "general office") == (unit.name, "en")
    assert search.organization_matched_name(unit, "人民政治") == (unit.name_zh, "zh-Hans")
    assert search.organization_matched_name(unit, "全國政協") == ("全国政协办公厅", "zh-Hans")
    assert search.organization_matched_name(unit, "qgzxbgt") == (
        "quán guó zhèng xié bàn gōng tīng",
        "pinyin",
    )
    assert search.organization_matched_name(unit, "zhongguorenmin") == (
        unit.pinyin_shown,
        "pinyin",
    )
    assert search.organization_matched_name(unit, "nothing like this") is None
    person = Person(id="p", name="Ouyang Changqiong", name_zh="欧阳长穹")
    assert search.person_matched_name(person, "歐陽") == ("欧阳长穹", "zh-Hans")


def test_the_matching_name_may_be_an_other_name(make_org):
    unit = make_org("Seismology Press")
    OtherName.objects.create(
        organization=unit, name="中国地震出版社", name_type="translation", language="zh-Hans"
    )
    OtherName.objects.create(organization=unit, name="SP", name_type="abbreviation")
    assert search.organization_matched_name(unit, "地震") == ("中国地震出版社", "zh-Hans")
    assert search.organization_matched_name(unit, "sp") == ("SP", "en")


# --- The indexes stay right whatever writes the names -----------------------------------------


def _bigram_tokens(value: str) -> list[str]:
    """What "<table>_bigram" holds for one name: the hex code of each 2-character piece, ASCII
    lower-cased, and of the last character alone."""
    folded = "".join(c.lower() if c.isascii() else c for c in value)
    return [folded[i : i + 2].encode().hex().upper() for i in range(len(folded))]


def _assert_bigrams_match_tables() -> None:
    for table, columns in search.SQLITE_BIGRAM.items():
        names = ", ".join(f's."{column}"' for column in columns)
        with connection.cursor() as cursor:
            cursor.execute(
                f'SELECT s.id, b.pieces, {names} FROM "{table}" s '
                f'JOIN "{table}_trigram_key" k ON k.row_id = s.id '
                f'JOIN "{table}_bigram" b ON b.rowid = k.id'
            )
            rows = cursor.fetchall()
            cursor.execute(f'SELECT count(*) FROM "{table}_bigram"')
            assert cursor.fetchone()[0] == len(rows), table
        assert len(rows) == _count(table), table
        for _pk, pieces, *values in rows:
            expected = [token for value in values for token in _bigram_tokens(value)]
            assert pieces.split() == expected, (table, values)


def _count(table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT count(*) FROM "{table}"')
        return cursor.fetchone()[0]


def _assert_search_indexes_right() -> None:
    if connection.vendor == "sqlite":
        _assert_indexes_match_tables()
        _assert_bigrams_match_tables()


def _admin_edit(client, pk: str, **changes) -> None:
    response = admin_submit(client, f"/admin/registry/organization/{pk}/change/", **changes)
    assert response.status_code == 302, response.context["adminform"].form.errors


def test_search_follows_an_admin_edit_and_a_history_restore(editor_client, seeded):
    pk = "cppcc-go-research-office"
    with reversion.create_revision():
        reversion.add_to_revision(Organization.objects.get(pk=pk))
    original = Version.objects.get_for_object(Organization.objects.get(pk=pk)).first()
    _admin_edit(editor_client, pk, name_zh="考察室", short_name_zh="政协考察室")
    _assert_search_indexes_right()
    assert pk not in _search_page(editor_client, "研究")
    assert pk in _search_page(editor_client, "考察")
    assert pk in _search_page(editor_client, "察")
    assert pk in _search_page(editor_client, "zxkcs")  # the new short form's initials
    preview = editor_client.get(f"/admin/registry/organization/{pk}/history/{original.pk}/")
    response = editor_client.post(
        f"/admin/registry/organization/{pk}/history/{original.pk}/", admin_form_data(preview)
    )
    assert response.status_code == 302
    _assert_search_indexes_right()
    assert pk in _search_page(editor_client, "研究")
    assert pk not in _search_page(editor_client, "考察")
    assert pk not in _search_page(editor_client, "zxkcs")


def test_search_follows_a_csv_import_and_a_delete(client, seeded):
    rows = parse(export_text())
    for row in rows:
        if row["id"] == CPPCC_GENERAL_OFFICE:
            row["short_name_zh"] = "政协机关办公厅"
            row["name_zh"] = "政协全国委员会办公厅"
    assert import_organizations(write(rows)).ok
    _assert_search_indexes_right()
    assert CPPCC_GENERAL_OFFICE not in _search_page(client, "全国政协办公厅")
    assert CPPCC_GENERAL_OFFICE not in _search_page(client, "qgzxbgt")
    assert CPPCC_GENERAL_OFFICE in _search_page(client, "机关")
    assert CPPCC_GENERAL_OFFICE in _search_page(client, "zxjgbgt")
    unit = Organization.objects.get(pk="cppcc-go-research-office")
    with transaction.atomic():
        for child in unit.get_descendants().order_by("-level"):
            child.posts.all().delete()
            child.delete()
        unit.posts.all().delete()
        Organization.objects.get(pk=unit.pk).delete()
    _assert_search_indexes_right()
    assert _search_page(client, "研究室") == {"npcsc-go-research-office"}


@on_sqlite
def test_sqlite_bigram_index_holds_every_piece_up_to_the_longest_name(awkward, seeded):
    # The triggers unroll the pieces up to each column's max_length (300 here), in chunks.
    longest = "研" * 299 + "Z"
    Organization.objects.filter(pk=CPPCC_GENERAL_OFFICE).update(name_zh=longest)
    OtherName.objects.filter(name="CEA").update(name="Ç\"E'A%")
    _assert_search_indexes_right()
    assert CPPCC_GENERAL_OFFICE in _plain_search("研z")
    for text in ("研z", "z", "'A", "%"):
        found = set(Organization.objects.matching(text).values_list("pk", flat=True))
        assert found == _plain_search(text)


@on_sqlite
def test_sqlite_short_queries_read_the_bigram_indexes_not_the_tables(seeded):
    for text in ("研究", "研"):
        organizations = _plan(Organization.objects.matching(text))
        people = _plan(Person.objects.matching(text)[:50])
        assert "SCAN registry_organization_bigram VIRTUAL TABLE" in organizations
        assert "SCAN registry_othername_bigram VIRTUAL TABLE" in organizations
        assert "SCAN registry_person_bigram VIRTUAL TABLE" in people
        lines = (organizations + "\n" + people).splitlines()
        assert [line for line in lines if " SCAN " in line and "VIRTUAL TABLE" not in line] == []


@on_sqlite
def test_sqlite_bigram_index_comes_back_when_a_migration_drops_it(seeded):
    with connection.cursor() as cursor:
        cursor.execute('DROP TABLE "registry_organization_bigram"')
    assert search.sqlite_narrowed("registry_organization", "研究", ("name_zh",)) == Q()
    restored = triggers.triggers_reinstall(connection=connection, apps=django_apps)
    assert "registry_organization_bigram" in restored
    _assert_search_indexes_right()
    assert (
        set(Organization.objects.matching("研究").values_list("pk", flat=True)) >= RESEARCH_OFFICES
    )


@on_postgresql
def test_postgresql_search_uses_the_gram_and_trigram_indexes(seeded):
    # As test_postgresql_search_uses_the_trigram_indexes: with other scans off, a bitmap scan
    # of an index is the one way left, and only an index whose expression is the query's.
    with transaction.atomic():
        with connection.cursor() as cursor:
            for setting in ("enable_seqscan", "enable_indexscan", "enable_indexonlyscan"):
                cursor.execute(f"SET LOCAL {setting} = off")
        short = _plan(Organization.objects.matching("研究"))
        one = _plan(Person.objects.matching("研")[:50])
        longer = _plan(Organization.objects.matching("研究室"))
        pinyin = _plan(Organization.objects.matching("zhengxie"))
    for index in (
        "organization_name_grams",
        "organization_name_zh_grams",
        "organization_short_name_zh_grams",
        "other_name_name_grams",
    ):
        assert f"Bitmap Index Scan on {index}" in short
    assert "Bitmap Index Scan on person_name_zh_grams" in one
    assert "Bitmap Index Scan on organization_name_zh_trgm" in longer
    assert "Bitmap Index Scan on organization_short_name_zh_trgm" in longer
    assert "Bitmap Index Scan on organization_pinyin_key_trgm" in pinyin
    assert "Seq Scan" not in short + one + longer + pinyin


def test_every_search_index_is_there_after_all_migrations(db):
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            tables = {row[0] for row in cursor.fetchall()}
        expected = {f"{table}_bigram" for table in search.SQLITE_BIGRAM}
        expected |= {f"{table}_trigram" for table in search.SQLITE_INDEXED}
        assert expected - tables == set()
    else:
        with connection.cursor() as cursor:
            cursor.execute("SELECT indexname FROM pg_indexes")
            indexes = {row[0] for row in cursor.fetchall()}
        assert set(search.POSTGRESQL_INDEXES) - indexes == set()
