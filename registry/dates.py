"""Dates known only to the year, the month or the day, as the sources give them.

A `PartialDate` is stored as its ISO 8601 text at its own precision (`1949`, `1949-10`,
`1980-12-30`). Those strings sort in time order, and a period contains another exactly when its
text is a prefix of the other's, which lets the database itself check "not before" rules.
"""

from __future__ import annotations

import calendar
import contextlib
import datetime
import re
from dataclasses import dataclass

from django import forms
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Length
from django.db.models.query_utils import DeferredAttribute
from django.utils import translation
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

# ASCII digits only: `\d` also matches full-width and other scripts' digits, which int()
# would silently turn into ASCII ones.
_ISO = re.compile(r"([0-9]{4})(?:-([0-9]{2})(?:-([0-9]{2}))?)?")
FORMAT_HELP = _("ISO 8601 at the precision known: 1949, 1949-10 or 1980-12-30.")


@dataclass(frozen=True)
class PartialDate:
    year: int
    month: int | None = None
    day: int | None = None

    @classmethod
    def parse(cls, text: str) -> PartialDate:
        """Read `YYYY`, `YYYY-MM` or `YYYY-MM-DD`; raise ValueError saying what is wrong.

        Nothing is trimmed or converted: text with spaces around it, or with digits other than
        ASCII 0-9, is refused rather than stored as something else than was given."""
        match = _ISO.fullmatch(text)
        if not match and text != text.strip() and _ISO.fullmatch(text.strip()):
            raise ValueError(
                gettext("“%(text)s” has spaces before or after the date; remove them.")
                % {"text": text}
            )
        if not match:
            raise ValueError(
                gettext("“%(text)s” is not a date; use %(format)s")
                % {"text": text, "format": FORMAT_HELP}
            )
        year, month, day = (int(part) if part else None for part in match.groups())
        if year == 0:
            raise ValueError(gettext("“%(text)s” has no year 0000.") % {"text": text})
        if month is not None and not 1 <= month <= 12:
            raise ValueError(
                gettext("“%(text)s” has no month %(month)02d.") % {"text": text, "month": month}
            )
        if day is not None:
            last = calendar.monthrange(year, month)[1]
            if not 1 <= day <= last:
                raise ValueError(
                    gettext("“%(text)s” is not a real day: that month has %(days)s days.")
                    % {"text": text, "days": last}
                )
        return cls(year, month, day)

    @property
    def precision(self) -> str:
        if self.day is not None:
            return "day"
        return "month" if self.month is not None else "year"

    @property
    def earliest(self) -> datetime.date:
        return datetime.date(self.year, self.month or 1, self.day or 1)

    @property
    def latest(self) -> datetime.date:
        month = self.month or 12
        return datetime.date(
            self.year, month, self.day or calendar.monthrange(self.year, month)[1]
        )

    def is_before(self, other: PartialDate) -> bool:
        """True when this whole period ends before the other one starts."""
        return self.latest < other.earliest

    def display(self) -> str:
        """The date at its own precision, never padded: '30 December 1980', 'October 1949',
        '1954'; in Chinese '1980年12月30日', '1949年10月', '1954年'."""
        if (translation.get_language() or "").startswith("zh"):
            month = f"{self.month}月" if self.month is not None else ""
            day = f"{self.day}日" if self.day is not None else ""
            return f"{self.year}年{month}{day}"
        if self.day is not None:
            return f"{self.day} {calendar.month_name[self.month]} {self.year}"
        if self.month is not None:
            return f"{calendar.month_name[self.month]} {self.year}"
        return str(self.year)

    def __str__(self) -> str:
        text = f"{self.year:04d}"
        if self.month is not None:
            text += f"-{self.month:02d}"
        if self.day is not None:
            text += f"-{self.day:02d}"
        return text


def periods_conflict(first: tuple[str, str], second: tuple[str, str]) -> str | None:
    """Why two (start, end) periods of the same role (one person, one post) cannot both stand,
    or None. A role may be held again, later: each period needs a start, and the earlier one
    an end before the later one starts. Dates are ISO text, "" for unknown."""
    if not first[0] or not second[0]:
        return gettext("a person may hold a post twice only in dated periods that do not overlap")
    earlier, later = sorted(
        (first, second), key=lambda period: PartialDate.parse(period[0]).earliest
    )
    if not earlier[1]:
        return gettext(
            "the holding from %(earlier)s has no end, so it overlaps the one from %(later)s"
        ) % {"earlier": earlier[0], "later": later[0]}
    if not PartialDate.parse(earlier[1]).is_before(PartialDate.parse(later[0])):
        return gettext(
            "the holding %(start)s to %(end)s overlaps the one from %(later)s "
            "(a later holding must start after the earlier one ends)"
        ) % {"start": earlier[0], "end": earlier[1], "later": later[0]}
    return None


def not_before(later: str, earlier: str) -> models.Q:
    """A check-constraint condition: the `later` date field does not end before `earlier` starts.

    With ISO text at mixed precision, "ends before" is exactly "sorts lower and is not a prefix
    of the other" (1949 contains 1949-10, so dissolution 1949 after formation 1949-10 is fine).
    """
    return (
        models.Q(**{later: ""})
        | models.Q(**{earlier: ""})
        | models.Q(**{f"{later}__gte": models.F(earlier)})
        | models.Q(**{f"{earlier}__startswith": models.F(later)})
    )


class PartialDateFormField(forms.CharField):
    def __init__(self, **kwargs):
        kwargs.setdefault("help_text", FORMAT_HELP)
        # No max_length: CharField would check it on the parsed PartialDate, not the text.
        kwargs.pop("max_length", None)
        super().__init__(**kwargs)
        self.widget.attrs.update(maxlength="10", placeholder="YYYY-MM-DD", size="12")

    def prepare_value(self, value):
        return "" if value is None else str(value)

    def to_python(self, value):
        return _parsed(super().to_python(value))


def _parsed(text: str) -> PartialDate | None:
    """A form's or a field's text as a PartialDate (None for empty text), or a ValidationError
    naming what is wrong."""
    if not text:
        return None
    try:
        return PartialDate.parse(text)
    except ValueError as error:
        raise ValidationError(str(error), code="invalid") from error


class _PartialDateAttribute(DeferredAttribute):
    """Turns text assigned to the field into a PartialDate (text that does not parse is kept,
    so that `full_clean()` can name the problem)."""

    def __set__(self, instance, value):
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                value = PartialDate.parse(value) if value else None
        instance.__dict__[self.field.attname] = value


class PartialDateField(models.Field):
    """A PartialDate stored as ISO text; empty text in the database is None in Python."""

    description = _("A date known to the year, month or day")
    descriptor_class = _PartialDateAttribute

    def __init__(self, *args, **kwargs):
        kwargs["max_length"] = 10
        kwargs.setdefault("blank", True)
        kwargs.setdefault("default", "")
        kwargs.setdefault("help_text", FORMAT_HELP)
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        del kwargs["max_length"]
        return name, path, args, kwargs

    def get_internal_type(self) -> str:
        return "CharField"

    def to_python(self, value):
        if value is None or isinstance(value, PartialDate):
            return value
        return _parsed(str(value))

    def get_prep_value(self, value):
        if value is None:
            return ""
        return str(value)

    def value_to_string(self, obj) -> str:
        value = self.value_from_object(obj)
        return "" if value is None else str(value)

    def formfield(self, **kwargs):
        return super().formfield(**{"form_class": PartialDateFormField, **kwargs})


# `formed__length` in the check constraints that keep stored text to ISO shapes.
PartialDateField.register_lookup(Length)


# --- Valid time: what a partial date means when the registry is read "as on" a date ---------
# The rules are written once here and in docs/time.md; every page, download and check that asks
# "was this so on that date?" goes through these.


def starts_by(field: str, day: datetime.date) -> models.Q:
    """The period starting at date `field` (empty: unknown, so not ruled out) has begun by the
    end of `day`: its first day is not after `day`. ISO text at any precision compares with a
    full day's text exactly as its first day would (`1980` <= `1980-06-01`)."""
    return models.Q(**{field: ""}) | models.Q(**{f"{field}__lte": day.isoformat()})


def lasts_until(field: str, day: datetime.date) -> models.Q:
    """The period ending at date `field` (empty: no end) is still running on `day`: its last day
    is not before `day`. A date known to the year ends on 31 December, to the month on the
    month's last day, so it is compared at its own precision (`1980` lasts until 1980-06-01)."""
    iso = day.isoformat()
    return (
        models.Q(**{field: ""})
        | models.Q(**{f"{field}__length": 4, f"{field}__gte": iso[:4]})
        | models.Q(**{f"{field}__length": 7, f"{field}__gte": iso[:7]})
        | models.Q(**{f"{field}__length": 10, f"{field}__gte": iso})
    )


@dataclass(frozen=True)
class On:
    """The date a page is read "as on" (`?on=1990`, `?on=1990-05`, `?on=1990-05-17`): the whole
    period that text names, from its first to its last day."""

    date: PartialDate

    @classmethod
    def parse(cls, text: str) -> On:
        return cls(PartialDate.parse(text))

    @property
    def first(self) -> datetime.date:
        return self.date.earliest

    @property
    def last(self) -> datetime.date:
        return self.date.latest

    def __str__(self) -> str:
        return str(self.date)

    def display(self) -> str:
        return self.date.display()

    def phrase(self) -> str:
        """'on 30 December 1980', 'in October 1949', 'in 1954' (in Chinese the date alone: the
        sentence around it says 在…)."""
        if self.date.day:
            return gettext("on %(date)s") % {"date": self.date.display()}
        return gettext("in %(date)s") % {"date": self.date.display()}

    def overlaps(self, start: PartialDate | None, end: PartialDate | None) -> bool:
        """Whether a fact true from `start` to `end` (None: unknown start, or no end) was true
        at some time during this period."""
        return (start is None or start.earliest <= self.last) and (
            end is None or end.latest >= self.first
        )

    def existing(self, prefix: str = "") -> models.Q:
        """Organizations (through `prefix`, e.g. "parent__") that existed at some time during
        this period: formed by its last day, not dissolved before its first."""
        return starts_by(f"{prefix}formed", self.last) & lasts_until(
            f"{prefix}dissolved", self.first
        )
