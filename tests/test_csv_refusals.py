"""An import never changes data silently: every bad file is refused, naming line, column and
rule, through the paths people use (the command, as a command and as a process, and the admin
import), with the database exactly as it was; and what the registry exports, it imports back.
"""

from __future__ import annotations

import csv
import html
import io
import json
from dataclasses import dataclass, field

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command

from registry.imports import import_organizations, import_posts
from registry.models import Holding, Organization, OtherName, Person, Post, Source
from registry.schema import ORGANIZATIONS

from .conftest import admin_form_data
from .csvtools import (
    empty_registry,
    export_encoded,
    export_text,
    manage_in_a_process,
    parse,
    write,
)

SECRETARIAT = "npcsc-go-secretariat"
FULL_WIDTH_1980 = "\uff11\uff19\uff18\uff10"  # digits for which str.isdigit() is true
ARABIC_INDIC_ONE = "\u0661"
# The width of an organizations file, from the declarations: a short row here misses its last
# two cells.
WIDTH = len(ORGANIZATIONS.columns)
LAST_TWO = ", ".join(ORGANIZATIONS.columns[-2:])


def _dump() -> str:
    """Every registry and history row, to compare before and after."""
    out = io.StringIO()
    call_command("dumpdata", "registry", "reversion", stdout=out)
    return out.getvalue()


def _organizations(**changes) -> bytes:
    """The seed's organizations export, with `changes[id]` applied to that row."""
    rows = parse(export_text())
    for row in rows:
        row.update(changes.get(row["id"], {}))
    return write(rows)


def _line(pk: str) -> int:
    return [row["id"] for row in parse(export_text())].index(pk) + 2


def _with_cells(pk: str, count: int) -> bytes:
    """The organizations export with the row of `pk` cut or padded to `count` cells."""
    table = list(csv.reader(io.StringIO(export_text(), newline="")))
    for cells in table[1:]:
        if cells[0] == pk:
            cells[:] = (cells + ["extra"] * count)[:count]
    out = io.StringIO(newline="")
    csv.writer(out, lineterminator="\r\n").writerows(table)
    return out.getvalue().encode()


POST = {
    "organization": SECRETARIAT,
    "post": "Director",
    "post_plural": "",
    "post_order": "1",
    "person": "wang-ming",
    "person_name": "Wang Ming",
    "holder_order": "1",
    "start": "",
    "end": "",
}


def _posts(*rows: dict) -> bytes:
    """A posts file of POST rows with changes; the person_name_zh column only when a row
    gives it (so that the other cases are files today's main would have read)."""
    rows = [POST | row for row in rows]
    if any("person_name_zh" in row for row in rows):
        rows = [{"person_name_zh": ""} | row for row in rows]
    return write(rows)


@dataclass
class Case:
    dataset: str
    data: object  # a function returning the file's bytes (it may read the seeded registry)
    expected: list[str]
    encoding: str | None = None
    admin: bool = True  # the admin import has no way to name an encoding
    extra: list[str] = field(default_factory=list)


CASES = {
    "short row": Case(
        "organizations",
        lambda: _with_cells(SECRETARIAT, WIDTH - 2),
        [
            f"{{line}}, column {LAST_TWO}: missing cells: the row has {WIDTH - 2} cells but the "
            f"header has {WIDTH}"
        ],
    ),
    "long row": Case(
        "organizations",
        lambda: _with_cells(SECRETARIAT, WIDTH + 1),
        [
            f"{{line}}, column (cell {WIDTH + 1}): cells beyond the header: the row has "
            f"{WIDTH + 1} cells but the header"
        ],
    ),
    "predecessor note over its limit": Case(
        "organizations",
        lambda: _organizations(
            **{SECRETARIAT: {"predecessors": f'[{{"id": "npcsc", "note": "{"n" * 501}"}}]'}}
        ),
        ["{line}, column predecessors: item 1: “note”: 501 characters long; the limit is 500."],
    ),
    "other name language over its limit": Case(
        "organizations",
        lambda: _organizations(
            **{
                SECRETARIAT: {
                    "other_names": '[{"type": "abbreviation", "name": "S", "language": "'
                    + "x" * 21
                    + '"}]'
                }
            }
        ),
        ["{line}, column other_names: item 1: “language”: 21 characters long; the limit is 20."],
    ),
    "source locator over its limit": Case(
        "organizations",
        lambda: _organizations(
            **{SECRETARIAT: {"sources": f'[{{"title": "T", "locator": "{"l" * 201}"}}]'}}
        ),
        ["{line}, column sources: item 1: “locator”: 201 characters long; the limit is 200."],
    ),
    "a cp1252 file": Case(
        "organizations",
        lambda: export_encoded("cp1252", {SECRETARIAT: {"location": "Zürich Straße"}}),
        ["encoding is not certain", "--encoding"],
    ),
    "rot13 named": Case(
        "organizations",
        lambda: _organizations(),
        ["“rot13” is not a text encoding"],
        "rot13",
        False,
    ),
    "hex named": Case(
        "organizations", lambda: _organizations(), ["“hex” is not a text encoding"], "hex", False
    ),
    "a number where text is expected": Case(
        "organizations",
        lambda: _organizations(
            **{SECRETARIAT: {"other_names": '[{"type": "abbreviation", "name": 5}]'}}
        ),
        ["{line}, column other_names: item 1: “name” must be text, not int."],
    ),
    "JSON nested thousands deep": Case(
        "organizations",
        lambda: _organizations(**{SECRETARIAT: {"sources": "[" * 100_000 + "]" * 100_000}}),
        ["{line}, column sources: is nested too deeply"],
    ),
    "a lone surrogate in JSON": Case(
        "organizations",
        lambda: _organizations(
            **{SECRETARIAT: {"other_names": '[{"type": "abbreviation", "name": "\\ud800"}]'}}
        ),
        ["{line}, column other_names: item 1: “name” holds a lone surrogate"],
    ),
    "NUL in JSON": Case(
        "organizations",
        lambda: _organizations(
            **{SECRETARIAT: {"other_names": '[{"type": "abbreviation", "name": "a\\u0000"}]'}}
        ),
        ["{line}, column other_names: item 1: “name” holds a NUL character"],
    ),
    "a key given twice in JSON": Case(
        "organizations",
        lambda: _organizations(
            **{
                SECRETARIAT: {
                    "other_names": '[{"type": "abbreviation", "name": "A", "name": "B"}]'
                }
            }
        ),
        [
            "{line}, column other_names: is not a usable JSON array (an object gives the key name "
            "twice)"
        ],
    ),
    "more other names than positions": Case(
        "organizations",
        lambda: _organizations(
            **{
                SECRETARIAT: {
                    "other_names": json.dumps(
                        [{"type": "abbreviation", "name": f"n{i}"} for i in range(32769)]
                    )
                }
            }
        ),
        ["{line}, column other_names: 32769 items; the limit is 32768."],
    ),
    "a language tag with spaces": Case(
        "organizations",
        lambda: _organizations(
            **{
                SECRETARIAT: {
                    "other_names": '[{"type": "translation", "name": "秘书局", '
                    '"language": "zh-Hans "}]'
                }
            }
        ),
        ["{line}, column other_names: item 1: language “zh-Hans ” has spaces"],
    ),
    "a superscript order": Case(
        "organizations",
        lambda: _organizations(**{SECRETARIAT: {"order": "²"}}),
        ["{line}, column order: “²” is not a whole number from 0 to 32767"],
    ),
    "an Arabic-Indic order": Case(
        "organizations",
        lambda: _organizations(**{SECRETARIAT: {"order": ARABIC_INDIC_ONE}}),
        ["{line}, column order: “\u0661” is not a whole number from 0 to 32767"],
    ),
    "a full-width date": Case(
        "organizations",
        lambda: _organizations(**{SECRETARIAT: {"formed": FULL_WIDTH_1980}}),
        ["{line}, column formed: “\uff11\uff19\uff18\uff10” is not a date"],
    ),
    "an id with a trailing space": Case(
        "organizations",
        lambda: _organizations(**{SECRETARIAT: {"id": f"{SECRETARIAT} "}}),
        [f"{{line}}, column id: “{SECRETARIAT} ” has spaces (or other blank characters) before"],
    ),
    "a kind with a leading space": Case(
        "organizations",
        lambda: _organizations(**{SECRETARIAT: {"kind": " internal-department"}}),
        ["{line}, column kind: “ internal-department” has spaces"],
    ),
    "a date with spaces": Case(
        "organizations",
        lambda: _organizations(**{SECRETARIAT: {"formed": " 1954"}}),
        ["{line}, column formed: “ 1954” has spaces"],
    ),
    "a javascript: source": Case(
        "organizations",
        lambda: _organizations(
            **{SECRETARIAT: {"sources": '[{"title": "T", "url": "javascript:alert(1)"}]'}}
        ),
        ["{line}, column sources: item 1: url “javascript:alert(1)” is not valid: use a full"],
    ),
    "an ftp: source": Case(
        "organizations",
        lambda: _organizations(
            **{SECRETARIAT: {"sources": '[{"title": "T", "url": "ftp://example.org/a"}]'}}
        ),
        ["{line}, column sources: item 1: url “ftp://example.org/a” is not valid: use a full"],
    ),
    "one person with two names": Case(
        "posts",
        lambda: _posts({}, {"post": "Deputy Director", "person_name": "Wang Min"}),
        [
            "line 3, column person_name: “wang-ming” is named “Wang Ming” on line 2 and "
            "“Wang Min” here"
        ],
    ),
    "one person with two Chinese names": Case(
        "posts",
        lambda: _posts(
            {"person_name_zh": "王明"}, {"post": "Deputy Director", "person_name_zh": "王鸣"}
        ),
        ["line 3, column person_name_zh: “wang-ming” is named “王明” on line 2 and “王鸣”"],
    ),
    "the same person twice in a post, undated": Case(
        "posts",
        lambda: _posts({}, {"start": "1990"}),
        ["line 3, column person: “wang-ming” holds “Director” also on line 2"],
    ),
    "the same person twice in a post, overlapping": Case(
        "posts",
        lambda: _posts({"start": "1990", "end": "1995"}, {"start": "1994-06"}),
        ["line 3, column person: “wang-ming” holds “Director” also on line 2: the holding"],
    ),
    "a superscript holder order": Case(
        "posts",
        lambda: _posts({"holder_order": "²"}),
        ["line 2, column holder_order: “²” is not a whole number"],
    ),
    "a Chinese name over its limit": Case(
        "posts",
        lambda: _posts({"person_name_zh": "王" * 101}),
        ["line 2, column person_name_zh: 101 characters long; the limit is 100."],
    ),
    "a person id with spaces": Case(
        "posts",
        lambda: _posts({"person": " wang-ming"}),
        ["line 2, column person: “ wang-ming” has spaces"],
    ),
}


def _expected(case: Case) -> list[str]:
    """The fragments, with `{line}` the line of the seed's secretariat row."""
    return [text.replace("{line}", f"line {_line(SECRETARIAT)}") for text in case.expected]


@pytest.mark.parametrize("name", CASES)
def test_the_import_command_refuses_and_writes_nothing(seeded, tmp_path, capsys, name):
    case = CASES[name]
    path = tmp_path / "file.csv"
    path.write_bytes(case.data())
    before = _dump()
    args = ["import_registry", case.dataset, str(path)]
    if case.encoding:
        args += ["--encoding", case.encoding]
    with pytest.raises(CommandError, match="nothing was written"):
        call_command(*args)
    errors = capsys.readouterr().err
    for fragment in _expected(case):
        assert fragment in errors
    assert "Traceback" not in errors
    assert _dump() == before


@pytest.mark.parametrize("name", [name for name, case in CASES.items() if case.admin])
def test_the_admin_import_refuses_and_writes_nothing(editor_client, seeded, name):
    case = CASES[name]
    data = case.data()
    before = _dump()
    model = "organization" if case.dataset == "organizations" else "post"
    response = editor_client.post(
        f"/admin/registry/{model}/import/",
        {"format": "0", "import_file": SimpleUploadedFile("file.csv", data, "text/csv")},
    )
    assert response.status_code == 200
    page = html.unescape(response.content.decode())
    for fragment in _expected(case):
        # The admin shows the line, and the column and the rule beside it.
        where, _, rule = fragment.rpartition(", column ")
        assert rule.split(": ", 1)[-1] in page
        if where:
            assert where in page
    assert "Confirm import" not in page
    assert _dump() == before


def test_organization_problems_name_their_line(seeded):
    report = import_organizations(_with_cells(SECRETARIAT, WIDTH - 2))
    assert str(report.problems[0]).startswith(f"line {_line(SECRETARIAT)}, column {LAST_TWO}:")
    report = import_organizations(_organizations(**{SECRETARIAT: {"order": "²"}}))
    assert str(report.problems[0]) == (
        f"line {_line(SECRETARIAT)}, column order: “²” is not a whole number from 0 to 32767 "
        "(digits 0-9 only)."
    )


# The refusals run as real processes: one of each stage where a process could fail otherwise
# than `call_command` does (decoding and named encodings, the rows' shape, JSON deep enough to
# meet the interpreter's recursion limit, a lone surrogate and a NUL written to a real stderr, a
# field's rule, the posts file). Every case runs through `call_command` and the admin above;
# each process costs 2-4 s, and all thirty took 106 s of a CI suite.
IN_A_PROCESS = (
    "a cp1252 file",
    "rot13 named",
    "hex named",
    "short row",
    "JSON nested thousands deep",
    "a lone surrogate in JSON",
    "NUL in JSON",
    "a superscript order",
    "one person with two names",
    "a Chinese name over its limit",
)


def test_the_import_process_exits_1_with_a_message_and_no_traceback(seeded, tmp_path):
    """Refusals through a real process (one database for all, seeded like the tests')."""
    manage = manage_in_a_process(tmp_path)

    assert manage("migrate", "-v0").returncode == 0
    assert manage("load_seed", "-v0").returncode == 0
    failures = []
    for name in IN_A_PROCESS:
        case = CASES[name]
        path = tmp_path / f"{len(failures)}-{name.replace(' ', '-')}.csv"
        path.write_bytes(case.data())
        args = ["import_registry", case.dataset, str(path)]
        if case.encoding:
            args += ["--encoding", case.encoding]
        result = manage(*args)
        if (
            result.returncode != 1
            or "Traceback" in result.stderr
            or not all(fragment in result.stderr for fragment in _expected(case))
        ):
            failures.append((name, result.returncode, result.stderr[-500:]))
    assert failures == []


# --- What used to be changed silently is now kept exactly -------------------------------------


def test_an_export_with_a_huge_cell_imports_back(client, seeded):
    """The admin accepts any length in the free-text fields; the csv module's default limit
    (131,072 characters) made such an export impossible to import."""
    Organization.objects.filter(pk=SECRETARIAT).update(summary="s" * 200_000)
    data = b"".join(client.get("/organizations.csv").streaming_content)
    report = import_organizations(data)
    assert report.ok, report.problems
    assert report.changed == 0
    empty_registry()
    assert import_organizations(data).count("new") == 53
    assert Organization.objects.get(pk=SECRETARIAT).summary == "s" * 200_000


def test_chinese_names_of_people_travel_in_the_posts_csv(client, seeded):
    Person.objects.filter(pk="liu-qi").update(name_zh="刘奇")
    organizations = export_text()
    posts = b"".join(client.get("/posts.csv").streaming_content)
    assert ",liu-qi,Liu Qi,刘奇," in posts.decode()
    empty_registry()
    import_organizations(organizations.encode())
    report = import_posts(posts)
    assert report.ok, report.problems
    assert Person.objects.get(pk="liu-qi").name_zh == "刘奇"
    assert export_text("posts").encode() == posts


def test_a_person_may_hold_a_post_again_later_but_not_in_an_overlapping_period(seeded):
    report = import_posts(
        _posts({"start": "1990", "end": "1994-05"}, {"start": "1994-06", "holder_order": "2"})
    )
    assert report.ok, report.problems
    assert Holding.objects.filter(person="wang-ming").count() == 2
    before = _dump()
    report = import_posts(_posts({"start": "1999"}))
    assert "holds “Director” also on the registry: the holding from 1994-06 has no end" in str(
        report.problems[0]
    )
    assert _dump() == before


def test_detection_refuses_cp1252_but_reads_gb18030_that_can_only_be_chinese(seeded, tmp_path):
    path = tmp_path / "cp1252.csv"
    path.write_bytes(export_encoded("cp1252", {SECRETARIAT: {"location": "Zürich Straße"}}))
    with pytest.raises(CommandError):
        call_command("import_registry", "organizations", str(path))
    call_command("import_registry", "organizations", str(path), "--encoding", "cp1252")
    assert Organization.objects.get(pk=SECRETARIAT).location == "Zürich Straße"

    name = "秘书局\uff08第一局\uff09"
    # Rows in GB2312's characters: some seed rows cite evidence in traditional characters, which
    # GB18030 writes with ASCII trail bytes, so their file is (rightly) not certainly GB18030.
    changes = {SECRETARIAT: {"name": name, "location": "北京·西城区"}}
    report = import_organizations(export_encoded("gb18030", changes, rows_in="gb2312"))
    assert report.ok, report.problems
    assert report.encoding == "gb18030"
    assert Organization.objects.get(pk=SECRETARIAT).name == name


# --- The admin keeps what the curator typed ---------------------------------------------------

CHANGE_URL = f"/admin/registry/organization/{SECRETARIAT}/change/"


def test_saving_an_unchanged_admin_form_changes_nothing(editor_client, seeded, tmp_path):
    """Values imported with surrounding spaces (kept as given), then an admin save of the
    untouched form: nothing changes (Django's forms used to strip them, and two other names
    `X` and `X ` could not be saved at all)."""
    path = tmp_path / "spaces.csv"
    path.write_bytes(
        _organizations(
            **{
                SECRETARIAT: {
                    "name": " Secretariat ",
                    "type": "Bureau ",
                    "summary": "\n A summary. ",
                    "other_names": '[{"type": "abbreviation", "name": "X"}, '
                    '{"type": "abbreviation", "name": "X "}]',
                }
            }
        )
    )
    call_command("import_registry", "organizations", str(path))
    before = export_text()
    assert Organization.objects.get(pk=SECRETARIAT).name == " Secretariat "
    assert list(
        OtherName.objects.filter(organization=SECRETARIAT).values_list("name", flat=True)
    ) == [
        "X",
        "X ",
    ]
    page = editor_client.get(CHANGE_URL)
    response = editor_client.post(CHANGE_URL, admin_form_data(page))
    assert response.status_code == 302, response.context["errors"]
    assert export_text() == before


def test_the_admin_refuses_what_it_would_otherwise_convert(editor_client, seeded):
    """A full-width date used to be stored as ASCII digits; without stripping, a name of only
    spaces must still be refused."""
    page = editor_client.get(CHANGE_URL)
    response = editor_client.post(CHANGE_URL, admin_form_data(page) | {"formed": FULL_WIDTH_1980})
    assert response.status_code == 200
    assert "is not a date" in html.unescape(response.content.decode())
    assert Organization.objects.get(pk=SECRETARIAT).formed is None
    response = editor_client.post(CHANGE_URL, admin_form_data(page) | {"name": "   "})
    assert response.status_code == 200
    assert "cannot be only spaces" in response.content.decode()
    assert Organization.objects.get(pk=SECRETARIAT).name == "Secretariat"


@pytest.mark.parametrize("url", ["javascript:alert(1)", "ftp://example.org/file"])
def test_the_admin_source_form_takes_only_web_addresses(editor_client, db, url):
    response = editor_client.post(
        "/admin/registry/source/add/",
        {"title": "A source", "url": url, "publisher": "", "note": ""},
    )
    assert response.status_code == 200
    assert not Source.objects.filter(title="A source").exists()


def test_public_pages_never_link_a_stored_non_web_address(client, seeded):
    """Rows stored before the rule (or around it) are shown, but not as links."""
    source = Source.objects.create(title="Hostile source", url="javascript:alert(1)")
    Organization.objects.get(pk=SECRETARIAT).citations.create(source=source)
    person = Person.objects.get(pk="liu-qi")
    person.sources.add(source)
    for url in (f"/organizations/{SECRETARIAT}/", "/people/liu-qi/"):
        page = client.get(url).content.decode()
        assert "Hostile source" in page
        assert "javascript:" not in page


def _post_with_holding(start: str, end: str):
    post = Post.objects.create(organization_id=SECRETARIAT, title="Director", position=1)
    person = Person.objects.create(id="wang-ming", name="Wang Ming")
    Holding.objects.create(post=post, person=person, position=1, start=start, end=end)
    return post


def _add_holding_in_the_admin(client, post, start: str, end: str):
    url = f"/admin/registry/post/{post.pk}/change/"
    data = admin_form_data(client.get(url))
    index = int(data["holdings-TOTAL_FORMS"])
    data |= {
        "holdings-TOTAL_FORMS": str(index + 1),
        f"holdings-{index}-person": "wang-ming",
        f"holdings-{index}-position": "2",
        f"holdings-{index}-start": start,
        f"holdings-{index}-end": end,
        f"holdings-{index}-post": str(post.pk),
    }
    return client.post(url, data)


def test_the_admin_holds_a_person_in_a_post_again_by_the_import_s_rule(editor_client, seeded):
    """An overlapping second holding is refused in the admin as in the import; a later one is
    saved, and then exports and imports back."""
    post = _post_with_holding("1990", "1994-05")
    response = _add_holding_in_the_admin(editor_client, post, "1994", "")
    assert response.status_code == 200
    assert "already holds this post: the holding 1990 to 1994-05 overlaps" in html.unescape(
        response.content.decode()
    )
    assert Holding.objects.filter(person="wang-ming").count() == 1

    response = _add_holding_in_the_admin(editor_client, post, "1994-06", "")
    assert response.status_code == 302
    organizations, posts = export_text(), export_text("posts")
    empty_registry()
    assert import_organizations(organizations.encode()).ok
    report = import_posts(posts.encode())
    assert report.ok, report.problems
    assert export_text("posts") == posts


def test_the_admin_refuses_a_language_tag_with_spaces(editor_client, seeded):
    page = editor_client.get(CHANGE_URL)
    data = admin_form_data(page)
    index = int(data["other_names-TOTAL_FORMS"])
    data |= {
        "other_names-TOTAL_FORMS": str(index + 1),
        f"other_names-{index}-name": "秘书局",
        f"other_names-{index}-name_type": "translation",
        f"other_names-{index}-language": "zh-Hans ",
        f"other_names-{index}-position": "0",
        f"other_names-{index}-organization": SECRETARIAT,
    }
    response = editor_client.post(CHANGE_URL, data)
    assert response.status_code == 200
    assert not OtherName.objects.filter(name="秘书局").exists()
