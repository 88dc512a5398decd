"""Encodings, formula neutralising and multi-valued cells: what spreadsheets do to CSV."""

import codecs

import pytest

from registry.csvcodec import CSVFormatError, decode, escape_formula, unescape_formula
from registry.imports import import_organizations
from registry.models import Organization, OtherName

from .csvtools import export_text, parse, write

CHINESE = {
    "id": "cppcc-go-zh-unit",
    "parent": "cppcc-general-office",
    "name": "全国政协办公厅研究室",
    "kind": "internal-department",
    "rank": "",
    "other_names": '[{"type": "abbreviation", "name": "研究室, “政协”; 办公厅"}]',
}


def _csv_text() -> str:
    return write([CHINESE]).decode()


@pytest.mark.parametrize(
    "encoded",
    [
        pytest.param(lambda text: text.encode("utf-8"), id="utf-8"),
        pytest.param(lambda text: codecs.BOM_UTF8 + text.encode("utf-8"), id="utf-8 with BOM"),
        pytest.param(lambda text: text.encode("gb18030"), id="gb18030"),
        pytest.param(lambda text: text.encode("gbk"), id="gbk"),
        pytest.param(lambda text: text.encode("utf-16"), id="utf-16 with BOM"),
    ],
)
def test_chinese_text_is_read_correctly_in_every_spreadsheet_encoding(seeded, encoded):
    report = import_organizations(encoded(_csv_text()))
    assert report.ok, report.problems
    assert Organization.objects.get(pk="cppcc-go-zh-unit").name == "全国政协办公厅研究室"
    assert OtherName.objects.get(organization="cppcc-go-zh-unit").name == "研究室, “政协”; 办公厅"


def test_an_encoding_can_be_named(seeded):
    data = write([CHINESE | {"name": "臺灣事務局", "other_names": ""}]).decode().encode("big5")
    assert import_organizations(data, encoding="big5").ok
    assert Organization.objects.get(pk="cppcc-go-zh-unit").name == "臺灣事務局"


def test_undecodable_bytes_are_refused_with_a_clear_message_and_nothing_written(seeded):
    data = _csv_text().encode("utf-8") + b"\xff\xfe\xfa,broken\r\n"
    report = import_organizations(data, encoding="utf-8")
    assert not report.ok
    assert "not valid utf-8: undecodable bytes on line 3" in str(report.problems[0])
    assert not Organization.objects.filter(pk="cppcc-go-zh-unit").exists()


def test_detection_refuses_bytes_that_are_neither_utf8_nor_gb18030():
    with pytest.raises(CSVFormatError, match="not valid utf-8 or gb18030"):
        decode(b"id\r\n\x81\x30\x81")


def test_unknown_encoding_name_is_refused():
    with pytest.raises(CSVFormatError, match="Unknown encoding “klingon”"):
        decode(b"id", "klingon")


DANGEROUS = ["=1+1", "==HYPERLINK()", "+33 1", "-5", "@SUM(A1)", "\tx", "\rx", "'=x", "''", "'a"]


@pytest.mark.parametrize("value", DANGEROUS)
def test_formula_escaping_is_reversible(value):
    escaped = escape_formula(value)
    assert not escaped.startswith(("=", "+", "-", "@", "\t", "\r"))
    assert unescape_formula(escaped) == value


def test_a_plain_leading_apostrophe_is_kept_as_typed():
    assert unescape_formula("'s-Hertogenbosch") == "'s-Hertogenbosch"


def test_exported_formulas_are_neutralised_and_import_restores_them(seeded):
    organization = Organization.objects.get(pk="npcsc-go-secretariat")
    organization.name = '=HYPERLINK("http://x")'
    organization.location = "-1 Floor"
    organization.save()
    text = export_text()
    row = next(r for r in parse(text) if r["id"] == "npcsc-go-secretariat")
    assert row["name"] == '\'=HYPERLINK("http://x")'
    assert row["location"] == "'-1 Floor"
    report = import_organizations(text.encode())
    assert report.changed == 0
    assert Organization.objects.get(pk="npcsc-go-secretariat").name == '=HYPERLINK("http://x")'
