"""Names side by side: an organization's or a person's name in the page's language first, the
other language's beside it.

An English page shows "Research Office 研究室", a Chinese page "研究室 Research Office"; a record
with no Chinese name shows its English name alone on both. Each part carries its own `lang`, so
screen readers and fonts read each in its language. Links take the first name only, so a link's
accessible name is one name in the page's language.
"""

from __future__ import annotations

from typing import Any

from django import template
from django.utils import translation
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

register = template.Library()

CHINESE = "zh-Hans"


def in_chinese() -> bool:
    return (translation.get_language() or "").startswith("zh")


def ordered(
    english: str, chinese: str, page_chinese: bool | None = None
) -> tuple[tuple[str, str], tuple[str, str] | None]:
    """((first name, its language), (second name, its language) or None) for this page."""
    if not chinese:
        return (english, "en"), None
    if in_chinese() if page_chinese is None else page_chinese:
        return (chinese, CHINESE), (english, "en")
    return (english, "en"), (chinese, CHINESE)


def names_html(
    english: str, chinese: str, url: str = "", page_chinese: bool | None = None
) -> SafeString:
    """Both names, the first one a link to `url` when given. Plain string building: a large
    unit's outline calls this for thousands of lines (`format_html` costs several times more).
    `page_chinese`: whether the page is Chinese, when the caller knows it already."""
    if page_chinese is None:
        page_chinese = in_chinese()
    (name, language), second = ordered(english, chinese, page_chinese)
    # A part needs its own `lang` when it is not in the page's language.
    lang = "" if (language == CHINESE) == page_chinese else f' lang="{language}"'
    if url:
        html = f'<a href="{escape(url)}"{lang}>{escape(name)}</a>'
    elif lang:
        html = f"<span{lang}>{escape(name)}</span>"
    else:
        html = escape(name)
    if second is not None:
        html += f' <span class="name-other" lang="{second[1]}">{escape(second[0])}</span>'
    return mark_safe(html)  # every part is escaped above


@register.simple_tag
def names(record: Any, url: str = "", english: str | None = None, chinese: str | None = None):
    """`{% names organization url %}`: the record's two names (`english`/`chinese` override
    them, for a name as on a date)."""
    return names_html(
        record.name if english is None else english,
        getattr(record, "name_zh", "") if chinese is None else chinese,
        url,
    )


@register.simple_tag
def first_name(record: Any, english: str | None = None, chinese: str | None = None) -> str:
    """The name in the page's language (the English one when there is no Chinese name)."""
    (name, _), _ = ordered(
        record.name if english is None else english,
        getattr(record, "name_zh", "") if chinese is None else chinese,
    )
    return name
