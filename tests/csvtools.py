"""Helpers for CSV tests: exporting to text, editing rows, emptying the registry."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.db import connection

from registry.csvcodec import csv_lines
from registry.exports import organization_rows, post_rows
from registry.models import (
    REGISTRY_MODELS,
    Kind,
    Organization,
    Rank,
)


def export_text(dataset: str = "organizations", root=None) -> str:
    rows = (organization_rows if dataset == "organizations" else post_rows)(root)
    return "".join(csv_lines(next(rows), rows))


def parse(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def write(rows: list[dict[str, str]], header: list[str] | None = None) -> bytes:
    header = header or list(dict.fromkeys(key for row in rows for key in row))
    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, header, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def export_encoded(
    encoding: str, changes: dict[str, dict[str, str]] | None = None, *, rows_in: str = ""
) -> bytes:
    """The organizations export in `encoding`, keeping only the rows that `rows_in` (default:
    `encoding`) can write (the seed cites evidence in Chinese, some of it in traditional
    characters), with `changes[id]` applied to that row."""
    kept = []
    for row in parse(export_text()):
        change = (changes or {}).get(row["id"], {})
        try:
            "".join(v for k, v in row.items() if k not in change).encode(rows_in or encoding)
        except UnicodeEncodeError:
            continue
        kept.append(row | change)
    return write(kept).decode().encode(encoding)


def empty_registry() -> None:
    """Every organization, person and source gone; the vocabularies (kinds, ranks) kept."""
    for model in reversed(REGISTRY_MODELS):
        if model not in (Organization, Kind, Rank):
            model.objects.all().delete()
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {Organization._meta.db_table}")


def manage_in_a_process(folder: Path) -> Callable[..., subprocess.CompletedProcess]:
    """`manage.py ARGS` as a process of its own on a SQLite database in `folder`, with the
    test settings: what a script running the commands sees (exit status, stderr)."""
    environment = {
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": f"sqlite:///{folder}/cli.sqlite3",
        "PATH": os.environ.get("PATH", ""),
    }

    def manage(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=settings.BASE_DIR,
            capture_output=True,
            text=True,
            check=False,
            env=environment,
        )

    return manage


def export_dataset(dataset: str, root=None) -> str:
    """Any dataset's export (registry/exports.py), as the command writes it."""
    from registry.management.commands.export_registry import EXPORTERS

    rows = EXPORTERS[dataset](root)
    return "".join(csv_lines(next(rows), rows))
