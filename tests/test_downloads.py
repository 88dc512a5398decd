"""The bulk downloads over HTTP, as a data user fetches them: the Popolo dump holds the API's
own documents, the zip the site's CSV files, the manifest and SHA256SUMS describe what is
served; a write makes the next request serve a new build; one builder at a time; memory that
does not grow with the registry."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import subprocess
import threading
import tracemalloc
import zipfile

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client, RequestFactory

from registry import downloads, exports
from registry.models import (
    ChangeEvent,
    ChangeStamp,
    Holding,
    Kind,
    Organization,
    Person,
    Placement,
    Post,
)
from registry.services import organization_add
from tests.conftest import assert_valid
from tests.transactions import rolled_back

NAMES = ("registry.popolo.json.gz", "registry.csv.zip", "manifest.json", "SHA256SUMS")


@pytest.fixture(autouse=True)
def downloads_root(settings, tmp_path):
    settings.DOWNLOADS_ROOT = tmp_path / "downloads"
    return settings.DOWNLOADS_ROOT


def fetch(client, name: str, **headers) -> tuple:
    response = client.get(f"/downloads/{name}", headers=headers)
    body = b"".join(response.streaming_content) if response.status_code == 200 else b""
    return response, body


def popolo_dump(client) -> dict:
    response, body = fetch(client, "registry.popolo.json.gz")
    assert response.status_code == 200
    return json.loads(gzip.decompress(body))


def manifest(client) -> dict:
    return json.loads(fetch(client, "manifest.json")[1])


def every_page(client, url: str) -> list[dict]:
    found = []
    while url:
        page = client.get(url).json()
        found += page["results"]
        url = page["next"]
    return found


def add_unit(pk: str) -> Organization:
    kind = Kind.objects.get(code="internal-department")
    parent = Organization.objects.get(pk="cppcc-general-office")
    return organization_add(organization=Organization(id=pk, name=pk, parent=parent, kind=kind))


def test_the_popolo_dump_holds_the_api_documents_with_organizations_in_tree_order(
    client, seeded, popolo
):
    dump = popolo_dump(client)
    assert set(dump) == {"meta", "organizations", "persons", "posts", "memberships"}
    tree_order = list(Organization.objects.in_tree_order().values_list("pk", flat=True))
    assert [document["id"] for document in dump["organizations"]] == tree_order
    api = every_page(client, "/api/v1/organizations/?limit=1000")
    assert sorted(dump["organizations"], key=lambda d: d["id"]) == sorted(
        api, key=lambda d: d["id"]
    )
    for key in ("persons", "posts", "memberships"):
        assert dump[key] == every_page(client, f"/api/v1/{key}/?limit=1000"), key
    for key, schema in (
        ("organizations", "organization"),
        ("persons", "person"),
        ("posts", "post"),
        ("memberships", "membership"),
    ):
        assert dump[key]
        for document in dump[key]:
            assert_valid(popolo[schema], document)


def test_the_dump_addresses_name_the_host_it_was_asked_from(client, seeded):
    here = popolo_dump(client)
    there = json.loads(
        gzip.decompress(
            b"".join(
                client.get(
                    "/downloads/registry.popolo.json.gz", headers={"host": "localhost"}
                ).streaming_content
            )
        )
    )
    assert here["organizations"][0]["url"].startswith("http://testserver/api/v1/")
    assert there["organizations"][0]["url"].startswith("http://localhost/api/v1/")


def test_the_zip_holds_the_site_csv_downloads_byte_for_byte(client, seeded):
    Placement.objects.create(
        organization_id="cppcc-go-research-office",
        parent_id="cppcc-national-committee",
        start="1990",
        end="1995",
    )
    archive = zipfile.ZipFile(io.BytesIO(fetch(client, "registry.csv.zip")[1]))
    names = ["organizations.csv", "posts.csv", "placements.csv", "events.csv"]
    assert archive.namelist() == names
    for name in names:
        site = b"".join(client.get(f"/{name}").streaming_content)
        assert archive.read(name) == site, name
        assert site.count(b"\r\n") > 1, name


def test_the_manifest_counts_the_records_and_checksums_the_files_served(client, seeded):
    described = manifest(client)
    stamp = ChangeStamp.objects.get()
    assert described["registry"]["version"] == stamp.version
    assert described["counts"] == {
        "organizations": Organization.objects.count(),
        "persons": Person.objects.count(),
        "posts": Post.objects.count(),
        "memberships": Holding.objects.count(),
        "placements": Placement.objects.count(),
        "events": ChangeEvent.objects.count(),
    }
    assert [f["name"] for f in described["files"]] == list(NAMES[:2])
    for file in described["files"]:
        response, body = fetch(client, file["name"])
        assert file["url"] == f"http://testserver/downloads/{file['name']}"
        assert file["size"] == len(body) == int(response["Content-Length"])
        assert file["sha256"] == hashlib.sha256(body).hexdigest()
    assert popolo_dump(client)["meta"]["registry"] == described["registry"]


def test_sha256sums_checks_the_files_with_sha256sum(client, seeded, tmp_path):
    for name in NAMES:
        (tmp_path / name).write_bytes(fetch(client, name)[1])
    checked = subprocess.run(
        ["sha256sum", "--check", "--strict", "SHA256SUMS"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.count(": OK") == 3
    (tmp_path / "manifest.json").write_bytes(b"{}")
    assert subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=tmp_path).returncode != 0


@pytest.mark.parametrize(
    "name, media_type, disposition",
    [
        ("registry.popolo.json.gz", "application/gzip", "attachment"),
        ("registry.csv.zip", "application/zip", "attachment"),
        ("manifest.json", "application/json", "inline"),
        ("SHA256SUMS", "text/plain; charset=utf-8", "inline"),
    ],
)
def test_each_file_has_its_type_name_etag_and_public_cache_control(
    client, seeded, name, media_type, disposition
):
    response, body = fetch(client, name)
    assert response.status_code == 200
    assert response["Content-Type"] == media_type
    assert not response.has_header("Content-Encoding")
    assert response["Content-Disposition"] == f'{disposition}; filename="{name}"'
    assert response["Cache-Control"] == "public, max-age=0, s-maxage=60"
    version = ChangeStamp.objects.get().version
    assert response["ETag"] == f'"{version}-{hashlib.sha256(body).hexdigest()[:32]}"'
    again = client.get(f"/downloads/{name}", headers={"if-none-match": response["ETag"]})
    assert again.status_code == 304
    assert again["ETag"] == response["ETag"]


def test_a_write_makes_the_next_request_serve_a_new_build(client, seeded, downloads_root):
    before = manifest(client)
    old, _ = fetch(client, "registry.popolo.json.gz")
    old_builds = set(downloads_root.iterdir())
    add_unit("new-unit")
    after = manifest(client)
    assert after["registry"]["version"] > before["registry"]["version"]
    assert after["counts"]["organizations"] == before["counts"]["organizations"] + 1
    response, body = fetch(client, "registry.popolo.json.gz", **{"if-none-match": old["ETag"]})
    assert response.status_code == 200
    assert response["ETag"] != old["ETag"]
    assert "new-unit" in [d["id"] for d in json.loads(gzip.decompress(body))["organizations"]]
    # The older build is gone once the newer one exists.
    assert not old_builds & set(downloads_root.iterdir()) - {downloads_root / ".lock"}


def test_head_answers_the_get_headers_without_reading_the_file(client, seeded):
    get, body = fetch(client, "registry.csv.zip")
    # Through the view as a server calls it: the test client drops a HEAD's body itself.
    head = downloads.download(
        RequestFactory().head("/downloads/registry.csv.zip"), name="registry.csv.zip"
    )
    assert head.status_code == 200
    assert b"".join(head.streaming_content) == b""
    assert head["Content-Length"] == get["Content-Length"] == str(len(body))
    assert head["ETag"] == get["ETag"]
    head.close()


def test_only_the_four_files_and_only_reading_methods(client, seeded, downloads_root):
    assert client.get("/downloads/registry.json").status_code == 404
    assert client.post("/downloads/manifest.json").status_code == 405
    assert not downloads_root.exists()  # nothing was built for either


def test_the_command_builds_ahead_and_requests_serve_that_build(client, seeded, monkeypatch):
    call_command("build_downloads", origin="http://testserver", verbosity=0)

    def no_second_build(*args):
        raise AssertionError("built again")

    monkeypatch.setattr(downloads, "_write_build", no_second_build)
    assert manifest(client)["counts"]["organizations"] == Organization.objects.count()
    with pytest.raises(CommandError, match="ALLOWED_HOSTS"):
        call_command("build_downloads", origin="https://elsewhere.example", verbosity=0)
    with pytest.raises(CommandError, match="Not an origin"):
        call_command("build_downloads", origin="testserver/downloads", verbosity=0)


def test_the_builder_lock_lets_one_builder_in_at_a_time(downloads_root):
    inside, overlaps = [], []
    start = threading.Barrier(4)

    def builder():
        start.wait()
        with downloads.builder_lock(downloads_root):
            inside.append(1)
            overlaps.append(len(inside))
            threading.Event().wait(0.05)
            inside.pop()

    threads = [threading.Thread(target=builder) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert overlaps == [1, 1, 1, 1]


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_for_an_unbuilt_version_make_one_build(monkeypatch):
    call_command("load_seed", verbosity=0)
    writes = []
    write = downloads._write_build

    def counted(*args):
        writes.append(args[0])
        return write(*args)

    monkeypatch.setattr(downloads, "_write_build", counted)
    start = threading.Barrier(4)
    etags = []

    def reader():
        try:
            start.wait()
            response = Client().get("/downloads/manifest.json")
            etags.append((response.status_code, response["ETag"]))
            response.close()
        finally:
            connection.close()

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(writes) == 1
    assert len(etags) == 4 and len(set(etags)) == 1 and etags[0][0] == 200


def _build_peak(organizations: int) -> int:
    """The peak of memory allocated while building the downloads of a synthetic registry of
    `organizations` (generated, then rolled back)."""
    with rolled_back():
        call_command(
            "generate_registry",
            organizations=organizations,
            people=organizations // 10,
            verbosity=0,
        )
        assert Organization.objects.count() == organizations
        # Once untraced: what the first build of a process reads once (code, translations).
        downloads.build("http://warm-up")
        tracemalloc.start()
        try:
            downloads.build("http://testserver")
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()


def test_building_takes_no_more_memory_for_a_registry_four_times_larger(
    db, monkeypatch, downloads_root
):
    # Pages smaller than the registries, so that both sizes are many pages.
    monkeypatch.setattr(downloads, "CHUNK", 200)
    monkeypatch.setattr(exports, "CHUNK", 200)
    small = _build_peak(1000)
    large = _build_peak(4000)
    assert large <= 1.5 * small, (small, large)
