"""Several curators at once on the SQLite default: a database file, as `make run` serves it.

Four processes curate through the admin's own views (adds, edits, changes of parent,
drag-and-drop moves, deletes, reverts, recovers and writes that must be refused) while a fifth
imports a CSV file of a few thousand organizations with `manage.py import_registry` and a sixth
reads public pages. Writers must wait for each other instead of failing with "database is
locked", and readers must never be blocked (config/settings/base.py: BEGIN IMMEDIATE, a busy
timeout, WAL). Afterwards the tree must be
valid (a rebuild changes nothing), every successful add present unless it was deleted, every
successful edit kept, and every refused write traceless.

Each process is forked from the test and points its connection at the file, keeping the
settings' OPTIONS, so what is tested is what the settings give every process.
"""

from __future__ import annotations

import io
import multiprocessing
import random
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.db import connection, connections
from django.test import Client
from reversion.models import Version

from registry.models import Organization
from registry.roles import EDITORS

from .conftest import admin_drag, admin_form_data, assert_tree_valid, empty_inlines
from .csvtools import export_text, parse, write

CHANGELIST = "/admin/registry/organization/"
CURATORS = 4
OPERATIONS = ("add", "add", "edit", "reparent", "move", "move", "delete", "revert", "recover")
OPERATIONS += ("refused",)
OPERATIONS_EACH = 75
IMPORT_ROWS = 5000
PUBLIC_URLS = (
    "/",
    "/organizations/cppcc-general-office/",
    "/organizations/npcsc-general-office/",
    "/organizations/cppcc-general-office/chart.svg",
    "/people/liu-qi/",
    "/search/?q=office",
    "/organizations.csv",
    "/posts.csv",
)

pytestmark = pytest.mark.skipif(
    connection.vendor != "sqlite", reason="the SQLite default's own concurrency"
)


# --- The database file and the processes that share it --------------------------------------


def _copy_database(source: sqlite3.Connection, target: sqlite3.Connection) -> None:
    source.backup(target)


def _registry_file(path: Path) -> None:
    """The test database as it is now, copied to a file (what `make run` serves)."""
    connection.ensure_connection()
    target = sqlite3.connect(path)
    try:
        _copy_database(connection.connection, target)
    finally:
        target.close()


def _check_file(path: Path) -> None:
    """Bring the file's final state back into the test database, to check it with the ORM."""
    connection.ensure_connection()
    source = sqlite3.connect(path)
    try:
        _copy_database(source, connection.connection)
    finally:
        source.close()


def _use_file(path: Path, **options) -> None:
    """In a forked process: connect to the file with the settings' OPTIONS (and `options`).

    The parent's in-memory connection is dropped, not closed: it is the parent's."""
    wrapper = connections["default"]
    wrapper.settings_dict = {
        **wrapper.settings_dict,
        "NAME": str(path),
        "OPTIONS": {**wrapper.settings_dict.get("OPTIONS", {}), **options},
    }
    wrapper.connection = None


def _editor_client() -> Client:
    client = Client()
    client.force_login(User.objects.get(username="editor"))
    return client


def _random_pk(rng: random.Random, **filters) -> str | None:
    ids = sorted(
        Organization.objects.filter(**filters)
        .exclude(pk__startswith="imported-")
        .values_list("pk", flat=True)
    )
    return rng.choice(ids) if ids else None


# --- What each process does -----------------------------------------------------------------


def _curator(index: int, path: Path, started, results) -> None:
    """Random admin writes; every outcome is logged for the parent to check."""
    log = {"added": [], "deleted": [], "refused_adds": [], "edits": {}, "refused_edits": []}
    log |= {"ok": 0, "refused": 0, "restored": 0, "errors": []}
    try:
        _use_file(path)
        client = _editor_client()
    except Exception as error:
        log["errors"].append(f"login: {error!r}")
        results.put(log)
        return
    started.set()
    rng = random.Random(index)
    present: set[str] = set()  # this curator's units, as its own successful writes left them
    for number in range(OPERATIONS_EACH):
        operation = rng.choice(OPERATIONS)
        mine = sorted(present)
        gone = sorted(set(log["deleted"]) - present)
        if (operation in ("edit", "reparent", "delete", "revert") and not mine) or (
            operation == "recover" and not gone
        ):
            operation = "add"  # nothing of its own to work on yet
        try:
            if operation == "add":
                new_id = f"w{index}-{number}"
                response = client.post(
                    f"{CHANGELIST}add/",
                    {
                        "id": new_id,
                        "name": f"Unit {index}.{number}",
                        "parent": _random_pk(rng),
                        "kind": "internal-department",
                        **empty_inlines(),
                    },
                )
                if response.status_code == 302:
                    log["added"].append(new_id)
                    present.add(new_id)
                elif response.status_code == 200:  # e.g. its parent was deleted meanwhile
                    log["refused_adds"].append(new_id)
                    log["refused"] += 1
                    continue
                else:
                    raise AssertionError(f"add answered {response.status_code}")
            elif operation == "edit":
                pk = rng.choice(mine)
                url = f"{CHANGELIST}{pk}/change/"
                page = client.get(url)
                assert page.status_code == 200, f"change form answered {page.status_code}"
                value = f"Room {index}.{number}"
                response = client.post(url, admin_form_data(page) | {"location": value})
                if response.status_code == 302:
                    log["edits"][pk] = value
                elif response.status_code == 200:  # a stale parent that is now refused
                    log["refused_edits"].append(value)
                    log["refused"] += 1
                    continue
                else:
                    raise AssertionError(f"edit answered {response.status_code}")
            elif operation == "reparent":  # the change form, with a new parent
                url = f"{CHANGELIST}{rng.choice(mine)}/change/"
                page = client.get(url)
                assert page.status_code == 200, f"change form answered {page.status_code}"
                response = client.post(url, admin_form_data(page) | {"parent": _random_pk(rng)})
                if response.status_code == 200:  # under its own descendant, or stale
                    log["refused"] += 1
                    continue
                assert response.status_code == 302, f"reparent answered {response.status_code}"
            elif operation in ("revert", "recover"):
                if operation == "revert":
                    pk = rng.choice(mine)
                    versions = list(Version.objects.get_for_object_reference(Organization, pk))
                    version = rng.choice(versions)
                    url = f"{CHANGELIST}{pk}/history/{version.pk}/"
                else:
                    pk = rng.choice(gone)
                    version = Version.objects.get_for_object_reference(Organization, pk).first()
                    url = f"{CHANGELIST}recover/{version.pk}/"
                page = client.get(url)  # the preview, rolled back
                if page.status_code == 302:  # refused at once: e.g. its parent was deleted
                    log["refused"] += 1
                    continue
                response = client.post(url, admin_form_data(page))
                if response.status_code != 302 or response["Location"] != CHANGELIST:
                    assert response.status_code in (200, 302), f"{operation}: {response}"
                    log["refused"] += 1  # changed since the preview, or refused
                    continue
                present.add(pk)
                log["edits"][pk] = version.field_dict["location"]
                log["restored"] += 1
            elif operation == "move":
                answer = admin_drag(
                    client,
                    _random_pk(rng, parent__isnull=False),
                    _random_pk(rng, parent__isnull=False),
                    rng.choice(["last-child", "left", "right"]),
                )
                if answer.startswith(b"FAIL"):  # e.g. under its own descendant
                    log["refused"] += 1
                    continue
                assert answer == b"OK, moved.", answer
            elif operation == "delete":
                victim = rng.choice(mine)
                response = client.post(f"{CHANGELIST}{victim}/delete/", {"post": "yes"})
                if response.status_code == 302:
                    log["deleted"].append(victim)
                    present.discard(victim)
                elif response.status_code == 200:  # another curator put a unit under it
                    log["refused"] += 1
                    continue
                else:
                    raise AssertionError(f"delete answered {response.status_code}")
            else:  # writes that are invalid whatever the others do, and must leave no trace
                choice = rng.choice(["delete-office", "own-child", "duplicate-id"])
                if choice == "delete-office":  # it holds posts
                    url = f"{CHANGELIST}cppcc-general-office/delete/"
                    refused = client.post(url, {"post": "yes"}).status_code == 200
                elif choice == "own-child":
                    pk = _random_pk(rng, parent__isnull=False)
                    refused = admin_drag(client, pk, pk, "last-child").startswith(b"FAIL")
                else:
                    data = {"id": "cppcc-general-office", "name": f"Copy {index}.{number}"}
                    data |= {"kind": "internal-department", **empty_inlines()}
                    refused = client.post(f"{CHANGELIST}add/", data).status_code == 200
                assert refused, f"an invalid write ({choice}) was accepted"
                log["refused"] += 1
                continue
            log["ok"] += 1
        except Exception as error:  # reported to the parent, which fails the test
            log["errors"].append(f"{operation}: {error!r}")
    log["present"] = sorted(present)
    connections.close_all()
    results.put(log)


def _importer(path: Path, csv_path: Path, started, results) -> None:
    log = {"errors": [], "began": 0.0, "ended": 0.0}
    try:
        _use_file(path)
        started.wait(timeout=30)  # while the curators are at work
        log["began"] = time.time()
        output = io.StringIO()
        call_command("import_registry", "organizations", str(csv_path), stdout=output)
        log["ended"] = time.time()
        log["summary"] = output.getvalue().strip()
    except BaseException as error:  # CommandError is a SystemExit outside call_command
        log["errors"].append(f"import: {error!r}")
    connections.close_all()
    results.put(log)


def _reader(path: Path, stop, results) -> None:
    log = {"errors": [], "reads": 0, "finished_at": []}
    _use_file(path)
    client = Client()
    while not stop.is_set() and log["reads"] < 2000:
        url = PUBLIC_URLS[log["reads"] % len(PUBLIC_URLS)]
        try:
            response = client.get(url)
            _streamed(response)
            if response.status_code != 200:
                log["errors"].append(f"{url}: {response.status_code}")
            log["finished_at"].append(time.time())
            time.sleep(0.01)  # a reader, not a load generator: the machine has two cores
        except Exception as error:
            log["errors"].append(f"{url}: {error!r}")
        log["reads"] += 1
    connections.close_all()
    results.put(log)


def _streamed(response) -> str:
    if response.streaming:
        return b"".join(response.streaming_content).decode()
    return response.content.decode()


def _import_file(path: Path) -> None:
    """A new body with 30 departments of about 100 units each, in a CSV of IMPORT_ROWS rows."""
    header = list(parse(export_text())[0])
    rows = [{"id": "imported-body", "name": "Imported body", "kind": "national-body"}]
    departments = 30
    for number in range(1, departments + 1):
        rows.append(
            {
                "id": f"imported-{number}",
                "name": f"Department {number}",
                "parent": "imported-body",
                "kind": "internal-department",
            }
        )
    for number in range(departments + 1, IMPORT_ROWS):
        rows.append(
            {
                "id": f"imported-{number}",
                "name": f"Unit {number}",
                "parent": f"imported-{number % departments + 1}",
                "kind": "internal-department",
            }
        )
    path.write_bytes(write([{key: row.get(key, "") for key in header} for row in rows], header))


@pytest.fixture
def registry_file(transactional_db, tmp_path) -> Path:
    call_command("load_seed", verbosity=0)
    editor = User.objects.create_user("editor", is_staff=True)
    editor.groups.add(Group.objects.get(name=EDITORS))
    database = tmp_path / "db.sqlite3"
    _registry_file(database)
    return database


# --- The test ------------------------------------------------------------------------------


def test_curators_an_import_and_readers_at_once_on_a_sqlite_file(registry_file, tmp_path):
    database = registry_file
    csv_path = tmp_path / "organizations.csv"
    _import_file(csv_path)

    context = multiprocessing.get_context("fork")
    results, started, stop = context.Queue(), context.Event(), context.Event()
    begun = time.perf_counter()
    curators = [
        context.Process(target=_curator, args=(i, database, started, results))
        for i in range(CURATORS)
    ]
    importer = context.Process(target=_importer, args=(database, csv_path, started, results))
    reader = context.Process(target=_reader, args=(database, stop, results))
    for process in (*curators, importer):
        process.start()
    reader.start()
    logs = [results.get(timeout=600) for _ in (*curators, importer)]  # a guard against a hang
    stop.set()
    logs.append(results.get(timeout=60))
    elapsed = time.perf_counter() - begun
    for process in (*curators, importer, reader):
        process.join(timeout=60)
        assert process.exitcode == 0

    errors = [error for log in logs for error in log["errors"]]
    assert not errors, f"{len(errors)} failed requests or commands, e.g. {errors[:8]}"
    curator_logs = [log for log in logs if "added" in log]
    (import_log,) = [log for log in logs if "summary" in log]
    (reader_log,) = [log for log in logs if "reads" in log]

    _check_file(database)
    assert_tree_valid()
    present = set(Organization.objects.filter(pk__startswith="w").values_list("pk", flat=True))
    added = {pk for log in curator_logs for pk in log["added"]}
    deleted = {pk for log in curator_logs for pk in log["deleted"]}
    assert present == {pk for log in curator_logs for pk in log["present"]}
    assert not present & {pk for log in curator_logs for pk in log["refused_adds"]}
    for log in curator_logs:
        for pk, location in log["edits"].items():
            if pk in present:
                assert Organization.objects.get(pk=pk).location == location
    refused_edits = [value for log in curator_logs for value in log["refused_edits"]]
    assert not Organization.objects.filter(location__in=refused_edits).exists()
    assert Organization.objects.filter(pk__startswith="imported-").count() == IMPORT_ROWS
    assert Organization.objects.get(pk="cppcc-general-office").posts.count() == 3
    assert Organization.objects.filter(name__startswith="Copy ").count() == 0
    during_import = [
        at for at in reader_log["finished_at"] if import_log["began"] < at < import_log["ended"]
    ]

    writes = sum(log["ok"] + log["refused"] for log in curator_logs)
    assert writes >= CURATORS * OPERATIONS_EACH * 0.8
    print(
        f"\nSQLite stress test: {CURATORS} curators, {writes} admin writes "
        f"({sum(log['ok'] for log in curator_logs)} done, "
        f"{sum(log['refused'] for log in curator_logs)} refused as invalid), "
        f"{len(added)} adds, {len(deleted)} deletes, "
        f"{sum(log['restored'] for log in curator_logs)} reverts and recovers; "
        f"an import of {IMPORT_ROWS} rows "
        f"in {import_log['ended'] - import_log['began']:.1f} s; "
        f"{reader_log['reads']} public reads ({len(during_import)} during the import); "
        f"{elapsed:.1f} s in all; tree valid"
    )


# --- One save behind a long write ------------------------------------------------------------

RESEARCH_OFFICE = f"{CHANGELIST}cppcc-go-research-office/change/"


def _save_behind_a_long_write(path: Path, hold_seconds: float, timeout: int, results) -> None:
    """Open the change form, let another connection take the write lock for `hold_seconds`,
    and save the form meanwhile, with a busy timeout of `timeout` seconds."""
    outcome = {}
    try:
        _use_file(path, timeout=timeout)
        client = _editor_client()
        page = client.get(RESEARCH_OFFICE)
        client.raise_request_exception = False  # what a browser would get
        other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        other.execute("BEGIN IMMEDIATE")  # as a large import holds it

        def release() -> None:
            other.execute("ROLLBACK")
            outcome["released"] = time.perf_counter()

        timer = threading.Timer(hold_seconds, release)
        timer.start()
        response = client.post(RESEARCH_OFFICE, admin_form_data(page) | {"location": "Saved"})
        outcome["answered"] = time.perf_counter()
        timer.join()
        other.close()
        outcome["status"] = response.status_code
        outcome["retry_after"] = response.get("Retry-After")
        outcome["page"] = response.content.decode()
    except Exception as error:
        outcome["error"] = repr(error)
    connections.close_all()
    results.put(outcome)


def _in_a_process(target, *args) -> dict:
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    process = context.Process(target=target, args=(*args, results))
    process.start()
    outcome = results.get(timeout=60)
    process.join(timeout=30)
    assert "error" not in outcome, outcome["error"]
    return outcome


def test_an_admin_save_waits_for_a_long_write_then_is_saved(registry_file):
    outcome = _in_a_process(_save_behind_a_long_write, registry_file, 1.5, 20)
    assert outcome["status"] == 302
    assert outcome["answered"] > outcome["released"]  # it waited for the lock
    _check_file(registry_file)
    assert Organization.objects.get(pk="cppcc-go-research-office").location == "Saved"


def test_a_save_that_waits_longer_than_the_timeout_gets_a_busy_page_and_saves_nothing(
    registry_file,
):
    outcome = _in_a_process(_save_behind_a_long_write, registry_file, 4, 1)
    assert outcome["status"] == 503
    assert outcome["answered"] < outcome["released"]  # it gave up waiting
    assert outcome["retry_after"] == "30"
    assert "<h1>The registry is busy</h1>" in outcome["page"]
    assert "nothing it would have changed was saved" in outcome["page"]
    _check_file(registry_file)
    assert Organization.objects.get(pk="cppcc-go-research-office").location != "Saved"


def _read_behind_a_large_write(path: Path, results) -> None:
    """Fetch public pages while another connection is in the middle of a write too large for
    its page cache (as a large import is): without WAL, SQLite then locks the whole file
    against readers until the writer commits."""
    outcome = {"statuses": []}
    try:
        _use_file(path, timeout=1)
        connections["default"].ensure_connection()  # as the server's first request does
        client = Client(raise_request_exception=False)
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("PRAGMA cache_size = 10")  # pages: the write spills to the file at once
        other.execute("BEGIN IMMEDIATE")
        other.execute(f"UPDATE {Organization._meta.db_table} SET summary = printf('%.9000c', 'x')")
        try:
            for url in PUBLIC_URLS:
                response = client.get(url)
                body = _streamed(response)
                outcome["statuses"].append((url, response.status_code, "x" * 9000 in body))
        finally:
            other.execute("ROLLBACK")
            other.close()
    except Exception as error:
        outcome["error"] = repr(error)
    connections.close_all()
    results.put(outcome)


def test_readers_never_wait_for_a_large_write(registry_file):
    outcome = _in_a_process(_read_behind_a_large_write, registry_file)
    # Every page answers at once, from the last committed state.
    assert outcome["statuses"] == [(url, 200, False) for url in PUBLIC_URLS]
