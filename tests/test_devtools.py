"""The development and benchmark tools live in their own app (`devtools`): installed for
development, tests and benchmarks, never in production, and outside the code whose hash is part
of every public ETag."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client, override_settings
from setuptools import find_packages

import devtools
from registry import caching

BASE_DIR = Path(settings.BASE_DIR)
DEVTOOLS = Path(devtools.__file__).resolve().parent
DEV_COMMANDS = ("bench", "bench_csv", "bench_import", "generate_registry")


def _manage(*arguments: str, settings_module: str, **environment: str):
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "DATABASE_URL", "SECRET_KEY", "ALLOWED_HOSTS"))
    }
    return subprocess.run(
        [sys.executable, str(BASE_DIR / "manage.py"), *arguments],
        env={**env, "DJANGO_SETTINGS_MODULE": settings_module, **environment},
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def production(tmp_path) -> dict[str, str]:
    """What production settings require from the environment (a scratch SQLite database)."""
    return {
        "SECRET_KEY": "a-production-like-secret",
        "ALLOWED_HOSTS": "registry.example",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'production.sqlite3'}",
    }


def test_production_settings_do_not_install_the_development_tools(production):
    prod = "config.settings.prod"
    done = _manage("generate_registry", "--organizations=5", settings_module=prod, **production)
    assert done.returncode == 1
    assert "Unknown command: 'generate_registry'" in done.stderr
    assert not (Path(production["DATABASE_URL"].removeprefix("sqlite:///"))).exists()
    listed = _manage("help", "--commands", settings_module=prod, **production)
    assert listed.returncode == 0, listed.stderr
    commands = set(listed.stdout.split())
    assert "import_registry" in commands
    assert commands.isdisjoint(DEV_COMMANDS)


def test_a_plain_checkout_has_the_development_tools():
    """`manage.py` with no environment (development settings) offers every tool; so do the
    test and benchmark settings."""
    listed = _manage("help", "--commands", settings_module="config.settings.dev")
    assert listed.returncode == 0, listed.stderr
    assert set(DEV_COMMANDS) <= set(listed.stdout.split())
    assert "devtools" in settings.INSTALLED_APPS  # the test settings


def test_the_benchmark_settings_are_production_plus_the_development_tools(production):
    shown = _manage(
        "shell",
        "-c",
        "from django.conf import settings; print(settings.INSTALLED_APPS[-1], settings.DEBUG)",
        settings_module="config.settings.bench",
        **production,
    )
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines()[-1].split() == ["devtools", "False"]


def test_no_development_tool_is_part_of_the_hashed_code():
    hashed = {path.resolve() for path in caching._code_files().values()}
    assert BASE_DIR / "registry" / "models.py" in hashed
    tools = [path for path in DEVTOOLS.rglob("*") if path.is_file()]
    assert DEVTOOLS / "synthetic.py" in tools
    assert DEVTOOLS / "templates" / "devtools" / "bench_floor.html" in tools
    assert hashed.isdisjoint(tools)


@pytest.mark.parametrize(
    ("folder", "changes_the_etag"),
    [
        (DEVTOOLS, False),
        (DEVTOOLS / "templates" / "devtools", False),
        # The control: the same new file in the production app is a new deploy.
        (BASE_DIR / "registry" / "templates" / "registry", True),
    ],
)
def test_editing_a_development_tool_leaves_every_public_etag_alone(
    seeded, folder, changes_the_etag
):
    """With DEBUG the code is hashed on every request, so a new file shows at once."""
    reader = Client()
    with override_settings(DEBUG=True):
        before = reader.get("/")["ETag"]
        probe = folder / f"etag_probe_{uuid.uuid4().hex}.py"
        probe.write_text("# A file no deploy of the public site depends on.\n")
        try:
            after = reader.get("/", headers={"if-none-match": before})
        finally:
            probe.unlink()
    assert (after.status_code == 200) is changes_the_etag
    assert (after["ETag"] != before) is changes_the_etag


def test_the_distribution_ships_what_production_runs_and_not_the_development_tools():
    options = tomllib.loads((BASE_DIR / "pyproject.toml").read_text())["tool"]["setuptools"]
    shipped = set(find_packages(where=BASE_DIR, **options["packages"]["find"]))
    assert {"registry", "registry.management.commands", "registry.migrations", "config"} <= (
        shipped
    )
    assert "config.settings" in shipped
    assert not {name for name in shipped if name.split(".")[0] in {"devtools", "tests"}}
