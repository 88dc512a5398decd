"""The CSV contract's low-level rules, shared by import and export (docs/csv.md describes them).

- Reading bytes: UTF-8 (with or without the BOM Excel writes), UTF-16 with a BOM, and
  GB18030/GBK (what Chinese-locale Excel writes) when the bytes can only be Chinese text;
  anything else must be named by the caller (see `decode`).
- Spreadsheet formula injection: a cell that a spreadsheet would run as a formula gets a leading
  apostrophe on export, which the importer removes again, so the round trip is lossless.
- Multi-valued cells (other names, sources, predecessors) hold one JSON array.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

# Excel, LibreOffice and Google Sheets treat a cell starting with these as a formula.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
ESCAPE = "'"

DETECTED_ENCODINGS = ("utf-8", "gb18030")

# Python's csv module refuses cells over 131,072 characters by default, but the admin accepts
# any length in the free-text fields (TextField), so an export could not be imported back. A
# cell can never be longer than its file, which is in memory whole anyway; the limits that
# matter are the models', checked per column with the line and column (imports/checks.py).
_FIELD_SIZE_LIMIT = sys.maxsize
while True:
    try:
        csv.field_size_limit(_FIELD_SIZE_LIMIT)
        break
    except OverflowError:  # a C long narrower than Python's maxsize (Windows)
        _FIELD_SIZE_LIMIT //= 2

# What a GB18030 reading of a file may contain besides ASCII for the encoding to be certain:
# Chinese characters and the punctuation, symbols and full-width forms of Chinese text. A file
# in a single-byte encoding (cp1252, latin-1) usually also "decodes" as GB18030, into
# ideographs mixed with Latin-1 letters, Greek or Cyrillic (`Z黵ich Stra遝`): those refuse.
_CHINESE_TEXT = re.compile(
    "[^\x00-\x7f"
    "\u00a4\u00a7\u00a8\u00b0\u00b1\u00b7\u00d7\u00f7"  # symbols GB2312 holds
    "\u2010-\u206f"  # general punctuation: dashes, quotes, ellipsis
    "\u2100-\u218f"  # letterlike symbols, Roman numerals (℃, №, Ⅷ)
    "\u2190-\u23ff\u2460-\u27bf"  # arrows, maths, circled numbers, box drawing, shapes
    "\u2e80-\u2fdf"  # CJK radicals
    "\u3000-\u33ff"  # CJK punctuation, kana, bopomofo, enclosed and compatibility forms
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # ideographs
    "\ufe10-\ufe1f\ufe30-\ufe4f\uff00-\uffef"  # vertical, compatibility, full-width forms
    "\U00020000-\U0003134f"  # ideographs beyond the BMP
    "]"
)
# A GB18030 two-byte character whose second byte is ASCII (0x40-0x7e) is what a single-byte
# file's accented letter followed by a plain letter looks like (cp1252 `ü` + `r` reads as `黵`).
# Removing, from the start, every four-byte sequence and every two-byte sequence of two high
# bytes leaves a high byte exactly when the file holds such a pair.
_GB18030_HIGH_SEQUENCES = re.compile(
    rb"[\x81-\xfe][\x30-\x39][\x81-\xfe][\x30-\x39]|[\x81-\xfe][\x80-\xfe]"
)
_HIGH_BYTE = re.compile(rb"[\x80-\xff]")
_REPLACEMENT_UTF8 = "\ufffd".encode()
_WIDE_CHARACTER = re.compile("[\u0800-\U0010ffff]")
LONE_SURROGATE = re.compile("[\ud800-\udfff]")
# What a header of one column holds when the file is not comma-separated: Excel's `sep=;`
# line, or the separator European locales save with.
_OTHER_SEPARATOR = re.compile(r"\Asep=.*|[;\t|]")
_SEPARATOR_NAMES = {";": "semicolons", "\t": "tabs", "|": "vertical bars"}

ENCODING_HELP = (
    "Save it as UTF-8 (“CSV UTF-8” in Excel), or name its encoding (for example "
    "--encoding cp1252 or --encoding gb18030 on the command line)."
)


class CSVFormatError(ValueError):
    """The file as a whole cannot be read (encoding, structure): nothing in it was used."""


# What a cell that needs an escape starts with: a trigger, or the escape character itself.
_ESCAPE_FIRST = frozenset((*FORMULA_TRIGGERS, ESCAPE))


def escape_formula(value: str) -> str:
    """Neutralise a cell a spreadsheet would evaluate, reversibly (see `unescape_formula`).

    A value that already starts with the escape character followed by a trigger or another
    escape character is escaped too, so that unescaping never eats a real apostrophe.
    """
    first = value[:1]
    if first not in _ESCAPE_FIRST:  # nearly every cell: one set lookup (export speed)
        return value
    if first != ESCAPE or value[1:2] in _ESCAPE_FIRST:
        return ESCAPE + value
    return value


def unescape_formula(value: str) -> str:
    if value[:1] == ESCAPE and value[1:2] in _ESCAPE_FIRST:
        return value[1:]
    return value


def _text_codec(encoding: str) -> str:
    """The codec's canonical name; refuses names that are not text encodings."""
    try:
        info = codecs.lookup(encoding)
    except (LookupError, ValueError, TypeError) as error:
        raise CSVFormatError(f"Unknown encoding “{encoding}”. {ENCODING_HELP}") from error
    # rot13, hex, base64, zlib...: codecs between str and str or bytes and bytes.
    if not getattr(info, "_is_text_encoding", True):
        raise CSVFormatError(
            f"“{encoding}” is not a text encoding (it transforms data, it does not decode "
            f"text). {ENCODING_HELP}"
        )
    return info.name


def _certainly_chinese(data: bytes, text: str) -> bool:
    """Whether bytes that decoded as GB18030 can only be GB18030 (see `_CHINESE_TEXT`)."""
    if _CHINESE_TEXT.search(text):
        return False
    return not _HIGH_BYTE.search(_GB18030_HIGH_SEQUENCES.sub(b"", data))


def _damaged_utf8(data: bytes, error: UnicodeDecodeError) -> bool:
    """Whether bytes that are not valid UTF-8 are UTF-8 text all the same, damaged: cut off in
    the middle of a character, or holding at least twice as many well-formed characters from
    U+0800 up (Chinese takes three bytes in UTF-8) as malformed sequences. Read as GB18030,
    a UTF-8 file of Chinese names with one byte missing gives Chinese-looking mojibake (`涓讳`
    for `主也`) often enough to pass `_certainly_chinese`; GBK text read as UTF-8 gives
    almost only malformed bytes and two-byte characters, so real GB18030 files still pass."""
    if error.reason == "unexpected end of data":
        return True
    lenient = data.decode("utf-8", "replace")
    replaced = lenient.count("\ufffd")
    malformed = replaced - data.count(_REPLACEMENT_UTF8)
    wide = sum(1 for _ in _WIDE_CHARACTER.finditer(lenient)) - replaced
    return wide >= 2 * malformed


# Every other byte NUL: UTF-16 (of mostly Latin text) without its byte-order mark.
UTF16_HINT = (
    " The file looks like UTF-16 without a byte-order mark: save it as UTF-8, or "
    "name its encoding (--encoding utf-16-le or utf-16-be)."
)


def decode(data: bytes, encoding: str | None = None) -> tuple[str, str]:
    """Return (text, encoding used).

    Without `encoding`, only what is certain: a BOM (UTF-8, UTF-16), strict UTF-8, or
    GB18030 when every non-ASCII character is Chinese text and no byte pair could be a
    single-byte encoding's letter followed by ASCII (`_certainly_chinese`). Anything else is
    refused, asking for the encoding to be named: a wrong guess would be stored as mojibake.
    """
    if encoding:
        candidates: tuple[str, ...] = (_text_codec(encoding),)
    elif data.startswith(codecs.BOM_UTF8):
        candidates = ("utf-8-sig",)
    elif data.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        candidates = ("utf-32",)
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        candidates = ("utf-16",)
    else:
        candidates = DETECTED_ENCODINGS
    failure: UnicodeError | None = None
    for candidate in candidates:
        try:
            text = data.decode(candidate)
        except UnicodeError as error:  # also codecs (idna, undefined) that raise its base
            failure = failure or error
            if (
                candidate == "utf-8"
                and not encoding
                and isinstance(error, UnicodeDecodeError)
                and _damaged_utf8(data, error)
            ):
                line = data[: error.start].count(b"\n") + 1
                raise CSVFormatError(
                    f"The file is UTF-8 with damaged bytes: undecodable bytes on line {line} "
                    f"(byte {error.start + 1}); it was not read as another encoding, which "
                    f"would store garbled text. {ENCODING_HELP}"
                ) from error
            continue
        except (LookupError, ValueError, TypeError) as error:
            raise CSVFormatError(
                f"The file cannot be decoded as {candidate} ({error}). {ENCODING_HELP}"
            ) from error
        if candidate == "gb18030" and not encoding and not _certainly_chinese(data, text):
            raise CSVFormatError(
                "The file's encoding is not certain: it is not UTF-8, and read as GB18030 "
                "it gives characters that Chinese text does not hold (a file saved in a "
                f"Western encoding such as cp1252 reads like that). {ENCODING_HELP}"
            )
        if text.startswith("\ufeff"):
            text = text[1:]
        return text, candidate
    assert failure is not None
    tried = " or ".join(candidates)
    if not encoding and data.count(b"\x00") * 4 > len(data):
        # UTF-16 of text with Chinese in it is not valid UTF-8, unlike UTF-16 of ASCII.
        raise CSVFormatError(f"The file is not valid {tried}.{UTF16_HINT}")
    if isinstance(failure, UnicodeDecodeError):
        line = data[: failure.start].count(b"\n") + 1
        where = f": undecodable bytes on line {line} (byte {failure.start + 1})"
    else:
        where = f" ({failure})"
    raise CSVFormatError(f"The file is not valid {tried}{where}. {ENCODING_HELP}")


@dataclass(frozen=True)
class Record:
    """One data row: `line` is where it starts in the file (the header is line 1); `row` is
    the spreadsheet row number (header row 1), which differs once a cell spans several lines."""

    line: int
    row: int
    values: dict[str, str]
    cells: int  # how many cells the row has; the importer refuses rows unlike the header

    @property
    def where(self) -> str:
        if self.line == self.row:
            return f"line {self.line}"
        return f"line {self.line} (spreadsheet row {self.row})"


def read_records(text: str) -> tuple[list[str], list[Record]]:
    """Parse CSV text into its header and records, with formula escapes removed.

    Rows with fewer or more cells than the header are returned as they are (`Record.cells`
    says how many), for the importer to refuse with the rest of the file's problems."""
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        hint = UTF16_HINT if text.count("\x00") * 3 > len(text) else ""
        raise CSVFormatError(
            f"Line {line} contains a NUL character, which no cell may hold.{hint}"
        )
    # Only a named codec such as unicode_escape can produce these; no database stores them.
    if surrogate := LONE_SURROGATE.search(text):
        line = text[: surrogate.start()].count("\n") + 1
        raise CSVFormatError(
            f"Line {line} contains a lone surrogate (U+{ord(surrogate.group()):04X}), "
            "which is not a character."
        )
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
        # Blank lines before the header are ignored too, and so is Excel's `sep=,` line (which
        # says that the separator is a comma).
        while header in ([], ["sep=", ""]):
            header = next(reader, None)
        if header is None:
            raise CSVFormatError("The file is empty: it needs a header row.")
        if len(header) == 1 and (separator := _OTHER_SEPARATOR.search(header[0])):
            character = separator.group().removeprefix("sep=")
            raise CSVFormatError(
                f"Line {reader.line_num}: the header is a single column, and the file seems "
                f"to be separated by {_SEPARATOR_NAMES.get(character, f'“{character}”')} "
                "rather than commas. Save it as comma-separated CSV (“CSV UTF-8 (Comma "
                "delimited)” in Excel)."
            )
        header = [name.strip() for name in header]
        records = []
        line = reader.line_num + 1
        for row_number, cells in enumerate(reader, start=2):
            # Only rows with no text at all are blank; a row of spaces is read (and refused).
            if any(cells):
                values = {
                    name: unescape_formula(cell) for name, cell in zip(header, cells, strict=False)
                }
                records.append(Record(line=line, row=row_number, values=values, cells=len(cells)))
            line = reader.line_num + 1
    except csv.Error as error:
        raise CSVFormatError(f"Line {reader.line_num}: the CSV is malformed ({error}).") from error
    return header, records


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_lines(header: Iterable[str], rows: Iterable[Iterable[str]]) -> Iterator[str]:
    """Yield the CSV text line by line (for streaming), formula-escaped, with CRLF endings."""
    writer = csv.writer(_Echo(), lineterminator="\r\n")
    yield writer.writerow(list(header))
    for row in rows:
        # The first-character test inline: almost no cell needs escaping, and at 1.6 million
        # cells per 100,000 organizations a call per cell shows in the export's time.
        yield writer.writerow(
            [escape_formula(cell) if cell[:1] in _ESCAPE_FIRST else cell for cell in row]
        )


# Made once: `json.dumps` with options builds a new encoder on every call.
_LIST_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(", ", ": "), check_circular=False)


def dump_list(items: list) -> str:
    """A multi-valued cell: empty for no values, else a compact JSON array (UTF-8, unescaped)."""
    if not items:
        return ""
    return _LIST_ENCODER.encode(items)


def _unique_keys(pairs: list[tuple[str, object]]) -> dict:
    result = dict(pairs)
    if len(result) != len(pairs):
        keys = [key for key, _ in pairs]
        twice = sorted({key for key in keys if keys.count(key) > 1})
        # json.loads would keep the last value and drop the others without a word.
        raise ValueError(f"an object gives the key {', '.join(twice)} twice")
    return result


_LIST_DECODER = json.JSONDecoder(object_pairs_hook=_unique_keys)


def load_list(cell: str) -> list:
    """Read a multi-valued cell; raise ValueError with a plain reason when it is not an array."""
    if not cell:
        return []
    if not cell.strip():
        raise ValueError("holds only spaces; leave it empty for none")
    try:
        value = _LIST_DECODER.decode(cell)
    except json.JSONDecodeError as error:
        raise ValueError(
            f"is not a JSON array ({error.msg} at character {error.pos + 1}); "
            'write e.g. [{"type": "abbreviation", "name": "CPPCC"}]'
        ) from error
    except RecursionError as error:
        raise ValueError("is nested too deeply: an array of flat objects is expected") from error
    except ValueError as error:  # duplicate keys; numbers too long to convert
        raise ValueError(f"is not a usable JSON array ({error})") from error
    if not isinstance(value, list):
        raise ValueError("must be a JSON array: [ ... ]")
    return value
