"""Pages of the API's lists: cursors that stay right while curators write.

A list is ordered by its records' ids, which never change: a cursor names the last id a page
showed, so a record added or removed elsewhere never shifts a page (no record is skipped or
shown twice, as offsets would do). A subtree is listed in tree order, which curators change; its
cursor names the last unit shown and the next page starts after wherever that unit is now.
"""

from __future__ import annotations

import base64
import binascii
from urllib.parse import urlencode

from rest_framework.pagination import CursorPagination
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from .parameters import BadParameter

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


def page_address(request) -> str:
    """The request's address rebuilt from its decoded parameters: a query sent as raw UTF-8
    (as curl sends 研究) would otherwise come back in `next` as its bytes encoded twice."""
    query = urlencode(list(request.query_params.lists()), doseq=True)
    return request.build_absolute_uri(request.path) + (f"?{query}" if query else "")


def limit_of(request) -> int:
    value = request.query_params.get("limit")
    if value is None:
        return DEFAULT_LIMIT
    if not value.isascii() or not value.isdigit() or not 1 <= int(value) <= MAX_LIMIT:
        raise BadParameter(
            "limit", f"Must be a whole number from 1 to {MAX_LIMIT} (items per page)."
        )
    return int(value)


class IdCursorPagination(CursorPagination):
    """DRF's cursor pagination over the unique, unchanging primary key."""

    ordering = "pk"
    page_size = DEFAULT_LIMIT
    page_size_query_param = "limit"
    max_page_size = MAX_LIMIT
    invalid_cursor_message = "Not a cursor this API gave (take `next` or `previous` as given)."

    def get_page_size(self, request) -> int:
        return limit_of(request)

    def paginate_queryset(self, queryset, request, view=None):
        self.key = queryset.model._meta.pk
        page = super().paginate_queryset(queryset, request, view)
        self.base_url = page_address(request)
        return page

    def decode_cursor(self, request):
        try:
            cursor = super().decode_cursor(request)
        except Exception:  # DRF raises NotFound; a bad cursor is a bad parameter
            raise BadParameter("cursor", self.invalid_cursor_message) from None
        # A cursor is only base64 of "p=<id>": one made by hand may name any text, which must
        # still be an id of this list's kind before it reaches a query.
        if (
            cursor is not None
            and cursor.position is not None
            and not _an_id(self.key, cursor.position)
        ):
            raise BadParameter("cursor", self.invalid_cursor_message)
        return cursor


def _an_id(key, text: str) -> bool:
    if "\x00" in text or len(text) > 200:
        return False
    if key.get_internal_type() in ("AutoField", "BigAutoField"):
        return text.isascii() and text.isdigit() and len(text) <= 18
    return True


def encode_after(pk: str) -> str:
    return base64.urlsafe_b64encode(pk.encode()).decode()


def decode_after(request) -> str | None:
    value = request.query_params.get("cursor")
    if value is None:
        return None
    try:
        after = base64.urlsafe_b64decode(value.encode("ascii")).decode()
    except (binascii.Error, UnicodeError, ValueError):
        raise BadParameter("cursor", IdCursorPagination.invalid_cursor_message) from None
    if "\x00" in after or len(after) > 200:
        raise BadParameter("cursor", IdCursorPagination.invalid_cursor_message)
    return after


def next_page_response(request, results: list, last: str | None) -> Response:
    """A subtree page: `next` continues after the unit `last` (None: this was the last page)."""
    following = None
    if last is not None:
        following = replace_query_param(page_address(request), "cursor", encode_after(last))
    return Response({"next": following, "previous": None, "results": results})
