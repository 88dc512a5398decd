"""The page a request gets when the database stayed busy for longer than it may wait.

On SQLite one transaction writes at a time and the others wait for it (config/settings/base.py,
`SQLITE_TIMEOUT`). A write that waits longer than that, behind a very large import for
example, fails with "database is locked" before it has written anything: say so plainly, with
503 and Retry-After, instead of a bare server error.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.db import OperationalError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

RETRY_AFTER_SECONDS = 30


def database_busy(exception: BaseException) -> bool:
    return isinstance(exception, OperationalError) and "database is locked" in str(exception)


class DatabaseBusyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not database_busy(exception):
            return None
        response = render(
            request,
            "registry/busy.html",
            {"waited": settings.SQLITE_TIMEOUT, "retry_after": RETRY_AFTER_SECONDS},
            status=503,
        )
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        response["Cache-Control"] = "no-store"
        return response
