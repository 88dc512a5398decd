"""The admin in Chinese for curators who prefer it: under /zh-hans/admin/ the registry's own
labels (models, fields, help texts, choices, fieldsets) and its validation messages are in
Chinese, while /admin/ keeps the English ones word for word."""

from __future__ import annotations

import re
from html import unescape

from tests.conftest import admin_submit

OFFICE = "registry/organization/cppcc-general-office/change/"
PERSON = "registry/person/liu-qi/change/"
ORGANIZATIONS = "registry/organization/"


def _labels(html: str) -> set[str]:
    """The texts of the form's field labels, without the colon Django adds."""
    return {
        unescape(re.sub(r"<[^>]+>", "", text)).strip().rstrip(":：")  # noqa: RUF001
        for text in re.findall(r"<label\b[^>]*>(.*?)</label>", html, flags=re.S)
    }


def _headings(html: str) -> set[str]:
    """The fieldsets' and inlines' headings."""
    return {
        unescape(re.sub(r"<[^>]+>", "", text)).strip()
        for text in re.findall(r"<h2\b[^>]*>(.*?)</h2>", html, flags=re.S)
    }


def _page(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


# English labels of the organization form, as /admin/ shows them.
ORGANIZATION_LABELS = {
    "Identifier": "标识符",
    "Parent": "上级机构",
    "Name": "名称",
    "Chinese name": "中文名称",
    "Chinese short form": "中文简称",
    "Pinyin": "拼音",
    "Kind": "类别",
    "Rank": "行政级别",
    "Type": "机构性质",
    "Location": "地址",
    "Formation": "成立日期",
    "Dissolution": "撤销日期",
    "Summary": "概况",
    "History": "沿革",
    "Functions": "职能",
}
ORGANIZATION_HELP = {
    "Official English name.": "正式英文名称。",
    "Administrative rank (行政级别), when known.": "行政级别（已知时填写）。",  # noqa: RUF001
    "ISO 8601 at the precision known: 1949, 1949-10 or 1980-12-30.": (
        "ISO 8601 格式，精确到已知的程度：1949、1949-10 或 1980-12-30。"  # noqa: RUF001
    ),
}
PERSON_LABELS = {"Name": "姓名", "Chinese name": "中文姓名", "Pinyin": "拼音", "Note": "备注"}


def test_the_organization_form_is_in_chinese_under_zh_hans(editor_client, seeded):
    html = _page(editor_client, f"/zh-hans/admin/{OFFICE}")
    labels = _labels(html)
    assert set(ORGANIZATION_LABELS.values()) <= labels
    assert not set(ORGANIZATION_LABELS) & labels
    for english, chinese in ORGANIZATION_HELP.items():
        assert chinese in html
        assert english not in html
    assert {"信息框", "正文"} <= _headings(html)
    assert not {"Infobox", "Article"} & _headings(html)
    # The inline of other names: its heading, its columns and its choices.
    assert "其他名称" in _headings(html)
    assert "第二名称（一个机构两块牌子）" in html  # noqa: RUF001
    assert "Second official name (one organization, two nameplates)" not in html
    assert "<h1>修改 机构</h1>" in html


def test_the_organization_form_keeps_its_english_labels_under_admin(editor_client, seeded):
    html = _page(editor_client, f"/admin/{OFFICE}")
    labels = _labels(html)
    assert set(ORGANIZATION_LABELS) <= labels
    assert not set(ORGANIZATION_LABELS.values()) & labels
    for english in ORGANIZATION_HELP:
        assert english in html
    assert {"Infobox", "Article", "Other names"} <= _headings(html)
    assert "Second official name (one organization, two nameplates)" in html
    assert "<h1>Change organization</h1>" in html


def test_the_person_form_is_in_chinese_under_zh_hans(editor_client, seeded):
    html = _page(editor_client, f"/zh-hans/admin/{PERSON}")
    labels = _labels(html)
    assert set(PERSON_LABELS.values()) <= labels
    assert not set(PERSON_LABELS) & labels
    assert "中文姓名的拼音" in html
    assert "Pinyin of the Chinese name" not in html
    english = _page(editor_client, f"/admin/{PERSON}")
    assert set(PERSON_LABELS) <= _labels(english)
    assert "Pinyin of the Chinese name, with tone marks" in english


def _columns(html: str) -> set[str]:
    return {
        unescape(re.sub(r"<[^>]+>", "", text)).strip()
        for text in re.findall(r'<th scope="col"[^>]*>(.*?)</th>', html, flags=re.S)
    } - {""}


def test_the_organization_list_is_in_chinese_under_zh_hans(editor_client, seeded):
    html = _page(editor_client, f"/zh-hans/admin/{ORGANIZATIONS}")
    english = _page(editor_client, f"/admin/{ORGANIZATIONS}")
    assert "选择 机构 来修改" in html
    assert "Select organization to change" in english
    columns = {"Reorder": "调整顺序", "Kind": "类别", "Rank": "行政级别", "Formation": "成立日期"}
    assert set(columns) <= _columns(english)
    assert set(columns.values()) <= _columns(html)
    assert not set(columns) & _columns(html)
    assert 'data-filter-title="类别"' in html  # the filter of kinds
    assert 'data-filter-title="kind"' in english


def test_the_admin_index_names_the_models_in_chinese(editor_client, seeded):
    html = _page(editor_client, "/zh-hans/admin/")
    for chinese in ("机构", "人员", "职务", "变更事件", "来源", "类别", "行政级别"):
        assert f">{chinese}</a>" in html, chinese
    assert ">People</a>" in _page(editor_client, "/admin/")
    assert ">People</a>" not in html


def test_validation_messages_are_in_chinese_under_zh_hans(editor_client, seeded):
    response = admin_submit(editor_client, f"/zh-hans/admin/{OFFICE}", dissolved="1970")
    html = response.content.decode()
    assert response.status_code == 200
    assert "撤销日期（1970年）早于成立日期（1980年12月30日）。" in html  # noqa: RUF001
    response = admin_submit(editor_client, f"/zh-hans/admin/{OFFICE}", formed="1980-13")
    assert "“1980-13”有误：没有 13 月。" in response.content.decode()  # noqa: RUF001
    english = admin_submit(editor_client, f"/admin/{OFFICE}", dissolved="1970")
    assert (
        "The dissolution date (1970) is before the formation date (30 December 1980)."
        in english.content.decode()
    )
