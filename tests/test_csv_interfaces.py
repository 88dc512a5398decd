"""Where CSV is used: the command line, the public downloads and the admin."""

import codecs
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command

from registry.models import Organization

from .conftest import assert_tree_valid
from .csvtools import export_encoded, export_text, manage_in_a_process, parse, write


def _edited_export(**changes) -> bytes:
    rows = parse(export_text())
    for row in rows:
        if row["id"] in changes:
            row.update(changes[row["id"]])
    return write(rows)


def _line(pk: str) -> int:
    """The file line of `pk`'s row in the export (the header is line 1)."""
    return [row["id"] for row in parse(export_text())].index(pk) + 2


# --- Command line -----------------------------------------------------------------------------


def test_import_command_applies_a_good_file(seeded, tmp_path, capsys):
    path = tmp_path / "organizations.csv"
    path.write_bytes(_edited_export(**{"npcsc-go-secretariat": {"name": "Secretariat Bureau"}}))
    call_command("import_registry", "organizations", str(path))
    assert "1 updated, 52 unchanged" in capsys.readouterr().out
    assert Organization.objects.get(pk="npcsc-go-secretariat").name == "Secretariat Bureau"


def test_import_command_dry_run_writes_nothing(seeded, tmp_path, capsys):
    path = tmp_path / "organizations.csv"
    path.write_bytes(_edited_export(**{"npcsc-go-secretariat": {"name": "Secretariat Bureau"}}))
    call_command("import_registry", "organizations", str(path), "--dry-run")
    assert "Dry run, nothing written" in capsys.readouterr().out
    assert Organization.objects.get(pk="npcsc-go-secretariat").name == "Secretariat"


def test_import_command_rejects_a_bad_file_listing_every_problem(seeded, tmp_path, capsys):
    path = tmp_path / "organizations.csv"
    path.write_bytes(
        _edited_export(
            **{"npcsc-go-secretariat": {"kind": "club"}, "npcsc-go-trade-union": {"name": ""}}
        )
    )
    with pytest.raises(CommandError, match="Rejected: 2 problems in 2 rows; nothing was written"):
        call_command("import_registry", "organizations", str(path))
    errors = capsys.readouterr().err
    assert f"line {_line('npcsc-go-secretariat')}, column kind: “club” is not allowed" in errors
    assert f"line {_line('npcsc-go-trade-union')}, column name: empty; a name is" in errors


def test_import_command_reads_the_named_encoding(seeded, tmp_path):
    path = tmp_path / "organizations.csv"
    text = _edited_export(**{"npcsc-go-secretariat": {"name": "秘书局"}}).decode()
    path.write_bytes(text.encode("gb18030"))
    call_command("import_registry", "organizations", str(path), "--encoding", "gb18030")
    assert Organization.objects.get(pk="npcsc-go-secretariat").name == "秘书局"


def test_import_command_exit_status_is_non_zero_when_rejected(tmp_path):
    """Through a real process, on a database of its own (the status is what scripts see)."""
    manage = manage_in_a_process(tmp_path)

    assert manage("migrate", "-v0").returncode == 0
    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    good.write_text("id,parent,name,kind,rank\r\nunit,,Unit,national-body,\r\n")
    bad.write_text("organization,post,person\r\nghost,Head,\r\n")
    assert manage("import_registry", "organizations", str(good)).returncode == 0
    result = manage("import_registry", "posts", str(bad))
    assert result.returncode == 1
    assert "unknown organization “ghost”" in result.stderr


def test_export_command_writes_a_subtree_to_a_file(seeded, tmp_path):
    path = tmp_path / "out.csv"
    call_command(
        "export_registry",
        "organizations",
        "--root",
        "cppcc-go-research-office",
        "--output",
        str(path),
    )
    ids = [row["id"] for row in parse(path.read_text(encoding="utf-8"))]
    assert ids == [
        "cppcc-go-research-office",
        "cppcc-go-research-office-theoretical-bureau",
        "cppcc-go-research-office-information-bureau",
        "cppcc-go-research-office-office",
    ]


def test_export_command_refuses_an_unknown_root(seeded):
    with pytest.raises(CommandError, match="No organization has the id “nowhere”"):
        call_command("export_registry", "posts", "--root", "nowhere")


# --- Public downloads -------------------------------------------------------------------------


def _download(client, url: str) -> bytes:
    response = client.get(url)
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    return b"".join(response.streaming_content)


def test_public_downloads_give_the_whole_registry(client, seeded):
    assert _download(client, "/organizations.csv").decode() == export_text()
    assert _download(client, "/posts.csv").decode() == export_text("posts")


def test_public_downloads_give_a_subtree(client, seeded):
    data = _download(client, "/posts.csv?root=npcsc").decode()
    assert {row["organization"] for row in parse(data)} == {"npcsc-general-office"}
    response = client.get("/organizations.csv?root=npcsc-general-office")
    assert 'filename="organizations-npcsc-general-office.csv"' in response["Content-Disposition"]


def test_public_download_for_excel_starts_with_a_bom(client, seeded):
    assert _download(client, "/organizations.csv?excel=1").startswith(codecs.BOM_UTF8)


def test_public_download_of_an_unknown_subtree_is_not_found(client, seeded):
    assert client.get("/organizations.csv?root=nowhere").status_code == 404


def test_public_pages_link_the_downloads(client, seeded):
    html = client.get("/organizations/npcsc-general-office/").content.decode()
    assert 'href="/organizations.csv?root=npcsc-general-office"' in html
    assert 'href="/posts.csv?root=npcsc-general-office"' in html
    assert 'href="/organizations.csv"' in client.get("/").content.decode()


# --- Admin ------------------------------------------------------------------------------------

IMPORT_URL = "/admin/registry/organization/import/"


def _upload(editor_client, data: bytes):
    return editor_client.post(
        IMPORT_URL,
        {"format": "0", "import_file": SimpleUploadedFile("registry.csv", data, "text/csv")},
    )


def test_admin_import_preview_names_the_bad_row_and_writes_nothing(editor_client, seeded):
    before = export_text()
    response = _upload(
        editor_client, _edited_export(**{"npcsc-go-secretariat": {"parent": "nowhere"}})
    )
    html = response.content.decode()
    assert f"line {_line('npcsc-go-secretariat')}" in html
    assert "unknown parent “nowhere”" in html
    assert "Confirm import" not in html
    assert export_text() == before


def test_admin_import_previews_then_applies_on_confirm(editor_client, seeded):
    data = _edited_export(**{"npcsc-go-secretariat": {"name": "Secretariat Bureau"}})
    preview = _upload(editor_client, data)
    assert Organization.objects.get(pk="npcsc-go-secretariat").name == "Secretariat"
    summary = preview.context["preview"]
    assert summary.changed == 1 and summary.unchanged == 52
    confirm = preview.context["confirm_form"]
    response = editor_client.post(
        "/admin/registry/organization/process_import/",
        {name: field.value() for name, field in ((n, confirm[n]) for n in confirm.fields)},
    )
    assert response.status_code == 302
    assert Organization.objects.get(pk="npcsc-go-secretariat").name == "Secretariat Bureau"
    assert_tree_valid()


def test_admin_import_reads_gbk_files(editor_client, seeded):
    # Rows in GB2312's characters only: traditional characters (in some seed rows' evidence)
    # take ASCII trail bytes in GBK, so such a file is (rightly) not certainly GB18030.
    data = export_encoded("gbk", {"npcsc-go-secretariat": {"name": "秘书局"}}, rows_in="gb2312")
    preview = _upload(editor_client, data)
    assert preview.context["preview"].changed == 1
    assert "秘书局" not in Organization.objects.values_list("name", flat=True)


def test_admin_import_explains_an_unreadable_file(editor_client, seeded):
    response = _upload(editor_client, b"id,parent\r\n\xff\xfe\xfa\r\n\x81\x30\x81")
    assert "The file cannot be read: The file is not valid utf-8 or gb18030" in (
        response.content.decode()
    )


def test_admin_export_gives_the_csv_contract(editor_client, seeded):
    response = editor_client.post(
        "/admin/registry/organization/export/", {"format": "0", "resource": "0"}
    )
    assert response.status_code == 200
    assert response.content.decode() == export_text()


def test_admin_subtree_action_exports_the_selected_units_with_their_descendants(
    editor_client, seeded
):
    response = editor_client.post(
        "/admin/registry/organization/",
        {
            "action": "export_subtrees",
            "_selected_action": ["cppcc-go-research-office", "npcsc-go-trade-union"],
        },
    )
    ids = [row["id"] for row in parse(b"".join(response.streaming_content).decode())]
    assert ids[0] == "cppcc-go-research-office" and len(ids) == 5
    assert ids[-1] == "npcsc-go-trade-union"


def test_admin_subtree_action_exports_a_unit_selected_with_its_ancestor_once(
    editor_client, seeded
):
    response = editor_client.post(
        "/admin/registry/organization/",
        {
            "action": "export_subtrees",
            "_selected_action": [
                "cppcc-go-research-office-office",
                "cppcc-go-research-office",
                "npcsc-go-trade-union",
                "cppcc-go-research-office-information-bureau",
            ],
        },
    )
    ids = [row["id"] for row in parse(b"".join(response.streaming_content).decode())]
    assert len(ids) == len(set(ids)) == 5
    assert ids[0] == "cppcc-go-research-office" and ids[-1] == "npcsc-go-trade-union"


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(("stream", "shows_progress"), [(_Terminal, True), (io.StringIO, False)])
def test_import_command_shows_progress_only_on_a_terminal(
    seeded, tmp_path, stream, shows_progress
):
    path = tmp_path / "organizations.csv"
    path.write_text(export_text(), encoding="utf-8")
    err = stream()
    call_command("import_registry", "organizations", str(path), stderr=err, stdout=io.StringIO())
    assert ("checking [" in err.getvalue()) is shows_progress
