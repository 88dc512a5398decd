"""Substring search over names that stays fast as the registry grows, in English and Chinese.

Searching means Django's `icontains`: a name matches when it contains the text, ignoring case.
No B-tree can answer that, so without help every search reads every name (about 120 ms at
100,000 organizations). The indexes below only narrow: the `icontains` filter beside them still
decides, so the results are exactly those of `icontains` alone. Their SQL is in
registry/triggers.py, which also puts them back after any migration that drops them.

Three characters and more: trigram indexes (migration 0005, extended to the Chinese names, the
short form and the pinyin key by migration 0010).

- PostgreSQL: GIN indexes with pg_trgm's `gin_trgm_ops` on `UPPER(column::text)`, the very
  expression `icontains` compiles to there, so the planner uses them for plain `icontains`
  filters and nothing changes at query time. (pg_trgm takes Chinese characters as word
  characters under the C.UTF-8 and other UTF-8 locales.)
- SQLite: for each searched table, an FTS5 table with the `trigram` tokenizer, kept in step by
  triggers. SQLite's planner knows nothing of it, so `sqlite_narrowed()` adds to a query "and
  the row is among those the trigram index finds": the rows holding every trigram of the text
  (case-folded), a superset of the matches.

One and two characters (most Chinese words: 研究, 人事, 政协) have no trigram. Migration 0010
adds, for the name columns, an index of every 1- and 2-character piece ("gram") of each name:

- PostgreSQL: a GIN index on `registry_search_grams(UPPER(column::text))`, an IMMUTABLE SQL
  function returning the array of a text's distinct 1- and 2-character substrings. A query of
  one or two characters asks `grams @> ARRAY[UPPER(text)]` beside its `icontains`: one GIN key
  lookup. pg_trgm cannot serve these: for `LIKE '%研究%'` it extracts no trigram, and its
  index answers "every row, recheck". Measured at 100,000 organizations (name_zh, 2,692
  matches): reading every row 121 ms; pg_trgm's index (forced) 183 ms, it returned all
  100,000 rows; the gram index 8.9 ms (0.7 ms in the index). Its size: 6.8 MB on name_zh,
  10 MB on name (the trigram index on name: 10 MB; the table: 31 MB).
- SQLite: an FTS5 table "<table>_bigram" whose one column holds, for each name, the hex code of
  every 2-character piece of the name (ASCII lower-cased by SQLite's own `lower()`, the very
  folding its LIKE applies), and of the name's last character alone, space-separated. A
  2-character query is one token, `"E7A094E7A9B6"` (研究); a 1-character query a prefix query,
  `"E7A094"*` (研), which finds every piece that starts with the character, so every row that
  holds it anywhere (UTF-8 is prefix-free: a character's code never starts another's). Hex
  makes every character a token character, whatever Unicode categories the tokenizer knows
  (spaces, %, quotes, emoji, the newest CJK extensions), and the query's code is computed by
  SQLite from the text with the same functions, so the two cannot disagree. The triggers write
  it in pure SQL (`substr`, `lower`, `hex`, unrolled to the column's max_length), so any
  client's writes keep it right. Measured at 100,000 organizations: 研究 (2,692 matches) in
  1.2 ms in the index, 14 ms with the rows read and checked by LIKE, against 133 ms reading
  every name. Its cost: 22 MB for organizations (the trigram index 14 MB, the table 29 MB),
  and building it from 100,000 organizations took 9.3 s against 3.4 s for the trigram index
  (on a loaded 2-core machine): the pieces cost SQL function calls, which is why the
  triggers compute only as many as the name is long (triggers.py).
  Why hex rather than the pieces themselves in a unicode61 table: unicode61 splits on what its
  own Unicode tables call a separator, so a piece holding a space, punctuation or a character
  its tables do not know as a letter would not be one token, and would not be found.

Both databases then narrow every query of one or more characters that holds a Chinese character,
and Latin queries of three or more. A Latin query of one or two letters ("x", "ab") is also
narrowed, but a piece that common is in most names, so the database reads about as much as a
scan: that is what such a query costs.

What one query looks for (`search_texts`, used by the models' `matching`): itself in every name;
its simplified form, when it has traditional characters (OpenCC); and, when it can be pinyin,
its folding ("Quánguó Zhèngxié" -> "quanguozhengxie") in the pinyin key, which the trigram
indexes serve from three letters. Each is a branch of one UNION of id subqueries, so that each
uses its own index. `organization_matched_name` says which name a result matched, for the page.
"""

from __future__ import annotations

import functools
import sqlite3
from dataclasses import dataclass
from typing import NamedTuple

from django.db import connection
from django.db.models import BooleanField, Func, Q, Value
from django.db.models.expressions import RawSQL

from .names import has_han, pinyin_key, pinyin_of, pinyin_query, simplified

# The PostgreSQL function behind the gram indexes (registry/triggers.py creates it).
GRAMS_FUNCTION = "registry_search_grams"


@dataclass(frozen=True)
class SearchIndexes:
    """The search indexes as one migration leaves them.

    postgresql: index name: (table, column, kind), kind "trigram" (pg_trgm on
    `UPPER(column::text)`) or "grams" (GIN on `registry_search_grams(UPPER(column::text))`).
    sqlite_trigram: searched table: its columns in "<table>_trigram".
    sqlite_bigram: table: its columns whose pieces "<table>_bigram" holds (empty: no such table).
    """

    postgresql: dict[str, tuple[str, str, str]]
    sqlite_trigram: dict[str, tuple[str, ...]]
    sqlite_bigram: dict[str, tuple[str, ...]]


# Migration 0005: trigrams of the English names (and people's Chinese names).
TRIGRAMS = SearchIndexes(
    postgresql={
        "organization_name_trgm": ("registry_organization", "name", "trigram"),
        "other_name_name_trgm": ("registry_othername", "name", "trigram"),
        "person_name_trgm": ("registry_person", "name", "trigram"),
        "person_name_zh_trgm": ("registry_person", "name_zh", "trigram"),
    },
    sqlite_trigram={
        "registry_organization": ("name",),
        "registry_othername": ("name",),
        "registry_person": ("name", "name_zh"),
    },
    sqlite_bigram={},
)
# Migration 0010: trigrams of every name and pinyin key, grams of every name.
CHINESE = SearchIndexes(
    postgresql={
        **TRIGRAMS.postgresql,
        "organization_name_zh_trgm": ("registry_organization", "name_zh", "trigram"),
        "organization_short_name_zh_trgm": ("registry_organization", "short_name_zh", "trigram"),
        "organization_pinyin_key_trgm": ("registry_organization", "pinyin_key", "trigram"),
        "person_pinyin_key_trgm": ("registry_person", "pinyin_key", "trigram"),
        "organization_name_grams": ("registry_organization", "name", "grams"),
        "organization_name_zh_grams": ("registry_organization", "name_zh", "grams"),
        "organization_short_name_zh_grams": ("registry_organization", "short_name_zh", "grams"),
        "other_name_name_grams": ("registry_othername", "name", "grams"),
        "person_name_grams": ("registry_person", "name", "grams"),
        "person_name_zh_grams": ("registry_person", "name_zh", "grams"),
    },
    sqlite_trigram={
        "registry_organization": ("name", "name_zh", "short_name_zh", "pinyin_key"),
        "registry_othername": ("name",),
        "registry_person": ("name", "name_zh", "pinyin_key"),
    },
    sqlite_bigram={
        "registry_organization": ("name", "name_zh", "short_name_zh"),
        "registry_othername": ("name",),
        "registry_person": ("name", "name_zh"),
    },
)
# As the latest migration leaves them.
POSTGRESQL_INDEXES = CHINESE.postgresql
# Searched table: its searched columns. On SQLite each table gets "<table>_trigram", the FTS5
# index (its rowid is a stable number for the row), "<table>_bigram" (the same rowids), and
# "<table>_trigram_key", which maps that number to the row's primary key. The map is needed
# because organizations and people have text primary keys, and the hidden rowid of such a table
# may change (VACUUM, Django remaking the table in a migration) while an integer primary key
# never does.
SQLITE_INDEXED = CHINESE.sqlite_trigram
SQLITE_BIGRAM = CHINESE.sqlite_bigram


def grams_serve(table: str, column: str, text: str) -> bool:
    """Whether PostgreSQL's gram index of `table.column` serves `text` (1 or 2 characters)."""
    return 0 < len(text) < 3 and (table, column, "grams") in POSTGRESQL_INDEXES.values()


class GramsContain(Func):
    """PostgreSQL: "the 1- and 2-character pieces of `column` (upper-cased) include the first
    two characters of `text` (upper-cased)", which every row whose `column` contains `text`
    ignoring case satisfies. The left side is the gram indexes' expression, so the planner
    answers it from them. Upper-casing both sides in SQL keeps them as `icontains` has them."""

    output_field = BooleanField()

    def __init__(self, column: str, text: str):
        super().__init__(column, Value(text))

    def as_sql(self, compiler, connection, **extra):
        (column, column_params), (text, text_params) = (
            compiler.compile(expression) for expression in self.get_source_expressions()
        )
        sql = f"{GRAMS_FUNCTION}(UPPER(({column})::text)) @> ARRAY[left(UPPER(({text})::text), 2)]"
        return sql, (*column_params, *text_params)


def sqlite_narrowed(table: str, text: str, columns: tuple[str, ...]) -> Q:
    """On SQLite, "the row is among those `table`'s trigram (or, for one or two characters,
    bigram) index finds for `text`": an extra filter, for a query that also filters `columns`
    with `icontains`, that lets SQLite read only those rows. For texts the indexes cannot serve,
    no filter at all (`Q()`). The indexes do not tell columns apart (`detail='none'` stores no
    columns), so the rows found may hold the text in another searched column: `icontains`
    decides. Which database uses it is registry/database.py's choice (`search_matching`)."""
    if not text or "\x00" in text:
        return Q()
    if len(text) >= 3:
        index, query = f"{table}_trigram", ("%s", [_trigram_query(text)])
    elif set(columns) <= set(SQLITE_BIGRAM.get(table, ())):
        # The query's token is computed by SQLite as the triggers compute the index's.
        index = f"{table}_bigram"
        star = "*" if len(text) == 1 else ""
        query = (f"""'"' || hex(lower(%s)) || '"{star}'""", [text])
    else:
        return Q()
    # Asked of the database, not of the SQLite library: the migrations skip the indexes where
    # the library lacks the trigram tokenizer, and the database may outlive that library.
    if index not in _sqlite_tables():
        return Q()
    key = f'"{table}_trigram_key"'
    sql, params = query
    return Q(
        pk__in=RawSQL(
            f'SELECT row_id FROM {key} WHERE id IN (SELECT rowid FROM "{index}" '
            f'WHERE "{index}" MATCH {sql})',
            params,
        )
    )


def _sqlite_tables() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND "
            "(name LIKE '%\\_trigram' ESCAPE '\\' OR name LIKE '%\\_bigram' ESCAPE '\\')"
        )
        return {name for (name,) in cursor.fetchall()}


def _trigram_query(text: str) -> str:
    """An FTS5 query for the rows that hold every trigram of `text`. Not a phrase query: that
    needs positions, which the index does not store (`detail='none'` keeps it small and quick
    to write); `icontains` then checks that the trigrams are in a row and in order. Inside
    double quotes FTS5 takes everything literally except the double quote, written twice."""
    trigrams = dict.fromkeys(text[i : i + 3] for i in range(len(text) - 2))
    return " ".join('"' + trigram.replace('"', '""') + '"' for trigram in trigrams)


@functools.cache
def sqlite_has_trigram() -> bool:
    """Whether this process's SQLite library has FTS5 with the trigram tokenizer (SQLite 3.34
    and later, when built with FTS5, as Python's usually is). Django supports older SQLite:
    there the migrations create no index, and search reads every name."""
    try:
        probe = sqlite3.connect(":memory:")
        try:
            probe.execute("CREATE VIRTUAL TABLE probe USING fts5(text, tokenize='trigram')")
        finally:
            probe.close()
    except sqlite3.Error:
        return False
    return True


# --- What a search looks for, and which name it found -------------------------------------


class SearchTexts(NamedTuple):
    """The texts one query looks for: itself in the names; its simplified form in the names,
    when it has traditional characters ("" otherwise); its pinyin folding in the pinyin keys,
    when it can be pinyin ("" otherwise)."""

    text: str
    simplified: str
    pinyin: str


def search_texts(text: str) -> SearchTexts:
    converted = simplified(text)
    return SearchTexts(text, converted if converted != text else "", pinyin_query(text))


class MatchedName(NamedTuple):
    """A name a query matched, and its language: "en", a language tag such as "zh-Hans", or
    "pinyin" (then `text` is the pinyin, with tone marks, of the Chinese name that matched)."""

    text: str
    language: str


def _contains(name: str, text: str) -> bool:
    # Close to what the databases do (SQLite folds ASCII only, PostgreSQL upper-cases): this
    # only chooses which of the names the database found to show.
    return bool(text) and (text.lower() in name.lower() or text.upper() in name.upper())


def _first_match(
    texts: SearchTexts, names: list[tuple[str, str]], chinese: list[tuple[str, str]]
) -> MatchedName | None:
    """The first of `names` ((name, language)) holding the text or its simplified form, else
    the first of `chinese` ((Chinese name, its pinyin)) whose pinyin key holds the pinyin."""
    for candidate in (texts.text, texts.simplified):
        for name, language in names:
            if name and _contains(name, candidate):
                return MatchedName(name, language)
    if texts.pinyin:
        for name, reading in chinese:
            if name and texts.pinyin in pinyin_key((name,), reading):
                return MatchedName(reading or pinyin_of(name), "pinyin")
    return None


def _language(name: str, tag: str) -> str:
    return tag or ("zh-Hans" if has_han(name) else "en")


def organization_matched_name(organization, text: str) -> MatchedName | None:
    """Which of `organization`'s names `text` matched, in which language: its English name
    first, then its Chinese name, its Chinese short form, its other names (prefetched, in their
    order: `other_names_in_order`), the same with the query's simplified characters, then the
    pinyin of its Chinese names. None when none does (the database and Python fold case a
    little differently: show the English name then)."""
    names = [
        (organization.name, "en"),
        (organization.name_zh, "zh-Hans"),
        (organization.short_name_zh, "zh-Hans"),
        *(
            (other.name, _language(other.name, other.language))
            for other in organization.other_names_in_order
        ),
    ]
    chinese = [
        (organization.name_zh, organization.pinyin),
        (organization.short_name_zh, ""),
    ]
    return _first_match(search_texts(text), names, chinese)


def person_matched_name(person, text: str) -> MatchedName | None:
    """Which of `person`'s names `text` matched, as `organization_matched_name`."""
    names = [(person.name, "en"), (person.name_zh, "zh-Hans")]
    return _first_match(search_texts(text), names, [(person.name_zh, person.pinyin)])
