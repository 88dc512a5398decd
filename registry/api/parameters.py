"""Query parameters of the API, read strictly: every bad one is a 400 naming it.

A data user's typo (`?kinds=`, `?limit=10O`, a date in the wrong form) must not quietly return
everything: a parameter an endpoint does not take, one given twice, or one that does not parse
is refused with a JSON body naming the parameter and saying what it takes.
"""

from __future__ import annotations

import datetime

from django.db import models
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.timezone import get_current_timezone, is_naive, make_aware
from rest_framework import status
from rest_framework.exceptions import APIException

from ..dates import On

TEXT_MAX_LENGTH = 200
# Every list takes these (api.pagination).
PAGING = ("cursor", "limit")


class BadParameter(APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "bad_parameter"

    def __init__(self, parameter: str, message: str):
        super().__init__({"error": "bad_parameter", "parameter": parameter, "message": message})


def _shown(text: str) -> str:
    """The value as a message may repeat it: a long one is not sent back whole."""
    return repr(text) if len(text) <= 40 else f"{text[:40]!r}… ({len(text)} characters)"


class Parameters:
    """The query parameters of one request, checked against what its endpoint takes."""

    def __init__(self, request, allowed: tuple[str, ...]):
        self.query = request.query_params
        for name in self.query:
            if name not in allowed:
                takes = ", ".join(allowed) if allowed else "no parameters"
                raise BadParameter(name, f"Unknown parameter; this address takes: {takes}.")
            if len(self.query.getlist(name)) > 1:
                raise BadParameter(name, "Given more than once; give it once.")

    def text(self, name: str) -> str | None:
        value = self.query.get(name)
        if value is None:
            return None
        if "\x00" in value:
            raise BadParameter(name, "Holds a NUL character (%00), which no registry value holds.")
        if not value.strip():
            raise BadParameter(name, "Is empty; leave the parameter out instead.")
        if len(value) > TEXT_MAX_LENGTH:
            raise BadParameter(name, f"Is {len(value)} characters; at most {TEXT_MAX_LENGTH}.")
        return value

    def on(self, name: str = "on") -> On | None:
        value = self.text(name)
        if value is None:
            return None
        try:
            return On.parse(value)
        except ValueError as error:
            raise BadParameter(
                name, f"Not a date: {error} (got {_shown(value)}; e.g. 1954, 1949-10, 1980-12-30)"
            ) from None

    def moment(self, name: str) -> datetime.datetime | None:
        """A date and time (ISO 8601; a date alone is its midnight), in the registry's time
        zone when it names none."""
        value = self.text(name)
        if value is None:
            return None
        try:
            moment = parse_datetime(value)
            if moment is None and (day := parse_date(value)) is not None:
                moment = datetime.datetime.combine(day, datetime.time())
        except ValueError:
            moment = None
        if moment is None:
            raise BadParameter(
                name,
                f"Not an ISO 8601 date or date and time (got {_shown(value)}; e.g. 2026-12-01 "
                "or 2026-12-01T09:30:00+08:00).",
            )
        if is_naive(moment):
            moment = make_aware(moment, get_current_timezone())
        try:
            moment.astimezone(datetime.UTC)  # what the query compares in
        except OverflowError:
            raise BadParameter(name, f"Out of the range of dates (got {_shown(value)}).") from None
        return moment

    def record(self, name: str, queryset: models.QuerySet, what: str) -> models.Model | None:
        """The row whose primary key (an id or a code) the parameter gives."""
        value = self.text(name)
        if value is None:
            return None
        found = queryset.filter(pk=value).first()
        if found is None:
            raise BadParameter(name, f"No {what} has the id or code {_shown(value)}.")
        return found

    def number(self, name: str) -> int | None:
        value = self.text(name)
        if value is None:
            return None
        if not value.isascii() or not value.isdigit():
            raise BadParameter(name, f"Not a whole number (got {_shown(value)}).")
        return int(value)
