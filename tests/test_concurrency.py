"""Concurrent curators must not corrupt the tree (PostgreSQL: the production database).

Eight processes make random adds, moves, reorders, edits that change a parent, deletes (one at
a time and several together), reverts and recovers at the same time, some of them meant to
fail, through the very service functions the admin calls. Afterwards the tree must be valid (a
rebuild changes nothing), every successful add must be there unless it was successfully
deleted (and not recovered), and no failed write may leave a trace.
"""

from __future__ import annotations

import multiprocessing
import random
import time

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import connection, connections
from reversion.models import Version

from registry import services
from registry.history import history_recover, history_revert
from registry.models import Organization

from .conftest import assert_tree_valid

PROCESSES = 8
# 960 operations in all (1,600 took 250 s of a CI suite). Without the tree lock, 8 processes
# left about a fifth of their rows wrong (django-mptt #236): a few dozen operations show it.
OPERATIONS_EACH = 120

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="concurrent tree writes are a PostgreSQL matter: SQLite admits one writer at a time",
)


def _random_node(rng: random.Random, **filters) -> Organization | None:
    ids = list(Organization.objects.filter(**filters).values_list("pk", flat=True))
    return Organization.objects.filter(pk=rng.choice(ids)).first() if ids else None


def _worker(index: int, results) -> None:
    connections.close_all()  # never share the parent's connection
    rng = random.Random(index)
    log = {"added": [], "deleted": [], "failed_adds": [], "ok": 0, "failed": 0, "errors": []}
    log["restored"] = 0
    present: set[str] = set()  # this worker's units, as its own successful writes left them
    operations = ["add", "add", "move", "reorder", "reparent", "delete", "bulk", "revert"]
    operations += ["recover", "bad"]
    for number in range(OPERATIONS_EACH):
        operation = rng.choice(operations)
        gone = sorted(set(log["deleted"]) - present)
        if (operation in ("delete", "bulk", "revert") and not present) or (
            operation == "recover" and not gone
        ):
            operation = "add"  # nothing of its own to work on yet
        try:
            if operation == "add":
                new_id = f"w{index}-{number}"
                log["failed_adds"].append(new_id)
                services.organization_add(
                    organization=Organization(
                        parent=_random_node(rng),
                        id=new_id,
                        name=f"Unit {index}.{number}",
                        kind_id="internal-department",
                    )
                )
                log["failed_adds"].pop()
                log["added"].append(new_id)
                present.add(new_id)
            elif operation == "move":
                node = _random_node(rng, parent__isnull=False)
                target = _random_node(rng, parent__isnull=False)
                services.organization_move(
                    organization=node, target=target, position=rng.choice(services.MOVE_POSITIONS)
                )
            elif operation == "reorder":
                node = _random_node(rng, parent__isnull=False)
                sibling = _random_node(rng, parent=node.parent_id)
                services.organization_move(
                    organization=node, target=sibling, position=rng.choice(["left", "right"])
                )
            elif operation == "reparent":  # the admin's change form, with a new parent
                node = _random_node(rng, parent__isnull=False)
                node.parent = _random_node(rng)
                node.location = f"Room {index}.{number}"
                services.organization_update(organization=node)
            elif operation in ("delete", "bulk"):
                victims = rng.sample(sorted(present), min(len(present), 1 + (operation == "bulk")))
                units = [Organization.objects.get(pk=pk) for pk in victims]
                if operation == "bulk":
                    services.organization_delete_many(organizations=units)
                else:
                    services.organization_delete(organization=units[0])
                log["deleted"].extend(victims)
                present.difference_update(victims)
            elif operation == "revert":
                versions = Version.objects.get_for_object_reference(
                    Organization, rng.choice(sorted(present))
                )
                history_revert(version=rng.choice(list(versions)))
                log["restored"] += 1
            elif operation == "recover":
                pk = rng.choice(gone)
                version = Version.objects.get_for_object_reference(Organization, pk).first()
                history_recover(version=version)
                present.add(pk)
                log["restored"] += 1
            else:  # writes that are invalid whatever the others do, and must leave no trace
                if rng.random() < 0.5:  # an office that holds posts cannot be deleted
                    office = Organization.objects.get(pk="cppcc-general-office")
                    services.organization_delete(organization=office)
                else:
                    node = _random_node(rng, parent__isnull=False)
                    services.organization_move(organization=node, target=node, position="left")
                raise AssertionError("an invalid write was accepted")
            log["ok"] += 1
        except (ValidationError, Organization.DoesNotExist):
            log["failed"] += 1
        except Exception as error:  # reported to the parent, which fails the test
            log["errors"].append(f"{operation}: {error!r}")
    log["present"] = sorted(present)
    connections.close_all()
    results.put(log)


def test_concurrent_tree_writes_leave_a_valid_tree(transactional_db, capsys):
    call_command("load_seed", verbosity=0)
    connections.close_all()
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    workers = [context.Process(target=_worker, args=(i, results)) for i in range(PROCESSES)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    logs = [results.get(timeout=600) for _ in workers]  # a guard against a hang
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    elapsed = time.perf_counter() - started

    assert [error for log in logs for error in log["errors"]] == []
    assert_tree_valid()
    present = set(Organization.objects.filter(pk__startswith="w").values_list("pk", flat=True))
    added = {pk for log in logs for pk in log["added"]}
    deleted = {pk for log in logs for pk in log["deleted"]}
    assert present == {pk for log in logs for pk in log["present"]}
    assert not present & {pk for log in logs for pk in log["failed_adds"]}
    assert Organization.objects.get(pk="cppcc-general-office").posts.count() == 3

    done = sum(log["ok"] + log["failed"] for log in logs)
    assert done >= PROCESSES * OPERATIONS_EACH * 15 // 16  # nearly all ran to an answer
    with capsys.disabled():
        print(
            f"\nstress test: {PROCESSES} processes, {done} operations "
            f"({sum(log['ok'] for log in logs)} succeeded, "
            f"{sum(log['failed'] for log in logs)} refused as invalid), "
            f"{len(added)} adds, {len(deleted)} deletes, "
            f"{sum(log['restored'] for log in logs)} reverts and recovers, "
            f"{elapsed:.1f} s; tree valid"
        )
