"""Browser tests: Debian's Chromium driven by Playwright against pytest-django's live server.

Playwright never downloads a browser here: `browser` launches /usr/bin/chromium (or
$E2E_CHROMIUM) and the tests skip with a reason when it is missing. Screenshots (each main
page, and the page of any failing test) go to test-artifacts/screenshots/.
"""

from __future__ import annotations

import os
import re
import shutil
from importlib import resources
from pathlib import Path

import pytest
from django.core.management import call_command
from playwright.sync_api import sync_playwright

CHROMIUM = os.environ.get("E2E_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
PASSWORD = "a-long-e2e-password"
ASYNC_UNSAFE = "DJANGO_ALLOW_ASYNC_UNSAFE"


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    """Mark these tests `e2e` (before `-m` selects) and keep them together, after the others.

    Together, so that Chromium and Playwright's event loop (package fixtures) start once and no
    other test runs while they are up. Their place is for that only: like every test that
    commits, each starts from the migrated database whatever ran before (tests/conftest.py),
    so they pass first, last or shuffled among themselves (pytest-randomly runs before this and
    shuffles them; pytest-django's stable sort then keeps them behind the other transactional
    tests).
    """
    here = Path(__file__).parent
    browser_tests = [item for item in items if here in Path(str(item.path)).parents]
    for item in browser_tests:
        item.add_marker(pytest.mark.e2e)
    others = [item for item in items if item not in browser_tests]
    items[:] = others + browser_tests


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(scope="package")
def playwright():
    """Playwright for these tests only, stopped when they are done.

    Its sync API leaves an event loop running in the test thread, and Django's ORM refuses to
    run in a thread with a running loop unless told it is safe (it is: the loop is Playwright's
    own). Both the loop and that permission end with this package, so the rest of the suite
    (which runs its deployment checks with this environment) never sees either.
    """
    before = os.environ.get(ASYNC_UNSAFE)
    os.environ[ASYNC_UNSAFE] = "true"
    try:
        with sync_playwright() as playwright:
            yield playwright
    finally:
        if before is None:
            os.environ.pop(ASYNC_UNSAFE, None)
        else:
            os.environ[ASYNC_UNSAFE] = before


@pytest.fixture(scope="package")
def browser(playwright):
    """Debian's Chromium (never Playwright's bundled browser)."""
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)) and not shutil.which(
        CHROMIUM
    ):
        pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    for stale in SCREENSHOTS.glob("FAILED-*.png"):  # from an earlier run
        stale.unlink()
    browser = playwright.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
    )
    yield browser
    browser.close()


@pytest.fixture
def context(browser, live_server):
    context = browser.new_context(
        base_url=live_server.url, locale="en-GB", viewport={"width": 1280, "height": 900}
    )
    context.set_default_timeout(15_000)
    yield context
    context.close()


@pytest.fixture
def page(context, request):
    page = context.new_page()
    yield page
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid)
        page.screenshot(path=str(SCREENSHOTS / f"FAILED-{name}.png"), full_page=True)
    page.close()


def screenshot(page, name: str, locator=None) -> None:
    """Keep a picture of a main page (or of one part of it) for people reviewing a run."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = str(SCREENSHOTS / f"{name}.png")
    if locator is not None:
        locator.screenshot(path=path)
    else:
        page.screenshot(path=path, full_page=True)


@pytest.fixture
def seeded_live(live_server):
    """The seed registry behind the live server (which starts from the migrated database, as
    every test that commits does: tests/conftest.py)."""
    call_command("load_seed", verbosity=0)
    return live_server


@pytest.fixture
def curator(seeded_live):
    from django.contrib.auth.models import Group, User

    from registry.roles import EDITORS

    user = User.objects.create_user("curator", password=PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get(name=EDITORS))
    return user


@pytest.fixture
def admin_page(page, curator):
    """A browser logged in to the admin through its login form."""
    page.goto("/admin/login/?next=/admin/")
    page.fill("#id_username", curator.username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/")
    return page


@pytest.fixture(scope="session")
def axe_source() -> str:
    return (resources.files("axe_core_python") / "axe.min.js").read_text(encoding="utf-8")


def serious_violations(page, axe_source: str) -> list[str]:
    """What axe-core finds "serious" or "critical" on the page as shown now, each naming the
    rule and up to five elements."""
    # evaluate() runs outside the page's Content-Security-Policy, which blocks inline scripts.
    page.evaluate(axe_source)
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at "
        + ", ".join(str(node["target"]) for node in v["nodes"][:5])
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
