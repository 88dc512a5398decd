"""Chinese names beside the English ones, through the paths readers and curators take: public
pages over HTTP in both languages, the admin's forms, CSV out and back in."""

from __future__ import annotations

import re

from django.core.management import call_command

from registry.models import Organization, OtherName, Person
from registry.names import organization_pinyin_key, person_pinyin_key

from .conftest import admin_submit
from .csvtools import export_text, parse, write

GO = "cppcc-general-office"
RESEARCH = "cppcc-go-research-office"


def _page(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, url
    return response.content.decode()


def _h1(html: str) -> str:
    return re.search(r"<h1>(.*?)</h1>", html, re.S).group(1)


def test_an_english_page_shows_the_chinese_name_short_form_and_pinyin_beside_the_title(
    client, seeded
):
    html = _page(client, f"/organizations/{GO}/")
    assert _h1(html) == (
        "General Office of the National Committee of the Chinese People&#x27;s Political "
        "Consultative Conference"
    )
    names = re.search(r'<p class="names-other">(.*?)</p>', html, re.S).group(1)
    assert '<span lang="zh-Hans">中国人民政治协商会议全国委员会办公厅</span>' in names
    assert '<span lang="zh-Hans">全国政协办公厅</span>' in names
    assert "zhōng guó rén mín zhèng zhì xié shāng huì yì" in names


def test_a_chinese_page_puts_the_chinese_name_first_and_the_english_beside_it(client, seeded):
    html = _page(client, f"/zh-hans/organizations/{RESEARCH}/")
    assert _h1(html) == "研究室"
    assert '<span lang="en">Research Office</span>' in html
    # Breadcrumbs: each ancestor in Chinese, linked, with its English name beside.
    crumbs = re.search(r'<nav class="breadcrumbs".*?</nav>', html, re.S).group(0)
    assert (
        f'<a href="/zh-hans/organizations/{GO}/">中国人民政治协商会议全国委员会办公厅</a>'
        in crumbs
    )
    assert '<span class="name-other" lang="en">General Office of the National' in crumbs


def test_a_unit_without_a_chinese_name_shows_its_english_name_on_a_chinese_page(client, seeded):
    unit = Organization.objects.get(pk="cppcc-go-research-office-theoretical-bureau")
    assert unit.name_zh == ""
    html = _page(client, f"/zh-hans/organizations/{unit.pk}/")
    assert _h1(html) == "Theoretical Bureau of the Research Office"
    assert 'class="names-other"' not in html


def test_the_departments_tree_and_the_chart_show_both_names(client, seeded):
    html = _page(client, f"/organizations/{GO}/")
    tree = re.search(r'<section aria-labelledby="departments">.*?</section>', html, re.S).group(0)
    assert (
        f'<a href="/organizations/{RESEARCH}/">Research Office</a> '
        '<span class="name-other" lang="zh-Hans">研究室</span>'
    ) in tree
    chart = _page(client, f"/organizations/{GO}/chart.svg")
    assert 'aria-label="Research Office 研究室"' in chart
    assert ">研究室</tspan>" in chart
    chinese_chart = _page(client, f"/zh-hans/organizations/{GO}/chart.svg")
    assert 'aria-label="研究室 Research Office"' in chinese_chart


def test_home_and_search_results_show_both_names(client, seeded):
    home = _page(client, "/")
    assert '<span class="name-other" lang="zh-Hans">中国人民政治协商会议全国委员会</span>' in home
    results = _page(client, "/search/?q=Research+Office")
    assert '<span class="name-other" lang="zh-Hans">研究室</span>' in results


def test_a_person_page_shows_the_chinese_name_and_its_pinyin(client, seeded):
    html = _page(client, "/people/wang-dongfeng/")
    assert _h1(html) == "Wang Dongfeng"
    assert '<span lang="zh-Hans">王东峰</span>' in html
    assert "wáng dōng fēng" in html
    assert _h1(_page(client, "/zh-hans/people/wang-dongfeng/")) == "王东峰"


def test_a_dated_page_shows_the_chinese_name_of_that_date(client, seeded):
    OtherName.objects.create(
        organization_id=GO,
        name="测试用曾用名办公厅",
        name_type=OtherName.Type.FORMER_NAME,
        language="zh-Hans",
        start="1980-12-30",
        end="1990",
    )
    then = _page(client, f"/zh-hans/organizations/{GO}/?on=1985")
    assert _h1(then) == "测试用曾用名办公厅"
    # The English name of that date is still today's: English former names are read apart.
    assert "General Office of the National Committee" in then
    assert _h1(_page(client, f"/zh-hans/organizations/{GO}/?on=1995")) == (
        "中国人民政治协商会议全国委员会办公厅"
    )


def test_a_curators_pinyin_replaces_the_generated_one_and_the_search_key(editor_client, seeded):
    url = f"/admin/registry/organization/{RESEARCH}/change/"
    form = editor_client.get(url).content.decode()
    for field in ("name_zh", "short_name_zh", "pinyin"):
        assert f'name="{field}"' in form
    response = admin_submit(editor_client, url, pinyin="Yánjiūshì (curated)")
    assert response.status_code == 302
    unit = Organization.objects.get(pk=RESEARCH)
    assert unit.pinyin_key == organization_pinyin_key("研究室", "", "Yánjiūshì (curated)")
    assert unit.pinyin_key.startswith("yanjiushicurated ")
    assert (
        "Yánjiūshì (curated)" in editor_client.get(f"/organizations/{RESEARCH}/").content.decode()
    )


def test_a_person_saved_in_the_admin_gets_the_search_key_of_the_chinese_name(
    editor_client, seeded
):
    url = "/admin/registry/person/han-dongmei/change/"
    assert admin_submit(editor_client, url, name_zh="韩冬梅").status_code == 302
    assert Person.objects.get(pk="han-dongmei").pinyin_key == person_pinyin_key("韩冬梅", "")
    assert Person.objects.get(pk="han-dongmei").pinyin_key == "handongmei hdm"


def test_csv_carries_chinese_names_out_and_back_and_writes_the_search_key(seeded, tmp_path):
    rows = parse(export_text())
    research = next(row for row in rows if row["id"] == RESEARCH)
    assert (research["name_zh"], research["short_name_zh"], research["pinyin"]) == (
        "研究室",
        "",
        "",
    )
    research["name_zh"], research["short_name_zh"] = "政协研究室", "研究室"
    path = tmp_path / "organizations.csv"
    path.write_bytes(write(rows))
    call_command("import_registry", "organizations", str(path))
    unit = Organization.objects.get(pk=RESEARCH)
    assert (unit.name_zh, unit.short_name_zh) == ("政协研究室", "研究室")
    assert unit.pinyin_key == "zhengxieyanjiushi yanjiushi zxyjs yjs"
    # Export again: what was imported comes back unchanged.
    assert parse(export_text()) == rows


def test_a_file_without_the_chinese_columns_leaves_chinese_names_as_they_are(seeded, tmp_path):
    rows = [
        {key: row[key] for key in ("id", "parent", "name", "kind", "rank")}
        for row in parse(export_text())
    ]
    path = tmp_path / "organizations.csv"
    path.write_bytes(write(rows))
    call_command("import_registry", "organizations", str(path))
    assert Organization.objects.get(pk=GO).short_name_zh == "全国政协办公厅"
    assert Organization.objects.get(pk=GO).pinyin_key.endswith(" qgzxbgt")


def test_search_results_come_in_pinyin_order_on_a_chinese_page(client, seeded):
    html = _page(client, "/zh-hans/search/?q=Office")
    firsts = re.findall(r'<li><a href="/zh-hans/organizations/[^"]+/"[^>]*>([^<]+)</a>', html)
    chinese = [name for name in firsts if re.match(r"[\u4e00-\u9fff]", name)]
    keys = [Organization.objects.filter(name_zh=name)[0].pinyin_key for name in chinese]
    assert len(chinese) >= 3 and keys == sorted(keys)
    # Units without a Chinese name come after, in English order.
    english = firsts[len(chinese) :]
    assert english and english == sorted(english)
    assert firsts[: len(chinese)] == chinese


def test_a_result_shows_the_name_the_query_matched_in_its_language(client, seeded):
    # The short form matched: shown beside the names, marked as Chinese.
    html = _page(client, "/search/?q=全国政协办公厅")
    assert '<mark lang="zh-Hans">全国政协办公厅</mark>' in html
    # Pinyin matched: the pinyin of the Chinese name is shown.
    html = _page(client, "/search/?q=qgzxbgt")
    assert '<mark lang="zh-Latn-pinyin">quán guó zhèng xié bàn gōng tīng</mark>' in html
    # A query matching the name on the line adds nothing.
    html = _page(client, "/search/?q=研究室")
    assert "<mark" not in html
    # People too.
    assert '<mark lang="zh-Latn-pinyin">wáng dōng fēng</mark>' in _page(client, "/search/?q=wdf")


def test_the_longest_chinese_names_and_pinyin_save_and_are_found(editor_client, seeded):
    # 庄 reads "zhuang", pinyin's longest syllable: the search key of names at their limits.
    url = f"/admin/registry/organization/{RESEARCH}/change/"
    response = admin_submit(
        editor_client, url, name_zh="庄" * 300, short_name_zh="床" * 100, pinyin="x" * 500
    )
    assert response.status_code == 302
    unit = Organization.objects.get(pk=RESEARCH)
    assert unit.name_zh == "庄" * 300
    assert len(unit.pinyin_key) > 2000
    assert RESEARCH in _page(editor_client, "/search/?q=chuangchuang")
    person = admin_submit(
        editor_client,
        "/admin/registry/person/han-dongmei/change/",
        name_zh="庄" * 100,
        pinyin="x" * 300,
    )
    assert person.status_code == 302
    assert Person.objects.get(pk="han-dongmei").name_zh == "庄" * 100


def test_hostile_chinese_names_are_shown_as_text(client, seeded):
    hostile = '<script>alert("名")</script>&amp;'
    Organization.objects.filter(pk=RESEARCH).update(name_zh=hostile, short_name_zh=hostile)
    for url in (
        f"/organizations/{GO}/",
        f"/organizations/{RESEARCH}/",
        f"/zh-hans/organizations/{RESEARCH}/",
        f"/organizations/{GO}/chart.svg",
        "/search/?q=Research",
    ):
        html = _page(client, url)
        assert "<script>alert" not in html, url
        assert "&lt;script&gt;alert" in html, url
