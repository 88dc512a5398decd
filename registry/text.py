"""Text as XML can carry it."""

from __future__ import annotations

import re

# What XML 1.0 allows in a document: tab, newline, carriage return and everything from space
# up, but the surrogates and U+FFFE/U+FFFF. A curator's name may hold anything else (names are
# kept exactly as given), so what XML cannot carry is shown as U+FFFD when it is written out.
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(text: str) -> str:
    """`text` with each character XML 1.0 cannot carry replaced by U+FFFD (the stored text is
    not changed: this is for writing XML out)."""
    return _NOT_XML.sub("\ufffd", text)
