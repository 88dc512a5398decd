"""The benchmark's own checks and parsing (the benchmark itself runs in CI at a small size)."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from devtools.management.commands.bench import parse_wrk, tree_valid
from registry.models import Organization

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
