"""Chinese names: their pinyin, the search key kept beside them, and queries in other scripts.

Pinyin is generated from the Chinese name by pypinyin (its phrase dictionary picks the usual
reading of polyphonic characters); a curator who knows a name reads otherwise fills in the
`pinyin` field, which then is what pages show. For search, each organization and person keeps a
derived `pinyin_key`: the toneless, spaceless pinyin of each of its Chinese names, then their
initials, separated by spaces ("quanguozhengxiebangongting qgzxbgt ..."). A pinyin query is
folded the same way (tones, tone numbers, spaces, apostrophes and case dropped), so
"quánguó zhèngxié", "quan2guo2zheng4xie2", "zhengxie" and "qgzxbgt" all find 全国政协办公厅.
A folded query has no spaces, so it never matches across two parts of a key.

The key is written wherever the names are: the models' `save()` (the admin, the services) and
the CSV import's bulk writes; the fixture holds it. A history restore writes a version's key
back with the names it was made from (reversion saves raw), so the two still agree.
"""

from __future__ import annotations

import functools
import re
import unicodedata

from pypinyin import Style, lazy_pinyin

_LETTERS = re.compile(r"[^a-z]")
# What a typed pinyin query may hold: Latin letters with or without tone marks, tone numbers,
# spaces, apostrophes (xi'an) and hyphens.
_PINYIN_QUERY = re.compile(r"[A-Za-z\u00C0-\u024F\u0300-\u036F\u1E00-\u1EFF0-5' \-]+")
_HAN = re.compile(r"[\u3400-\u4DBF\u4E00-\u9FFF\uF900-\uFAFF\U00020000-\U0002FA1F]")


def has_han(text: str) -> bool:
    """Whether `text` holds a Chinese character."""
    return bool(_HAN.search(text))


def fold(text: str) -> str:
    """Latin text folded for pinyin matching: tone marks, digits, spaces and punctuation
    dropped, lower case ("Zhèngxié Bàn-gōng 2" -> "zhengxieban gong" without the space)."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return _LETTERS.sub("", "".join(c for c in decomposed if not unicodedata.combining(c)))


# pypinyin takes about 0.3 ms for a 20-character name (its phrase matching), and a page of
# search results or a key rewrite asks for the same names again and again: the readings of
# recent names are kept. A name's reading depends on nothing else, so they never go stale.
@functools.lru_cache(maxsize=20_000)
def _syllables(name: str, tones: bool) -> tuple[str, ...]:
    if tones:
        return tuple(lazy_pinyin(name, style=Style.TONE, v_to_u=True))
    return tuple(fold(s) for s in lazy_pinyin(name, v_to_u=True, errors="ignore"))


def pinyin_of(text: str) -> str:
    """The pinyin of `text` with tone marks, one syllable per word ("quán guó zhèng xié");
    what is not a Chinese character is kept as it is."""
    return " ".join(part.strip() for part in _syllables(text, True) if part.strip())


def pinyin_key(names: tuple[str, ...], override: str = "") -> str:
    """The search key of a record whose Chinese names are `names` and whose curated pinyin (of
    the first name) is `override`."""
    parts: list[str] = []
    if override:
        parts.append(fold(override))
    initials: list[str] = []
    for name in names:
        if not name:
            continue
        syllables = _syllables(name, False)
        parts.append("".join(syllables))
        initials.append("".join(s[:1] for s in syllables))
    return " ".join(dict.fromkeys(part for part in (*parts, *initials) if part))


def organization_pinyin_key(name_zh: str, short_name_zh: str, pinyin: str) -> str:
    return pinyin_key((name_zh, short_name_zh), pinyin)


def person_pinyin_key(name_zh: str, pinyin: str) -> str:
    return pinyin_key((name_zh,), pinyin)


def pinyin_query(text: str) -> str:
    """`text` folded as a pinyin query, or "" when it cannot be one (it holds other characters,
    or folds to nothing)."""
    if not _PINYIN_QUERY.fullmatch(text):
        return ""
    return fold(text)


@functools.cache
def _to_simplified():
    import opencc

    return opencc.OpenCC("t2s")


def simplified(text: str) -> str:
    """`text` with traditional characters written in simplified ones (OpenCC's t2s); text
    without Chinese characters comes back as it is."""
    return _to_simplified().convert(text) if has_han(text) else text
