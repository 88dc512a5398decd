"""Attacks on the CSV contract and the public downloads, through the paths people use: the
import command (as a command and as a process), the admin import (upload, preview, confirm)
and the public pages. Each test here failed before the fix it names."""

from __future__ import annotations

import html
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command

from registry.models import Holding, Organization, Post

from .conftest import assert_tree_valid
from .csvtools import export_text, manage_in_a_process, parse, write

IMPORT_URL = "/admin/registry/organization/import/"
CONFIRM_URL = "/admin/registry/organization/process_import/"
POSTS_IMPORT_URL = "/admin/registry/post/import/"
OFFICE = "cppcc-general-office"  # the seed's fullest row: dates, texts, names, sources, lineage


@pytest.fixture(autouse=True)
def uploads(settings, tmp_path):
    folder = tmp_path / "uploads"
    folder.mkdir()
    settings.REGISTRY_IMPORT_UPLOADS = str(folder)
    return folder


def _dump() -> str:
    """Every registry and history row, to compare before and after."""
    out = io.StringIO()
    call_command("dumpdata", "registry", "reversion", stdout=out)
    return out.getvalue()


def _import(tmp_path, dataset: str, data: bytes, *args: str) -> str:
    """Run the import command on `data`; return what it printed to stdout."""
    path = tmp_path / "file.csv"
    path.write_bytes(data)
    out = io.StringIO()
    call_command("import_registry", dataset, str(path), *args, stdout=out)
    return out.getvalue()


def _refused(tmp_path, capsys, dataset: str, data: bytes) -> str:
    """Run the import command on a file it must refuse; return its error output."""
    path = tmp_path / "file.csv"
    path.write_bytes(data)
    with pytest.raises(CommandError, match="nothing was written"):
        call_command("import_registry", dataset, str(path))
    errors = capsys.readouterr().err
    assert "Traceback" not in errors
    return errors


def _upload(client, data: bytes, url: str = IMPORT_URL):
    return client.post(
        url, {"format": "0", "import_file": SimpleUploadedFile("file.csv", data, "text/csv")}
    )


def _confirm(client, preview, url: str = CONFIRM_URL):
    form = preview.context["confirm_form"]
    return client.post(url, {name: form[name].value() for name in form.fields})


def _export_without(column: str, text: str) -> list[dict[str, str]]:
    return [{k: v for k, v in row.items() if k != column} for row in parse(text)]


# --- A column left out keeps what the registry holds ------------------------------------------

REQUIRED_ONLY = ["id", "parent", "name", "kind", "rank"]


def _renamed_office_required_columns_only() -> bytes:
    row = next(row for row in parse(export_text()) if row["id"] == OFFICE)
    return write([{**{c: row[c] for c in REQUIRED_ONLY}, "name": "Renamed Office"}], REQUIRED_ONLY)


def _expected_after_rename(before: str, pk: str = OFFICE, name: str = "Renamed Office") -> str:
    rows = parse(before)
    for row in rows:
        if row["id"] == pk:
            row["name"] = name
    return write(rows).decode()


def test_the_command_renames_from_a_file_of_the_required_columns_and_empties_nothing(
    seeded, tmp_path
):
    before = export_text()
    out = _import(tmp_path, "organizations", _renamed_office_required_columns_only(), "-v", "2")
    assert "1 updated" in out
    assert f"{OFFICE} (name)" in out
    assert export_text() == _expected_after_rename(before)
    assert_tree_valid()


def test_the_admin_renames_from_a_file_of_the_required_columns_and_empties_nothing(
    editor_client, seeded
):
    before = export_text()
    preview = _upload(editor_client, _renamed_office_required_columns_only())
    assert "Confirm import" in preview.content.decode()
    response = _confirm(editor_client, preview)
    assert response.status_code == 302
    assert export_text() == _expected_after_rename(before)


@pytest.mark.parametrize(
    "column",
    [
        "other_names",
        "formed",
        "type",
        "location",
        "summary",
        "history",
        "functions",
        "sources",
        "predecessors",
    ],
)
def test_an_export_without_one_optional_column_changes_nothing(seeded, tmp_path, column):
    before = export_text()
    data = write(_export_without(column, before))
    out = _import(tmp_path, "organizations", data)
    assert "0 updated" in out
    assert export_text() == before


def test_a_unit_renamed_by_a_file_without_an_order_column_keeps_its_place(seeded, tmp_path):
    before = export_text()
    rows = [row for row in _export_without("order", before) if row["id"] == "npcsc-go-secretariat"]
    assert rows and rows[0]["name"] == "Secretariat"
    rows[0]["name"] = "Secretariat Bureau"
    out = _import(tmp_path, "organizations", write(rows), "-v", "2")
    assert "update npcsc-go-secretariat (name)" in out
    assert export_text() == _expected_after_rename(
        before, "npcsc-go-secretariat", "Secretariat Bureau"
    )


def test_a_kept_formation_date_still_bounds_a_dissolution_from_the_file(seeded, tmp_path, capsys):
    row = next(row for row in parse(export_text()) if row["id"] == OFFICE)
    assert row["formed"] == "1980-12-30"
    data = write([{**{c: row[c] for c in REQUIRED_ONLY}, "dissolved": "1970"}])
    before = _dump()
    errors = _refused(tmp_path, capsys, "organizations", data)
    assert (
        "line 2, column dissolved: the dissolution date (1970) is before the formation date "
        "(30 December 1980); the formed date is the registry's" in errors
    )
    assert _dump() == before


def test_a_posts_file_without_the_optional_columns_changes_no_post_or_holder(seeded, tmp_path):
    post = Post.objects.get(organization=OFFICE, title="Deputy Secretary-General")
    Post.objects.filter(pk=post.pk).update(plural_title="Deputies", position=7)
    holding = post.holdings.order_by("position")[1]
    Holding.objects.filter(pk=holding.pk).update(position=9, end="2003-03")
    before = export_text("posts")
    rows = [
        {"organization": r["organization"], "post": r["post"], "person": r["person"]}
        for r in parse(before)
    ]
    out = _import(tmp_path, "posts", write(rows), "-v", "2")
    assert "0 new, 0 updated" in out, out
    assert export_text("posts") == before


# --- Encoding: a damaged UTF-8 file is not read as GB18030 -----------------------------------

CHINESE_NAME = "主也维人她和持持明全内"


def _damaged_utf8() -> bytes:
    """A UTF-8 file of one new unit with a Chinese name, one byte of which is missing (a cut
    transfer, a bad editor). Read as GB18030 it gave `涓讳圭淮…`, all Chinese-looking."""
    data = write(
        [{"id": "new-unit", "parent": "", "name": CHINESE_NAME, "kind": "national-body"}],
        [*REQUIRED_ONLY],
    )
    cut = data.index("也".encode())
    return data[:cut] + data[cut + 1 :]


def test_the_command_refuses_a_damaged_utf8_file_rather_than_read_it_as_gb18030(
    seeded, tmp_path, capsys
):
    before = _dump()
    errors = _refused(tmp_path, capsys, "organizations", _damaged_utf8())
    assert "file: The file is UTF-8 with damaged bytes: undecodable bytes on line 2" in errors
    assert _dump() == before


def test_the_admin_refuses_a_damaged_utf8_file(editor_client, seeded):
    before = _dump()
    response = _upload(editor_client, _damaged_utf8())
    page = html.unescape(response.content.decode())
    assert "The file is UTF-8 with damaged bytes: undecodable bytes on line 2" in page
    assert "Confirm import" not in page
    assert _dump() == before


def test_a_utf8_file_cut_in_the_middle_of_its_last_character_is_refused(seeded, tmp_path, capsys):
    header = ["id", "parent", "kind", "rank", "name"]
    unit = {"id": "new-unit", "parent": "", "kind": "national-body", "name": "Unit 中"}
    data = write([unit], header).removesuffix(b"\r\n")[:-1]
    errors = _refused(tmp_path, capsys, "organizations", data)
    assert "damaged bytes: undecodable bytes on line 2" in errors
    assert not Organization.objects.filter(pk="new-unit").exists()


# --- Public downloads ---------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["/organizations.csv", "/posts.csv"])
@pytest.mark.parametrize("root", ["%00", "a%00b", "x" * 5000, "%E2%80%AE", "../../etc/passwd"])
def test_a_download_of_a_hostile_root_is_a_404(client, seeded, url, root):
    response = client.get(f"{url}?root={root}")
    assert response.status_code == 404
    assert not response.has_header("ETag")


# --- Size: hostile shapes stay bounded in time and memory --------------------------------------

NEW = {"parent": "", "name": "Unit", "kind": "national-body", "rank": ""}


def test_a_file_whose_rows_form_one_long_cycle_gets_short_messages(seeded, tmp_path, capsys):
    """Each row's message quoted the whole cycle: a file of n rows in one cycle gave n messages
    of n identifiers (gigabytes at 20,000 rows)."""
    size = 3000
    rows = [NEW | {"id": f"unit-{n}", "parent": f"unit-{(n + 1) % size}"} for n in range(size)]
    before = _dump()
    errors = _refused(tmp_path, capsys, "organizations", write(rows))
    lines = [line for line in errors.splitlines() if "column parent" in line]
    assert len(lines) == size
    assert max(len(line) for line in lines) < 400
    assert lines[0] == (
        "line 2, column parent: the parents form a cycle: unit-0 → unit-1 → unit-2 → unit-3 → "
        "unit-4 → unit-5 → unit-6 → unit-7 → unit-8 → unit-9 → … (2990 more) → unit-0."
    )
    assert _dump() == before


# Hostile shapes whose handling was quadratic in their size (measured as whole processes on
# SQLite: 207 s for the header, 52 s for the chain; 1.5 s and 2.9 s after the fix). No timing
# is asserted here (shared machines are noisy): a quadratic path makes these tests take
# minutes instead of seconds, which the suite's duration shows.


def test_a_header_of_a_hundred_thousand_columns_is_refused(db, tmp_path, capsys):
    header = ",".join(f"col{n}" for n in range(100_000)) + "\r\n"
    errors = _refused(tmp_path, capsys, "organizations", header.encode())
    assert "header (line 1), column col99999: unknown column" in errors


def test_a_chain_twenty_thousand_deep_imports(db, tmp_path):
    rows = [NEW | {"id": f"d-{n}", "parent": f"d-{n - 1}" if n else ""} for n in range(20_000)]
    assert "20000 new" in _import(tmp_path, "organizations", write(rows))
    deepest = Organization.objects.get(pk="d-19999")
    assert (deepest.level, deepest.lft, deepest.rght) == (19_999, 20_000, 20_001)


def test_a_three_cycle_through_the_registry_is_quoted_whole(seeded, tmp_path, capsys):
    rows = {row["id"]: row for row in parse(export_text())}
    moved = [
        rows["cppcc-go-research-office"] | {"parent": "new-a"},
        NEW | {"id": "new-a", "parent": "new-b"},
        NEW | {"id": "new-b", "parent": "cppcc-go-research-office-office"},
    ]
    errors = _refused(tmp_path, capsys, "organizations", write(moved))
    assert (
        "line 2, column parent: this move would make it its own ancestor: "
        "cppcc-go-research-office → new-a → new-b → cppcc-go-research-office-office → "
        "cppcc-go-research-office." in errors
    )


# --- The file's shape: what spreadsheets write --------------------------------------------------


def test_excel_s_sep_line_and_blank_lines_before_the_header_are_ignored(seeded, tmp_path):
    text = export_text()
    data = ("sep=,\r\n\r\n" + text.replace("Secretariat", "Secretariat Bureau", 1)).encode()
    out = _import(tmp_path, "organizations", data)
    assert "1 updated" in out
    assert export_text() == text.replace("Secretariat", "Secretariat Bureau", 1)


@pytest.mark.parametrize(
    ("first_lines", "separator"),
    [
        ("sep=;\r\nid;parent;name;kind;rank", "semicolons"),
        ("id;parent;name;kind;rank", "semicolons"),
        ("id\tparent\tname\tkind\trank", "tabs"),
    ],
)
def test_a_file_not_separated_by_commas_is_refused_saying_so(
    seeded, tmp_path, capsys, first_lines, separator
):
    data = f"{first_lines}\r\nnew-unit;;New;national-body;\r\n".encode()
    errors = _refused(tmp_path, capsys, "organizations", data)
    assert f"the file seems to be separated by {separator} rather than commas" in errors
    assert not Organization.objects.filter(pk="new-unit").exists()


def test_a_utf16_file_without_a_bom_is_refused_naming_the_encoding(seeded, tmp_path, capsys):
    data = export_text().encode("utf-16-le")
    errors = _refused(tmp_path, capsys, "organizations", data)
    assert "looks like UTF-16 without a byte-order mark" in errors
    assert "--encoding utf-16-le" in errors


def test_an_excel_download_imports_back_unchanged_everywhere(
    client, editor_client, seeded, tmp_path
):
    for url in ("/organizations.csv?excel=1", "/posts.csv?excel=1"):
        data = b"".join(client.get(url).streaming_content)
        assert data.startswith(b"\xef\xbb\xbf")
        dataset = url[1:].split(".")[0]
        assert "0 new, 0 updated" in _import(tmp_path, dataset, data)
        model = "organization" if dataset == "organizations" else "post"
        page = _upload(editor_client, data, f"/admin/registry/{model}/import/").content.decode()
        assert "Nothing in this file changes the registry." in page


# --- The admin's confirm ------------------------------------------------------------------------


def _renamed(name: str) -> bytes:
    rows = parse(export_text())
    for row in rows:
        if row["id"] == OFFICE:
            row["name"] = name
    return write(rows)


def test_two_previews_in_two_tabs_then_the_older_confirmed_then_the_newer(editor_client, seeded):
    older = _upload(editor_client, _renamed("Office A"))
    newer = _upload(editor_client, _renamed("Office B"))
    assert _confirm(editor_client, older).status_code == 302
    assert Organization.objects.get(pk=OFFICE).name == "Office A"
    # The newer preview showed the old name going: the registry changed since, so it is shown
    # again with the name it has now, and nothing is written.
    response = _confirm(editor_client, newer)
    assert response.status_code == 409
    page = html.unescape(response.content.decode())
    assert "The registry changed since your preview" in page
    assert "Office A" in page and "Office B" in page
    assert Organization.objects.get(pk=OFFICE).name == "Office A"
    # A double click on the first confirm imports nothing twice.
    assert _confirm(editor_client, older).status_code == 400


# --- As a process: exit status 1, a message, no traceback ---------------------------------------


def test_the_import_process_refuses_these_attacks_with_exit_status_1(db, tmp_path):
    manage = manage_in_a_process(tmp_path)

    assert manage("migrate", "-v0").returncode == 0
    cycle = [NEW | {"id": f"u-{n}", "parent": f"u-{(n + 1) % 50}"} for n in range(50)]
    files = {
        "damaged UTF-8": (_damaged_utf8(), "The file is UTF-8 with damaged bytes"),
        "semicolons": (
            b"id;parent;name;kind;rank\r\nx;;X;national-body;\r\n",
            "separated by semicolons",
        ),
        "UTF-16 without BOM": (
            "id,parent,name,kind,rank\r\n".encode("utf-16-le"),
            "looks like UTF-16 without a byte-order mark",
        ),
        "a long cycle": (write(cycle), "u-9 → … (40 more) → u-0."),
    }
    failures = []
    for name, (data, expected) in files.items():
        path = tmp_path / "file.csv"
        path.write_bytes(data)
        result = manage("import_registry", "organizations", str(path))
        if result.returncode != 1 or "Traceback" in result.stderr or expected not in result.stderr:
            failures.append((name, result.returncode, result.stderr[-300:]))
    assert failures == []
