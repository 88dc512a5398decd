"""docs/csv.md's column tables, generated from the declarations in registry/schema.py.

Each table stands between `<!-- columns: NAME -->` and `<!-- end columns -->`; everything else
in the file is written by hand. `manage.py csv_docs` rewrites the tables; a test fails while
the file and the declarations disagree.
"""

from __future__ import annotations

import re
from pathlib import Path

from django.conf import settings

from registry.schema import DATASETS, markdown_table

DOCUMENT = Path(settings.BASE_DIR) / "docs" / "csv.md"
_TABLE = re.compile(r"(<!-- columns: (\w+) -->\n)(.*?)(<!-- end columns -->)", re.DOTALL)


def with_tables(text: str) -> str:
    """`text` with each marked table replaced by the one its dataset's declarations give."""

    def table(match: re.Match) -> str:
        return match[1] + markdown_table(DATASETS[match[2]]) + match[4]

    return _TABLE.sub(table, text)


def marked_datasets(text: str) -> list[str]:
    return [match[2] for match in _TABLE.finditer(text)]
