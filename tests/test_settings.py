"""Every settings module honours DATABASE_URL; production refuses to start half-configured."""

import os
import subprocess
import sys

import pytest
from django.conf import settings

PRINT_DATABASE = (
    "import django; django.setup(); from django.conf import settings; "
    "print(settings.DATABASES['default']['ENGINE'], settings.DATABASES['default']['NAME'])"
)


def _run(module: str, script: str = PRINT_DATABASE, **env: str) -> subprocess.CompletedProcess:
    environment = {
        key: value
        for key, value in os.environ.items()
        if key
        not in {"DATABASE_URL", "SECRET_KEY", "ALLOWED_HOSTS", "CONN_MAX_AGE", "SQLITE_TIMEOUT"}
    }
    environment.update(DJANGO_SETTINGS_MODULE=module, **env)
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=settings.BASE_DIR,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize("module", ["config.settings.dev", "config.settings.test"])
def test_database_url_is_honoured(module, tmp_path):
    result = _run(module, DATABASE_URL=f"sqlite:///{tmp_path}/other.sqlite3")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["django.db.backends.sqlite3", f"{tmp_path}/other.sqlite3"]


def test_without_database_url_development_uses_sqlite_beside_manage_py():
    result = _run("config.settings.dev")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "django.db.backends.sqlite3",
        str(settings.BASE_DIR / "db.sqlite3"),
    ]


@pytest.mark.parametrize("missing", ["SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL"])
def test_production_refuses_to_start_without_a_required_variable(missing):
    env = {
        "SECRET_KEY": "x" * 50,
        "ALLOWED_HOSTS": "registry.example.org",
        "DATABASE_URL": "postgres://registry@127.0.0.1:5432/registry",
    }
    del env[missing]
    result = _run("config.settings.prod", **env)
    assert result.returncode != 0
    assert f"The environment variable {missing} is required" in result.stderr


PRINT_CONNECTION = (
    "import django; django.setup(); from django.conf import settings; "
    "d = settings.DATABASES['default']; print(d['CONN_MAX_AGE'], d['CONN_HEALTH_CHECKS'])"
)


@pytest.mark.parametrize(("value", "expected"), [(None, "60 True"), ("0", "0 True")])
def test_production_keeps_database_connections_between_requests(value, expected):
    env = {
        "SECRET_KEY": "x" * 50,
        "ALLOWED_HOSTS": "registry.example.org",
        "DATABASE_URL": "postgres://registry@127.0.0.1:5432/registry",
    }
    if value is not None:
        env["CONN_MAX_AGE"] = value
    result = _run("config.settings.prod", PRINT_CONNECTION, **env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected


PRINT_SQLITE = (
    "import django; django.setup(); from django.db import connection; "
    "cursor = connection.cursor(); "
    "print(connection.transaction_mode, connection.connection.execute('PRAGMA busy_timeout')"
    ".fetchone()[0], cursor.execute('PRAGMA journal_mode').fetchone()[0], "
    "cursor.execute('PRAGMA synchronous').fetchone()[0])"
)


@pytest.mark.parametrize("module", ["config.settings.dev", "config.settings.test"])
def test_sqlite_writers_wait_for_each_other_and_readers_never_wait(module, tmp_path):
    """BEGIN IMMEDIATE, a busy timeout of a minute, WAL and synchronous=NORMAL (1), for any
    SQLite file a settings module or DATABASE_URL names (tests/test_sqlite_concurrency.py shows
    what they are for)."""
    result = _run(module, PRINT_SQLITE, DATABASE_URL=f"sqlite:///{tmp_path}/db.sqlite3")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["IMMEDIATE", "60000", "wal", "1"]


def test_production_on_sqlite_gets_the_same_options(tmp_path):
    env = {"SECRET_KEY": "x" * 50, "ALLOWED_HOSTS": "registry.example.org"}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path}/db.sqlite3"
    result = _run("config.settings.prod", PRINT_SQLITE, **env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["IMMEDIATE", "60000", "wal", "1"]


def test_the_sqlite_busy_timeout_is_a_setting(tmp_path):
    database = f"sqlite:///{tmp_path}/db.sqlite3"
    result = _run("config.settings.dev", PRINT_SQLITE, DATABASE_URL=database, SQLITE_TIMEOUT="5")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[1] == "5000"
    result = _run("config.settings.dev", DATABASE_URL=database, SQLITE_TIMEOUT="soon")
    assert result.returncode != 0
    assert "The environment variable SQLITE_TIMEOUT must be a whole number" in result.stderr


PRINT_OPTIONS = (
    "import django; django.setup(); from django.conf import settings; "
    "print(settings.DATABASES['default'].get('OPTIONS'))"
)


def test_postgresql_gets_no_sqlite_options():
    result = _run(
        "config.settings.dev",
        PRINT_OPTIONS,
        DATABASE_URL="postgres://registry@127.0.0.1:5432/registry",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() in {"None", "{}"}


def test_the_downloads_directory_comes_from_the_environment(tmp_path):
    env = {
        "SECRET_KEY": "x" * 50,
        "ALLOWED_HOSTS": "registry.example.org",
        "DATABASE_URL": "postgres://registry@127.0.0.1:5432/registry",
        "DOWNLOADS_ROOT": str(tmp_path / "downloads"),
    }
    script = "import django; django.setup(); from django.conf import settings; "
    result = _run("config.settings.prod", script + "print(settings.DOWNLOADS_ROOT)", **env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(tmp_path / "downloads")
