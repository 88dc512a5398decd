"""The public, read-only pages."""

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from registry.models import Kind, Organization, OtherName, Post
from registry.views import HOME_PAGE_SIZE

from .html import outline

CPPCC_OFFICE = "/organizations/cppcc-general-office/"


def _page(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def test_home_lists_each_body_with_its_offices_and_their_counts(client, seeded):
    html = _page(client, "/")
    assert "National Committee of the Chinese People&#x27;s Political Consultative" in html
    assert "Standing Committee of the National People&#x27;s Congress" in html
    assert "17 departments · 8 directly affiliated institutions" in html
    assert "12 departments · 8 directly affiliated institutions" in html
    assert 'role="search"' in html


def test_home_shows_bodies_a_page_at_a_time_and_counts_everything(client, db):
    # Enough organizations for more current bodies than a page holds, and some ended.
    call_command("generate_registry", organizations=1500, people=10, seed=2, verbosity=0)
    every = Organization.objects.roots()
    roots = list(every.filter(Organization.objects.current_q()).order_by("tree_id"))
    assert HOME_PAGE_SIZE < len(roots) < every.count()  # some bodies of the sample have ended
    first, second = _page(client, "/"), _page(client, "/?page=2")
    assert "1500 organizations and 10 people in the registry" in first
    assert f"under {len(roots)} top-level bodies" in first
    assert f"under {every.count()} top-level bodies" in _page(client, "/?ended=1")
    assert first.count('<section class="body"') == HOME_PAGE_SIZE
    assert f'id="body-{roots[HOME_PAGE_SIZE - 1].pk}"' in first
    assert f'id="body-{roots[HOME_PAGE_SIZE].pk}"' in second
    assert f"{roots[0].get_descendant_count()} unit" in first
    assert '<a href="?page=2" rel="next">' in first
    assert '<a href="?page=1" rel="prev">' in second


def test_search_pages_keep_the_query(client, db):
    call_command("generate_registry", organizations=1000, people=10, seed=2, verbosity=0)
    first = _page(client, "/search/?q=%E5%A4%84")  # 处, in more than one page of names
    assert 'href="?q=%E5%A4%84&amp;page=2" rel="next"' in first
    second = _page(client, "/search/?q=%E5%A4%84&page=2")
    assert 'href="?q=%E5%A4%84&amp;page=1" rel="prev"' in second


@pytest.mark.parametrize("url", ["/", "/?page=2", "/search/?q=Division", "/search/?q=处"])
def test_home_and_search_queries_do_not_grow_with_the_registry(client, db, url):
    call_command("generate_registry", organizations=1000, people=10, seed=2, verbosity=0)
    small = _queries_for(client, url)
    call_command("generate_registry", organizations=3000, people=10, seed=8, verbosity=0)
    assert _queries_for(client, url) == small


def test_organization_page_nests_departments_and_lists_institutions_apart(client, seeded):
    html = _page(client, CPPCC_OFFICE)
    departments = outline(html, "departments")
    names = [name for name, _ in departments]
    assert names[:3] == [
        "Research Office",
        "Secretariat",
        "Office of the Committee for Handling Proposals",
    ]
    assert names[-1] == "Party Committee"
    assert departments[0][1] == (
        [
            ("Theoretical Bureau of the Research Office", []),
            ("Information Bureau of the Research Office", []),
            ("Office of the Research Office", []),
        ]
    )
    institutions = [name for name, _ in outline(html, "affiliated")]
    assert institutions[0] == "CPPCC Cadre Training Center"
    assert len(institutions) == 8
    assert not set(institutions) & set(names)


def test_organization_page_shows_facts_at_their_precision(client, seeded):
    html = _page(client, CPPCC_OFFICE)
    assert '<time datetime="1980-12-30">30 December 1980</time>' in html
    assert "No. 23 Taipingqiao Street, Xicheng District, Beijing" in html
    assert "(deputy ministerial-level)" in html
    assert "(Foreign Affairs Bureau of the General Office, eighth bureau)" in html
    predecessor = _page(client, "/organizations/cppcc-secretariat/")
    assert '<time datetime="1949-10">October 1949</time>' in predecessor


def test_organization_page_links_lineage_both_ways(client, seeded):
    assert 'href="/organizations/cppcc-secretariat/"' in _page(client, CPPCC_OFFICE)
    assert f'href="{CPPCC_OFFICE}"' in _page(client, "/organizations/cppcc-secretariat/")


def test_organization_page_lists_leaders_in_order_with_links(client, seeded):
    html = _page(client, CPPCC_OFFICE)
    order = [
        html.index(name) for name in ("Wang Dongfeng", "Zou Jiayi", "Li Huidong", "Han Dongmei")
    ]
    assert order == sorted(order)
    assert "Deputy Secretaries-General" in html
    assert 'href="/people/wang-dongfeng/"' in html


def test_breadcrumbs_lead_up_to_the_root(client, seeded):
    html = _page(client, "/organizations/cppcc-go-research-office-theoretical-bureau/")
    crumbs = html[html.index('aria-label="Breadcrumb"') : html.index("</nav>")]
    expected = [
        'href="/"',
        'href="/organizations/cppcc-national-committee/"',
        f'href="{CPPCC_OFFICE}"',
        'href="/organizations/cppcc-go-research-office/"',
        'aria-current="page"',
    ]
    positions = [crumbs.index(part) for part in expected]
    assert positions == sorted(positions)


def test_organization_page_cites_its_sources(client, seeded):
    html = _page(client, "/organizations/npcsc-go-research-office/")
    assert "<cite>General Office of the Standing Committee of the National People" in html


def test_person_page_lists_each_post_with_a_link(client, seeded):
    html = _page(client, "/people/liu-qi/")
    assert "Secretary-General" in html
    assert 'href="/organizations/npcsc-general-office/"' in html


def test_unknown_pages_are_not_found(client, seeded):
    assert client.get("/organizations/no-such-unit/").status_code == 404
    assert client.get("/people/nobody/").status_code == 404


def _search(client, query: str) -> str:
    return _page(client, f"{reverse('registry:search')}?q={query}")


def test_search_is_case_insensitive_and_covers_both_bodies(client, seeded):
    html = _search(client, "RESEARCH office")
    assert 'href="/organizations/cppcc-go-research-office/"' in html
    assert 'href="/organizations/npcsc-go-research-office/"' in html


def test_search_finds_second_names(client, seeded):
    html = _search(client, "letters and calls")
    assert 'href="/organizations/cppcc-go-liaison-bureau/"' in html
    assert 'href="/organizations/npcsc-go-letters-and-calls-bureau/"' in html


def test_search_finds_chinese_names(client, seeded):
    OtherName.objects.create(
        organization_id="cppcc-general-office",
        name="中国人民政治协商会议全国委员会办公厅",
        name_type=OtherName.Type.TRANSLATION,
        language="zh-Hans",
    )
    html = _search(client, "政治协商会议全国委员会")
    assert f'href="{CPPCC_OFFICE}"' in html


def test_search_finds_people(client, seeded):
    assert 'href="/people/ouyang-changqiong/"' in _search(client, "ouyang")


@pytest.mark.parametrize(
    "query", ["", "   ", "%25", "_", "%00", "x" * 5000, "<script>alert(1)</script>"]
)
def test_search_handles_empty_and_absurd_queries(client, seeded, query):
    response = client.get(f"/search/?q={query}")
    assert response.status_code == 200
    assert b"<script>alert" not in response.content


def test_search_explains_an_overlong_query(client, seeded):
    assert "too long" in _search(client, "x" * 201)


def test_search_treats_wildcards_literally(client, seeded):
    assert "0 organizations" in _search(client, "%25")


def _queries_for(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def test_organization_page_queries_do_not_grow_with_subtree_or_posts(
    client, make_org, make_holder
):
    institution = Kind.objects.get(pk="affiliated-institution")
    small = make_org("Small office")
    make_org("Department", parent=small)
    make_org("Institution", parent=small, kind=institution)
    small_post = Post.objects.create(organization=small, title="Head", position=1)
    make_holder(small_post)
    baseline = _queries_for(client, small.get_absolute_url())

    large = make_org("Large office")
    branches = [make_org(f"Branch {n}", parent=large) for n in range(10)]
    for n in range(190):
        parent = branches[n % 10]
        kind = institution if n % 7 == 0 else Kind.objects.get(pk="internal-department")
        unit = make_org(f"Unit {n}", parent=parent, kind=kind)
        OtherName.objects.create(organization=unit, name=f"bureau {n}", name_type="designation")
    large.refresh_from_db()
    assert large.get_descendant_count() == 200
    for title in ("Head", "Deputy"):
        post = Post.objects.create(organization=large, title=title)
        for position in range(25):
            make_holder(post, position)
    assert _queries_for(client, large.get_absolute_url()) == baseline


def test_pages_are_read_only(client, seeded):
    before = Organization.objects.count()
    assert client.post(CPPCC_OFFICE, {"name": "x"}).status_code == 405
    assert Organization.objects.count() == before


def test_search_results_say_where_each_unit_sits(client, seeded):
    html = _search(client, "theoretical")
    assert "Internal department, in Research Office · CPPCC" in html
