"""“Cite this page”: the citation of an organization's or a person's page, as text to paste,
as BibTeX and as CSL-JSON.

A citation names the page (its names, as on the date the page is read for), the registry and
its version (the change stamp's count of writes and the day of the last one), the permanent
address (the English, unprefixed one, with `?on=` on a dated page) and the day it is retrieved.

The text follows the style a reader of each language cites web pages in: on English pages the
Chicago Manual of Style (17th edition, bibliography, a web page without an author), on Chinese
pages the national standard GB/T 7714-2015 (an electronic resource, [EB/OL], inside the
registry as its container: `//`). Both forms are the catalog's translation of one message, so
the style is chosen by the page's language like every other word on it.

The retrieval day is the day the page is served: those pages are `daily` (caching.py), so no
cache keeps them past midnight.
"""

from __future__ import annotations

import datetime
import json
import re
from dataclasses import dataclass
from urllib.parse import quote

from django.conf import settings
from django.db.models import Model
from django.http import HttpRequest, HttpResponse
from django.utils import dateformat, translation
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from .caching import registry_stamp, served_at
from .dates import On
from .templatetags.registry_names import in_chinese, ordered


@dataclass(frozen=True)
class PageCitation:
    """What a citation of one page says, in the language of the page it was made for."""

    key: str  # the BibTeX key and CSL id: identifier, date read for, registry version
    name: str  # English, as on `on`
    name_zh: str  # Chinese, as on `on` ("" if none)
    url: str  # the permanent address, absolute
    on: On | None
    version: int | None  # None while the change stamp is missing (the registry unversioned)
    changed: datetime.date | None
    retrieved: datetime.date
    chinese: bool  # the page's language

    @property
    def registry(self) -> str:
        return _("Registry of Government Organizations")

    def _first_and_other(self) -> tuple[str, str]:
        (first, _language), other = ordered(self.name, self.name_zh, self.chinese)
        return first, other[0] if other else ""

    def title(self, *, both: bool = True) -> str:
        """The page's name in its language (with the other language's after it if `both`),
        and the date it is read for."""
        first, other = self._first_and_other()
        title = first
        if both and other:
            title = _("%(name)s (%(other)s)") % {"name": first, "other": other}
        if self.on is not None:
            title = _("%(title)s, as on %(date)s") % {"title": title, "date": self.on.display()}
        return title

    def text(self) -> str:
        """The citation to paste, in the style of the page's language (see the module)."""
        values = {
            "title": self.title(),
            "registry": self.registry,
            "retrieved": _date(self.retrieved),
            "url": self.url,
        }
        if self.version is None:
            return _("“%(title)s.” %(registry)s. Accessed %(retrieved)s. %(url)s.") % values
        return _(
            "“%(title)s.” %(registry)s, version %(version)s. Last modified %(changed)s. "
            "Accessed %(retrieved)s. %(url)s."
        ) % (values | {"version": self.version, "changed": _date(self.changed)})

    def note(self, *, other_name: bool) -> str:
        """What the BibTeX and CSL-JSON note says: the version, and the other language's name
        if `other_name` (where the title does not hold it)."""
        parts = []
        if self.version is not None:
            parts.append(
                _("Registry version %(version)s, last modified %(changed)s.")
                % {"version": self.version, "changed": _date(self.changed)}
            )
        _first, other = self._first_and_other()
        if other and other_name:
            parts.append(
                (_("English name: %(name)s.") if self.chinese else _("Chinese name: %(name)s."))
                % {"name": other}
            )
        # Chinese sentences follow one another with no space between them.
        return ("" if self.chinese else " ").join(parts)

    def bibtex(self) -> str:
        """One `@misc` entry (BibTeX's own fields, and biblatex's url, urldate, version, date
        and language). Every value is escaped (`bibtex_text`): no name can end the entry."""
        fields = [
            # Double braces: styles must not change the capitals of a proper name.
            ("title", "{" + bibtex_text(self.title()) + "}"),
            ("organization", bibtex_text(self.registry)),
            ("howpublished", "\\url{" + bibtex_url(self.url) + "}"),
            ("url", bibtex_url(self.url)),
            ("urldate", self.retrieved.isoformat()),
        ]
        if self.version is not None:
            fields += [
                ("version", str(self.version)),
                ("date", self.changed.isoformat()),
                ("year", str(self.changed.year)),
            ]
        fields += [
            ("note", bibtex_text(self.note(other_name=False))),
            ("language", "chinese" if self.chinese else "english"),
        ]
        body = "".join(f"  {name} = {{{value}}},\n" for name, value in fields)
        return f"@misc{{{self.key},\n{body}}}\n"

    def csl(self) -> list[dict]:
        """The CSL-JSON of the citation: an array of one item, as citation managers import."""
        _first, other = self._first_and_other()
        item = {
            "id": self.key,
            "type": "webpage",
            "title": self.title(both=False),
            "container-title": self.registry,
            "publisher": self.registry,
            "URL": self.url,
            "accessed": _date_parts(self.retrieved),
            "language": "zh-Hans" if self.chinese else "en",
        }
        # A Chinese name is the original of an English one; an English page's title is the
        # English name, so the Chinese one is its original title.
        if other and not self.chinese:
            item["original-title"] = other
        if self.version is not None:
            item |= {"version": str(self.version), "issued": _date_parts(self.changed)}
        if note := self.note(other_name=True):
            item["note"] = note
        return [item]


def page_citation(
    request: HttpRequest, record: Model, *, name: str | None = None, name_zh: str | None = None
) -> PageCitation:
    """The citation of `record`'s page as `request` reads it (`name`/`name_zh`: its names as
    on the page's date, when they differ from today's). No query while the request's change
    stamp is already read, as it is on every public page."""
    on = getattr(request, "on", None)
    with translation.override(settings.LANGUAGE_CODE):
        path = record.get_absolute_url()  # the permanent, unprefixed address
    query = f"?on={on}" if on is not None else ""
    stamp = registry_stamp(request)
    return PageCitation(
        key="-".join(
            [record.pk, *([str(on)] if on else []), *([f"v{stamp.version}"] if stamp else [])]
        ),
        name=record.name if name is None else name,
        name_zh=getattr(record, "name_zh", "") if name_zh is None else name_zh,
        url=request.build_absolute_uri(path + query),
        on=on,
        version=stamp.version if stamp else None,
        changed=stamp.changed.astimezone(served_at(request).tzinfo).date() if stamp else None,
        retrieved=served_at(request).date(),
        chinese=in_chinese(),
    )


def _date(value: datetime.date) -> str:
    # Chicago writes the day in words ('3 December 2026' on these British-English pages);
    # GB/T 7714 writes it as digits (2026-12-03): the catalog gives each its form.
    return dateformat.format(value, pgettext("date in a citation", "j F Y"))


def _date_parts(value: datetime.date) -> dict:
    return {"date-parts": [[value.year, value.month, value.day]]}


# BibTeX counts braces without regard to backslashes, so `\{` would still open a group: every
# special character becomes a command whose braces are balanced, `{` and `}` included.
_BIBTEX_SPECIALS = {
    "\\": r"\textbackslash{}",
    "{": r"\textbraceleft{}",
    "}": r"\textbraceright{}",
    "%": r"\%",
    "&": r"\&",
    "#": r"\#",
    "_": r"\_",
    "$": r"\$",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}
_BIBTEX_SPECIAL = re.compile("|".join(re.escape(character) for character in _BIBTEX_SPECIALS))


def bibtex_text(text: str) -> str:
    """`text` as a BibTeX value's content: LaTeX specials escaped, braces never unbalanced,
    any run of white space (a newline, which could start a line with `@`) one space. Chinese
    and other non-ASCII text stay as they are, in UTF-8 (biber and modern BibTeX read it)."""
    text = " ".join(text.split())
    return _BIBTEX_SPECIAL.sub(lambda match: _BIBTEX_SPECIALS[match.group()], text)


def bibtex_url(url: str) -> str:
    """An address inside `\\url{}` and biblatex's verbatim `url` field, where commands are not
    read: anything that could unbalance the braces or start a comment is percent-encoded."""
    return quote(url, safe=":/?=&.-_~@!$'()*+,;[]")


def bibtex_response(citation: PageCitation, filename: str) -> HttpResponse:
    response = HttpResponse(citation.bibtex(), content_type="application/x-bibtex; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}.bib"'
    return response


def csl_json_response(citation: PageCitation, filename: str) -> HttpResponse:
    # The type registered with IANA for CSL-JSON; JSON is UTF-8 by definition (RFC 8259).
    response = HttpResponse(
        json.dumps(citation.csl(), ensure_ascii=False, indent=2) + "\n",
        content_type="application/vnd.citationstyles.csl+json",
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}.json"'
    return response
