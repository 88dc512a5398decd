"""The synthetic registry that benchmarks and demonstrations load."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from devtools import synthetic
from registry.models import (
    ChangeEvent,
    EventOrganization,
    Holding,
    Organization,
    OtherName,
    Person,
    Placement,
    Post,
    Succession,
    placement_conflict,
)
from tests.conftest import assert_tree_valid, tree_snapshot
from tests.csvtools import empty_registry

pytestmark = pytest.mark.django_db


def _counts() -> dict[str, int]:
    return {
        model.__name__: model.objects.count()
        for model in (
            Organization,
            OtherName,
            Person,
            Post,
            Holding,
            ChangeEvent,
            EventOrganization,
            Placement,
            Succession,
        )
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


def test_organizations_have_chinese_names_short_forms_and_pinyin_keys():
    call_command("generate_registry", organizations=2000, people=10, seed=3, verbosity=0)
    units = Organization.objects.all()
    assert units.exclude(name_zh="").count() >= 0.95 * 2000
    assert units.exclude(short_name_zh="").count() >= 50
    assert not units.exclude(name_zh="").filter(pinyin_key="").exists()
    # An office of a top-level body carries the body's name, deeper units their own.
    office = units.filter(level=1, parent__name_zh__gt="").exclude(name_zh="").first()
    assert office.name_zh.startswith(office.parent.name_zh)
    # Two-character words match hundreds, not all or none (at 2,000 units: about 2%).
    for word in ("研究", "人事"):
        assert 10 <= Organization.objects.matching(word).count() <= 200, word
    assert (
        Organization.objects.matching("研究室").count()
        < Organization.objects.matching("研究").count()
    )


def test_the_chinese_names_come_from_the_seed_alone():
    def names(seed: int) -> list[tuple[str, str]]:
        rows = synthetic.organization_rows(300, seed)
        header = next(rows)
        cells = header.index("name_zh"), header.index("short_name_zh")
        return [(row[cells[0]], row[cells[1]]) for row in rows]

    assert names(4) == names(4)
    assert names(4) != names(5)


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


def _past() -> dict[str, list[tuple]]:
    """Every record of the registry's past, by model, in a stable order and without pks."""
    return {
        "events": list(
            ChangeEvent.objects.order_by("id").values_list(
                "id", "type", "date", "note", "rank_before", "rank_after"
            )
        ),
        "participants": sorted(
            EventOrganization.objects.values_list("event", "organization", "role", "position")
        ),
        "placements": sorted(
            Placement.objects.values_list("organization", "parent", "start", "end", "event")
        ),
        "successions": sorted(
            Succession.objects.values_list("predecessor", "successor", "date", "event")
        ),
        "former names": sorted(
            OtherName.objects.filter(name_type="former_name").values_list(
                "organization", "name", "start", "end"
            )
        ),
    }


def test_about_a_tenth_of_units_have_a_past_that_keeps_the_rules():
    call_command("generate_registry", organizations=1000, people=10, seed=5, verbosity=0)
    events = ChangeEvent.objects.values_list("type", flat=True)
    assert set(events) >= {"moved", "renamed", "merged", "split", "abolished", "rank_changed"}
    with_past = (
        set(EventOrganization.objects.values_list("organization", flat=True))
        | set(Placement.objects.values_list("organization", flat=True))
        | set(
            OtherName.objects.filter(name_type="former_name")
            .exclude(start="")
            .exclude(end="")
            .values_list("organization", flat=True)
        )
    )
    assert 50 <= len(with_past) <= 200
    placements = list(Placement.objects.select_related("organization"))
    assert len(placements) > 10
    for placement in placements:
        placement.full_clean()
        others = [p for p in placements if p.organization_id == placement.organization_id]
        assert placement_conflict(placement, [p for p in others if p is not placement]) is None
    assert not ChangeEvent.objects.filter(participants__isnull=True).exists()
    assert not Succession.objects.filter(
        event__type__in=("merged", "split"), event__isnull=True
    ).exists()
    assert Succession.objects.filter(event__type="merged").exists()
    assert Succession.objects.filter(event__type="split").exists()
    for event in ChangeEvent.objects.filter(type="merged"):
        for part in event.participants.filter(role="original").select_related("organization"):
            assert part.organization.dissolved == event.date
    changed = ChangeEvent.objects.filter(type="rank_changed")
    assert not changed.filter(rank_before__isnull=True).exists()
    for organization in Organization.objects.all():
        organization.full_clean()
    assert_tree_valid()


def test_moved_units_sit_under_a_unit_that_existed_then_and_move_where_they_are_now():
    call_command("generate_registry", organizations=1000, people=10, seed=5, verbosity=0)
    moved = Placement.objects.select_related("organization__parent", "parent", "event")
    assert moved.exists()
    for placement in moved:
        unit = placement.organization
        later = unit.placements.filter(end__gt=str(placement.end)).first()
        after = later.parent_id if later else unit.parent_id  # where the move took it
        assert placement.parent_id not in (None, after, unit.pk)
        assert placement.parent.level == unit.level - 1  # so the past has no cycles
        assert placement.event.type == "moved" and placement.event.date == placement.end
        assert later is None or later.start == placement.end  # a second move starts there
        if later is None and unit.parent.formed:  # today's parent existed from the move on
            assert not placement.end.is_before(unit.parent.formed)


def test_the_same_seed_gives_the_same_past_and_loading_it_again_changes_nothing():
    assert synthetic.registry(500, 6) == synthetic.registry(500, 6)
    assert synthetic.registry(500, 6).reforms != synthetic.registry(500, 7).reforms
    call_command("generate_registry", organizations=1000, people=10, seed=6, verbosity=0)
    past = _past()
    assert all(past.values())
    call_command("generate_registry", organizations=1000, people=10, seed=6, verbosity=0)
    assert _past() == past
    empty_registry()
    assert not Placement.objects.exists()
    call_command("generate_registry", organizations=1000, people=10, seed=6, verbosity=0)
    assert _past() == past
