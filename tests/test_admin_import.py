"""The admin's CSV import, as a curator uses it: upload (a preview), then confirm.

Every problem is shown as text in its row, in file order; the preview leads with counts and
stays bounded for huge files; confirm imports only the upload its own preview stored for that
user, and only if the registry still gives the outcome the preview showed.
"""

from __future__ import annotations

import io
import os
import re
import tempfile
import time
from pathlib import Path

import pytest
from django.contrib.auth.models import Group, User
from django.core.exceptions import ImproperlyConfigured
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.test import Client

from registry.models import Organization, Person
from registry.roles import EDITORS
from registry.services import organization_delete

from .conftest import assert_tree_valid
from .csvtools import export_text, parse, write

IMPORT_URL = "/admin/registry/organization/import/"
CONFIRM_URL = "/admin/registry/organization/process_import/"
POSTS_IMPORT_URL = "/admin/registry/post/import/"
HEADER = ["id", "parent", "name", "kind", "rank"]


@pytest.fixture(autouse=True)
def uploads(settings, tmp_path) -> Path:
    """Each test keeps its uploads in a folder of its own."""
    folder = tmp_path / "uploads"
    folder.mkdir()
    settings.REGISTRY_IMPORT_UPLOADS = str(folder)
    return folder


def _upload(client, data: bytes, url: str = IMPORT_URL, name: str = "registry.csv"):
    return client.post(
        url, {"format": "0", "import_file": SimpleUploadedFile(name, data, "text/csv")}
    )


def _confirm_data(preview) -> dict:
    form = preview.context["confirm_form"]
    return {name: form[name].value() for name in form.fields}


def _edited_export(**changes) -> bytes:
    rows = parse(export_text())
    for row in rows:
        if row["id"] in changes:
            row.update(changes[row["id"]])
    return write(rows)


def _line(pk: str) -> int:
    return [row["id"] for row in parse(export_text())].index(pk) + 2


def _rows_html(html: str) -> dict[str, str]:
    """The preview table's rows: the text of each <tr>, by its first cell ("line N")."""
    rows = {}
    for row in re.findall(r"<tr class=\"[a-z]+\">(.*?)</tr>", html, re.S):
        first = re.search(r"<td>(.*?)</td>", row, re.S).group(1).strip()
        rows[first] = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row))
    return rows


def _other_editor() -> Client:
    user = User.objects.create_user("other", password="a-long-test-password", is_staff=True)
    user.groups.add(Group.objects.get(name=EDITORS))
    client = Client()
    client.force_login(user)
    return client


# --- The preview ----------------------------------------------------------------------------


def test_preview_shows_each_problem_as_text_in_its_row_with_its_identifier(editor_client, seeded):
    data = _edited_export(
        **{
            "npcsc-go-secretariat": {"kind": "club"},
            "cppcc-go-research-office": {"name": ""},
        }
    )
    html = _upload(editor_client, data).content.decode()
    rows = _rows_html(html)
    secretariat = rows[f"line {_line('npcsc-go-secretariat')}"]
    assert "npcsc-go-secretariat" in secretariat
    assert "column kind: “club” is not allowed" in secretariat
    research = rows[f"line {_line('cppcc-go-research-office')}"]
    assert "cppcc-go-research-office" in research and "column name: empty" in research
    # Not in a tooltip that only shows on hover, not in an attribute.
    assert "validation-error-container" not in html
    assert not re.search(r"title=\"[^\"]*not allowed", html)
    assert "Confirm import" not in html


def test_preview_lists_problems_in_file_order(editor_client, db):
    # A tree problem (unknown parent) on line 2; a row problem (kind) on line 3. The pipeline
    # finds row problems before tree problems; the curator reads the file top to bottom.
    data = write(
        [
            {"id": "unit-a", "parent": "nowhere", "name": "A", "kind": "national-body"},
            {"id": "unit-b", "parent": "", "name": "B", "kind": "club"},
        ],
        HEADER,
    )
    html = _upload(editor_client, data).content.decode()
    assert list(_rows_html(html)) == ["line 2", "line 3"]
    assert "unknown parent “nowhere”" in _rows_html(html)["line 2"]


def test_preview_leads_with_counts_and_shows_old_and_new_values(editor_client, seeded):
    rows = parse(export_text())
    for row in rows:
        if row["id"] == "npcsc-go-secretariat":
            row["name"] = "Secretariat Bureau"
    rows.append(
        {**rows[0], "id": "npcsc-go-new-office", "parent": rows[0]["id"], "name": "New Office"}
    )
    rows[-1].update(order="", other_names="", sources="", predecessors="")
    response = _upload(editor_client, write(rows))
    html = response.content.decode()
    summary = html[html.index("import-summary") : html.index("</section>")]
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", summary))
    assert "1 new" in text and "1 changed" in text and "52 unchanged" in text
    assert "0 rejected" in text
    # The summary comes before the rows.
    assert html.index("import-summary") < html.index("npcsc-go-secretariat")
    changed = _rows_html(html)[f"line {_line('npcsc-go-secretariat')}"]
    assert "name" in changed and "Secretariat → Secretariat Bureau" in changed
    assert "<del>Secretariat</del> → <ins>Secretariat Bureau</ins>" in html
    assert "New Office" in _rows_html(html)[f"line {len(rows) + 1}"]
    # Unchanged rows are folded away, not in the table.
    assert '<details class="import-unchanged">' in html
    assert "52 unchanged rows" in html
    assert f"line {_line('cppcc-go-research-office')}" not in _rows_html(html)


def test_preview_of_posts_shows_old_and_new_values(editor_client, seeded):
    rows = parse(export_text("posts"))
    person = next(row for row in rows if row["person"])
    old_name = person["person_name"]
    for row in rows:
        if row["person"] == person["person"]:
            row["person_name"] = "Renamed Person"
    html = _upload(editor_client, write(rows), POSTS_IMPORT_URL).content.decode()
    assert f"<del>{old_name}</del> → <ins>Renamed Person</ins>" in html
    assert "Confirm import" in html
    assert Person.objects.get(pk=person["person"]).name == old_name


def test_posts_confirm_applies_what_the_preview_showed(editor_client, seeded):
    rows = parse(export_text("posts"))
    person = next(row for row in rows if row["person"])
    for row in rows:
        if row["person"] == person["person"]:
            row["person_name"] = "Renamed Person"
    rows.append({**person, "person": "new-person-e2e", "person_name": "New Person"})
    preview = _upload(editor_client, write(rows), POSTS_IMPORT_URL)
    assert preview.context["preview"].new == 1
    response = editor_client.post("/admin/registry/post/process_import/", _confirm_data(preview))
    assert response.status_code == 302
    assert Person.objects.get(pk=person["person"]).name == "Renamed Person"
    assert Person.objects.get(pk="new-person-e2e").name == "New Person"


def test_preview_of_posts_shows_problems_in_their_rows(editor_client, seeded):
    data = write([{"organization": "ghost", "post": "Head", "person": ""}])
    html = _upload(editor_client, data, POSTS_IMPORT_URL).content.decode()
    row = _rows_html(html)["line 2"]
    assert "ghost / Head /" in row and "unknown organization “ghost”" in row


def test_a_file_of_twenty_thousand_bad_rows_gives_a_bounded_page(editor_client, db):
    rows = [
        {
            "id": f"unit-{n}",
            "parent": "",
            "name": f"Unit {n} of the Office for Testing",
            "kind": "club",
        }
        for n in range(20000)
    ]
    data = write(rows, HEADER)
    assert len(data) > 900_000
    response = _upload(editor_client, data)
    html = response.content.decode()
    assert len(response.content) < 250_000
    assert "<strong>20000</strong> rejected rows" in html
    assert "… and 19800 more rejected rows" in html
    shown = _rows_html(html)
    assert len(shown) == 200 and "line 2" in shown and "line 201" in shown
    assert not Organization.objects.exists()


def test_problems_quoting_huge_cells_give_a_bounded_page(editor_client, db):
    rows = [
        {"id": f"unit-{n}", "parent": "p" * 20000, "name": "N", "kind": "k" * 20000}
        for n in range(300)
    ]
    response = _upload(editor_client, write(rows, HEADER))
    html = response.content.decode()
    assert len(response.content) < 600_000
    assert "k" * 1000 not in html and "p" * 1000 not in html  # quoted by their start only
    assert html.count("is not allowed") == 200

    # 5,000 unknown columns, and the required ones missing: 5,001 problems.
    header = ",".join(f"column-{n}-" + "x" * 300 for n in range(5000)).encode() + b"\r\n"
    response = _upload(editor_client, header)
    assert len(response.content) < 250_000
    assert "… and 4801 more problems with the file" in response.content.decode()


def test_problems_quoting_lone_surrogates_are_shown(editor_client, seeded):
    rows = [
        {
            "id": "unit-a",
            "name": "A",
            "kind": "national-body",
            "other_names": '[{"type": "\\ud800", "name": "x"}]',
            "predecessors": '[{"id": "\\udfff"}]',
        }
    ]
    response = _upload(editor_client, write(rows, [*HEADER, "other_names", "predecessors"]))
    assert response.status_code == 200
    row = _rows_html(response.content.decode())["line 2"]
    assert "unit-a" in row and "column other_names" in row


def test_a_large_valid_file_gives_a_bounded_preview(editor_client, db):
    rows = [
        {"id": f"unit-{n}", "parent": "", "name": f"Unit {n}", "kind": "national-body"}
        for n in range(20000)
    ]
    response = _upload(editor_client, write(rows, HEADER))
    html = response.content.decode()
    assert len(response.content) < 250_000
    assert "20000</strong> new" in html
    assert "… and 19800 more new or changed rows" in html
    assert "Confirm import" in html
    assert not Organization.objects.exists()


# --- Confirm re-checks the registry -----------------------------------------------------------


def _file_with_child_of(parent: str) -> bytes:
    return write(
        [{"id": "child-unit", "parent": parent, "name": "Child", "kind": "internal-department"}],
        HEADER,
    )


def test_confirm_after_the_parent_was_deleted_imports_nothing_and_shows_the_new_preview(
    editor_client, seeded, make_org, uploads
):
    parent = make_org("Short-lived Office", Organization.objects.get(pk="npcsc-general-office"))
    parent_id = parent.pk
    preview = _upload(editor_client, _file_with_child_of(parent_id))
    assert preview.context["preview"].new == 1
    organization_delete(organization=parent)  # another curator, between preview and confirm

    response = editor_client.post(CONFIRM_URL, _confirm_data(preview))
    html = response.content.decode()
    assert response.status_code == 409
    assert "The registry changed since your preview, so nothing was imported" in html
    assert f"unknown parent “{parent_id}”" in _rows_html(html)["line 2"]
    assert "Confirm import" not in html
    assert not Organization.objects.filter(pk="child-unit").exists()
    assert list(uploads.iterdir()) == []  # a rejected file is not kept
    assert_tree_valid()


def test_confirm_after_another_change_offers_the_new_preview_to_confirm(editor_client, seeded):
    data = _edited_export(**{"npcsc-go-secretariat": {"name": "Secretariat Bureau"}})
    preview = _upload(editor_client, data)
    assert preview.context["preview"].changed == 1
    # Another curator renames a different unit; the file would now change it back.
    Organization.objects.filter(pk="npcsc-go-trade-union").update(name="Union (renamed)")

    response = editor_client.post(CONFIRM_URL, _confirm_data(preview))
    assert response.status_code == 409
    assert response.context["preview"].changed == 2
    assert (
        "Union (renamed) → "
        in _rows_html(response.content.decode())[f"line {_line('npcsc-go-trade-union')}"]
    )
    assert Organization.objects.get(pk="npcsc-go-secretariat").name == "Secretariat"

    again = editor_client.post(CONFIRM_URL, _confirm_data(response))
    assert again.status_code == 302
    assert Organization.objects.get(pk="npcsc-go-secretariat").name == "Secretariat Bureau"
    assert Organization.objects.get(pk="npcsc-go-trade-union").name != "Union (renamed)"


def test_confirm_after_another_curator_edited_the_same_row_imports_nothing(editor_client, seeded):
    data = _edited_export(**{"npcsc-go-secretariat": {"name": "Secretariat Bureau"}})
    preview = _upload(editor_client, data)
    assert "<del>Secretariat</del>" in preview.content.decode()
    # The outcome stays "update: name", but confirming would overwrite an edit the preview
    # did not show.
    Organization.objects.filter(pk="npcsc-go-secretariat").update(name="General Secretariat")

    response = editor_client.post(CONFIRM_URL, _confirm_data(preview))
    assert response.status_code == 409
    assert "<del>General Secretariat</del> → <ins>Secretariat Bureau</ins>" in (
        response.content.decode()
    )
    assert Organization.objects.get(pk="npcsc-go-secretariat").name == "General Secretariat"
    again = editor_client.post(CONFIRM_URL, _confirm_data(response))
    assert again.status_code == 302
    assert Organization.objects.get(pk="npcsc-go-secretariat").name == "Secretariat Bureau"


def test_confirm_after_another_curator_edited_a_holder_of_the_file_imports_nothing(
    editor_client, seeded
):
    rows = parse(export_text("posts"))
    person = next(row for row in rows if row["person"])
    for row in rows:
        if row["person"] == person["person"]:
            row["person_name"] = "Renamed Person"
    preview = _upload(editor_client, write(rows), POSTS_IMPORT_URL)
    Person.objects.filter(pk=person["person"]).update(name="Renamed Elsewhere")
    response = editor_client.post("/admin/registry/post/process_import/", _confirm_data(preview))
    assert response.status_code == 409
    assert Person.objects.get(pk=person["person"]).name == "Renamed Elsewhere"


def test_a_file_that_changes_nothing_offers_no_confirm(editor_client, seeded, uploads):
    response = _upload(editor_client, export_text().encode())
    html = response.content.decode()
    assert "Nothing in this file changes the registry." in html
    assert "Confirm import" not in html
    assert list(uploads.iterdir()) == []


def test_confirm_imports_and_says_what_it_did(editor_client, seeded, uploads):
    data = _edited_export(**{"npcsc-go-secretariat": {"name": "Secretariat Bureau"}})
    preview = _upload(editor_client, data)
    assert len(list(uploads.glob("*.csv"))) == 1
    assert all(path.stat().st_mode & 0o077 == 0 for path in uploads.iterdir())  # private
    response = editor_client.post(CONFIRM_URL, _confirm_data(preview), follow=True)
    assert "Import finished: registry.csv: 0 new, 1 updated, 52 unchanged" in (
        response.content.decode()
    )
    assert list(uploads.iterdir()) == []
    # The same confirm again finds no upload: nothing is imported twice.
    again = editor_client.post(CONFIRM_URL, _confirm_data(preview))
    assert again.status_code == 400


# --- Confirm accepts only the user's own upload ---------------------------------------------


def _refused(response) -> None:
    assert response.status_code == 400
    assert "This is not an upload your preview stored" in response.content.decode()


def _new_unit_file() -> bytes:
    return write(
        [{"id": "forged-unit", "parent": "", "name": "Forged", "kind": "national-body"}],
        HEADER,
    )


def test_confirm_refuses_another_users_upload(editor_client, seeded, uploads):
    preview = _upload(editor_client, _new_unit_file())
    stored = list(uploads.iterdir())
    response = _other_editor().post(CONFIRM_URL, _confirm_data(preview))
    _refused(response)
    assert list(uploads.iterdir()) == stored
    assert not Organization.objects.filter(pk="forged-unit").exists()


@pytest.mark.parametrize("kind", ["name", "absolute", "parent"])
def test_confirm_refuses_a_file_of_the_temp_folder(editor_client, seeded, uploads, kind):
    with tempfile.NamedTemporaryFile(suffix=".csv", delete=False) as planted:
        planted.write(_new_unit_file())
    path = Path(planted.name)
    try:
        name = {
            "name": path.name,
            "absolute": str(path),
            "parent": os.path.relpath(path, uploads),  # ../../…
        }[kind]
        response = editor_client.post(
            CONFIRM_URL,
            {"import_file_name": name, "original_file_name": "x.csv", "format": "0"},
        )
        _refused(response)
        assert path.exists()
        assert not Organization.objects.filter(pk="forged-unit").exists()
    finally:
        path.unlink()


def test_confirm_refuses_an_upload_name_its_session_did_not_record(editor_client, seeded, uploads):
    stranger = uploads / ("0123456789abcdef" * 2 + ".csv")
    stranger.write_bytes(_new_unit_file())
    response = editor_client.post(
        CONFIRM_URL,
        {"import_file_name": stranger.stem, "original_file_name": "x.csv", "format": "0"},
    )
    _refused(response)
    assert stranger.exists()
    assert not Organization.objects.filter(pk="forged-unit").exists()


def test_confirm_refuses_an_upload_of_another_model(editor_client, seeded):
    preview = _upload(editor_client, _new_unit_file())
    response = editor_client.post("/admin/registry/post/process_import/", _confirm_data(preview))
    _refused(response)


# --- Uploads never confirmed are removed ------------------------------------------------------


def test_a_new_preview_sweeps_uploads_older_than_a_day(editor_client, seeded, uploads):
    old = uploads / ("a" * 32 + ".csv")
    recent = uploads / ("b" * 32 + ".csv")
    unrelated = uploads / "notes.txt"
    for path in (old, recent, unrelated):
        path.write_bytes(b"id\r\n")
    two_days_ago = time.time() - 2 * 24 * 3600
    os.utime(old, (two_days_ago, two_days_ago))
    os.utime(unrelated, (two_days_ago, two_days_ago))
    os.utime(recent, (time.time() - 3600, time.time() - 3600))

    _upload(editor_client, _new_unit_file())
    assert not old.exists()
    assert recent.exists() and unrelated.exists()


def test_only_the_latest_five_previews_of_a_session_wait_for_their_confirm(
    editor_client, seeded, uploads
):
    previews = [_upload(editor_client, _new_unit_file()) for _ in range(7)]
    assert len(list(uploads.glob("*.csv"))) == 5
    _refused(editor_client.post(CONFIRM_URL, _confirm_data(previews[1])))
    response = editor_client.post(CONFIRM_URL, _confirm_data(previews[2]))
    assert response.status_code == 302


def test_the_sweep_command_removes_unconfirmed_uploads(editor_client, seeded, uploads):
    _upload(editor_client, _new_unit_file())
    stored = sorted(uploads.iterdir())
    assert [path.suffix for path in stored] == [".csv", ".json"]
    hour_ago = time.time() - 3600
    for path in stored:
        os.utime(path, (hour_ago, hour_ago))
    out = io.StringIO()
    call_command("sweep_import_uploads", "--hours", "2", stdout=out)
    assert "Removed 0 " in out.getvalue() and sorted(uploads.iterdir()) == stored
    call_command("sweep_import_uploads", "--hours", "0.5", stdout=out)
    assert "Removed 2 " in out.getvalue() and list(uploads.iterdir()) == []


def test_confirm_of_a_swept_upload_is_refused(editor_client, seeded, uploads):
    preview = _upload(editor_client, _new_unit_file())
    for stored in uploads.iterdir():
        stored.unlink()  # what the sweep does to an upload left for a day
    _refused(editor_client.post(CONFIRM_URL, _confirm_data(preview)))
    assert not Organization.objects.filter(pk="forged-unit").exists()


def test_preview_of_a_move_shows_the_old_and_new_parent(editor_client, seeded):
    data = _edited_export(**{"npcsc-go-trade-union": {"parent": "npcsc-go-secretariat"}})
    html = _upload(editor_client, data).content.decode()
    row = _rows_html(html)[f"line {_line('npcsc-go-trade-union')}"]
    assert "parent npcsc-general-office → npcsc-go-secretariat" in row


def test_uploads_are_never_kept_in_a_folder_others_may_write_to(settings, tmp_path):
    folder = tmp_path / "open"
    folder.mkdir()
    folder.chmod(0o777)
    settings.REGISTRY_IMPORT_UPLOADS = str(folder)
    from registry.resources import upload_save  # here: the module is what this test is about

    with pytest.raises(ImproperlyConfigured, match="no one else may write to"):
        upload_save(b"id\r\n")
    assert list(folder.iterdir()) == []


@pytest.mark.parametrize("dataset", ["organizations", "posts"])
def test_the_fingerprint_of_stored_rows_is_the_same_read_by_ids_or_by_whole_tables(
    seeded, monkeypatch, dataset
):
    from registry import resources

    keys = sorted(Organization.objects.values_list("pk", flat=True))[::3]
    by_ids = resources.registry_state_digest(dataset, keys)
    monkeypatch.setattr(resources, "WHOLE_TABLE_FROM", 0)
    assert resources.registry_state_digest(dataset, keys) == by_ids
    Organization.objects.filter(pk=keys[0]).update(name="Changed")
    Person.objects.filter(holdings__post__organization__in=keys).update(name="Changed")
    assert resources.registry_state_digest(dataset, keys) != by_ids
