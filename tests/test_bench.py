"""The benchmark's own checks and parsing (the benchmark itself runs in CI at a small size)."""

from __future__ import annotations

import re

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from devtools import synthetic
from devtools.management.commands.bench import (
    SEARCHES,
    dated_subject,
    parse_wrk,
    search_candidates,
    tree_valid,
)
from registry.models import Organization, Placement
from registry.names import has_han, pinyin_query

WRK_OUTPUT = """Running 10s test @ http://127.0.0.1:8000/bench/floor/
  2 threads and 4 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.31ms    1.02ms  21.44ms   87.12%
    Req/Sec     0.87k    95.31     1.03k    71.50%
  Latency Distribution
     50%    2.10ms
     75%    2.63ms
     90%    3.35ms
     99%    6.02ms
  17391 requests in 10.01s, 21.93MB read
Requests/sec:   1737.42
Transfer/sec:      2.19MB
"""


def test_wrk_output_gives_the_rate_and_the_99th_percentile():
    rate, p99 = parse_wrk(WRK_OUTPUT)
    assert rate == 1737.42
    assert p99 == pytest.approx(0.00602)
    assert parse_wrk(WRK_OUTPUT.replace("6.02ms", "1.20s"))[1] == pytest.approx(1.2)


def test_error_responses_under_load_are_not_counted_as_throughput():
    failing = WRK_OUTPUT.replace("Requests/sec", "  Non-2xx or 3xx responses: 12\nRequests/sec")
    with pytest.raises(CommandError, match="error responses"):
        parse_wrk(failing)


@pytest.mark.django_db
def test_the_tree_check_accepts_a_valid_tree_and_catches_broken_ones():
    call_command("generate_registry", organizations=300, people=10, seed=9, verbosity=0)
    assert tree_valid()
    unit = Organization.objects.filter(level=2).first()
    Organization.objects.filter(pk=unit.pk).update(rght=unit.rght + 1)
    assert not tree_valid()
    Organization.objects.filter(pk=unit.pk).update(rght=unit.rght)
    assert tree_valid()
    first, second = Organization.objects.roots().order_by("tree_id")[:2]
    Organization.objects.filter(tree_id=second.tree_id).update(tree_id=first.tree_id)
    assert not tree_valid()


def _dated_page(client, unit: Organization) -> tuple[str, int]:
    """The HTML and the SQL queries of `unit`'s page as on the year the benchmark reads it on,
    rendered (not from the render cache)."""
    year, in_force = dated_subject(unit)
    assert in_force > 0
    with (
        override_settings(PUBLIC_PAGE_RENDER_CACHE_SECONDS=0),
        CaptureQueriesContext(connection) as queries,
    ):
        response = client.get(f"{unit.get_absolute_url()}?on={year}")
    assert response.status_code == 200
    # The citation names the registry's version, which any write moves on: the rest of the page
    # must not change.
    page = re.sub(r'<p class="citation">.*?</p>', "", response.content.decode(), flags=re.S)
    return page, len(queries)


def _subtree(unit: Organization) -> tuple[list, list]:
    inside = Organization.objects.subtree(unit)
    return (
        sorted(inside.values_list("pk", "parent", "formed", "dissolved")),
        sorted(
            Placement.objects.filter(organization__in=inside.values("pk")).values_list(
                "organization", "parent", "start", "end"
            )
        ),
    )


@pytest.mark.django_db
def test_the_dated_page_runs_as_many_queries_in_a_registry_four_times_larger(client):
    call_command("generate_registry", organizations=1000, people=10, seed=2, verbosity=0)
    # A tree the larger registry (seed 8) does not also generate: ids come from names, so two
    # seeds may both make, say, "gahrss" and the second load would change the first's tree.
    later = {row[0] for row in synthetic.organization_rows(4000, 8)}
    kept = Organization.objects.roots().exclude(pk__in=later).values("tree_id")
    moved = Placement.objects.filter(organization__tree_id__in=kept).values_list(
        "organization__tree_id", flat=True
    )
    tree = max(set(moved), key=lambda tree_id: (list(moved).count(tree_id), -tree_id))
    unit = Organization.objects.roots().get(tree_id=tree)
    html, small = _dated_page(client, unit)
    before, placements = _subtree(unit), Placement.objects.count()
    call_command("generate_registry", organizations=4000, people=10, seed=8, verbosity=0)
    unit = Organization.objects.get(pk=unit.pk)
    assert Placement.objects.count() > 3 * placements
    assert _subtree(unit) == before  # the page's own subject is unchanged
    assert _dated_page(client, unit) == (html, small)


def test_every_kind_of_search_has_queries_of_its_kind():
    for kind in SEARCHES:
        assert search_candidates(kind), kind
    assert all(not has_han(word) for word in search_candidates("search_english"))
    assert all(
        len(word) == 2 and has_han(word) for word in search_candidates("search_chinese_two")
    )
    assert all(len(word) >= 3 and has_han(word) for word in search_candidates("search_chinese"))
    assert "研究" in search_candidates("search_chinese_two")
    assert "培訓" in search_candidates("search_traditional")
    assert "yan jiu" in search_candidates("search_pinyin")
    assert "yjs" in search_candidates("search_initials")
    for kind in ("search_pinyin", "search_initials"):
        assert all(pinyin_query(word) for word in search_candidates(kind)), kind
