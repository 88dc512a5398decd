"""The synthetic registry that benchmarks and demonstrations load."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from devtools import synthetic
from registry.models import Holding, Organization, OtherName, Person, Post
from tests.conftest import assert_tree_valid, tree_snapshot

pytestmark = pytest.mark.django_db


def _counts() -> dict[str, int]:
    return {
        model.__name__: model.objects.count()
        for model in (Organization, OtherName, Person, Post, Holding)
    }


def test_generates_the_asked_sizes_as_a_valid_tree():
    call_command("generate_registry", organizations=300, people=80, seed=3, verbosity=0)
    assert Organization.objects.count() == 300
    assert Person.objects.count() == 80
    assert Holding.objects.exists()
    assert Organization.objects.roots().count() > 1
    assert OtherName.objects.filter(language="zh-Hans").exists()
    assert Person.objects.exclude(name_zh="").count() == 80
    assert_tree_valid()


def test_generating_again_changes_nothing():
    call_command("generate_registry", organizations=200, people=50, seed=4, verbosity=0)
    counts, tree = _counts(), tree_snapshot()
    holders = list(Holding.objects.order_by("pk").values_list("post_id", "person_id", "position"))
    call_command("generate_registry", organizations=200, people=50, seed=4, verbosity=0)
    assert _counts() == counts
    assert tree_snapshot() == tree
    assert (
        list(Holding.objects.order_by("pk").values_list("post_id", "person_id", "position"))
        == holders
    )


def test_a_seed_names_one_registry():
    def posts(seed: int) -> list[list[str]]:
        organizations = [("a", 0), ("b", 1), ("c", 2), ("d", 1)]
        return list(synthetic.post_rows(organizations, 30, seed))

    assert posts(1) == posts(1)
    assert posts(1) != posts(2)
    assert list(synthetic.people(5, 1)) == list(synthetic.people(5, 1))


def test_a_post_never_has_the_same_holder_twice():
    rows = list(synthetic.post_rows([(f"unit-{n}", n % 3) for n in range(400)], 5, 1))[1:]
    holdings = [(row[0], row[1], row[4]) for row in rows]
    assert len(holdings) == len(set(holdings))


def test_refuses_sizes_that_make_no_sense():
    with pytest.raises(CommandError, match="--organizations must be at least 1"):
        call_command("generate_registry", organizations=0, verbosity=0)
    assert not Organization.objects.exists()
