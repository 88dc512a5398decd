"""Recording a change as it happened in the world (registry/reforms.py): each reform writes its
change event and every dated record together, or refuses and writes nothing."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from reversion.models import Revision, Version

from registry.dates import PartialDate
from registry.models import (
    REGISTRY_MODELS,
    ChangeEvent,
    Kind,
    Organization,
    OtherName,
    Placement,
    Rank,
    Succession,
)
from registry.reforms import (
    NewUnit,
    event_date_correct,
    event_id_suggest,
    organization_states,
    reform_abolish,
    reform_merge,
    reform_move,
    reform_rank_change,
    reform_rename,
    reform_split,
)

from .conftest import assert_tree_valid

RESEARCH = "cppcc-go-research-office"
NPC_GO = "npcsc-general-office"
CPPCC_GO = "cppcc-general-office"


def org(pk: str) -> Organization:
    return Organization.objects.get(pk=pk)


def database() -> list:
    """Every registry row and every history row: what a refusal must leave as it was."""
    rows = [list(model.objects.order_by("pk").values_list()) for model in REGISTRY_MODELS]
    return [*rows, Revision.objects.count(), Version.objects.count()]


def refused(field: str, call, **kwargs) -> str:
    """Run a reform that must be refused; return the message on `field`, having checked that
    nothing was written."""
    before = database()
    with pytest.raises(ValidationError) as error:
        call(**kwargs)
    assert database() == before
    assert_tree_valid()
    return " ".join(error.value.message_dict[field])


def _children(pk: str) -> list[str]:
    return list(org(pk).get_children().values_list("pk", flat=True))


# --- Move -----------------------------------------------------------------------------------


def test_a_move_closes_the_placement_under_the_old_parent(seeded):
    event = reform_move(organization=org(RESEARCH), parent=org(NPC_GO), date="2000-03")
    placement = Placement.objects.get(organization=RESEARCH)
    assert (placement.parent_id, placement.start, placement.end, placement.event) == (
        CPPCC_GO,
        None,  # the research office's formation is unknown
        PartialDate.parse("2000-03"),
        event,
    )


def test_a_move_puts_the_unit_last_under_its_new_parent_with_its_subtree(seeded):
    reform_move(organization=org(RESEARCH), parent=org(NPC_GO), date="2000-03")
    assert _children(NPC_GO)[-1] == RESEARCH
    assert len(_children(RESEARCH)) == 3
    assert_tree_valid()


def test_a_move_starts_the_closed_placement_when_the_earlier_one_ended(seeded):
    reform_move(organization=org(RESEARCH), parent=org(NPC_GO), date="2000-03")
    reform_move(organization=org(RESEARCH), parent=org(CPPCC_GO), date="2005")
    latest = Placement.objects.get(organization=RESEARCH, end="2005")
    assert (latest.parent_id, str(latest.start)) == (NPC_GO, "2000-03")


def test_a_move_starts_the_placement_at_the_formation_when_known(seeded, make_org):
    unit = make_org(parent=org(CPPCC_GO), formed="1990-05")
    reform_move(organization=unit, parent=org(NPC_GO), date="2000")
    assert str(Placement.objects.get(organization=unit).start) == "1990-05"


def test_a_move_event_has_the_unit_before_and_after_and_a_suggested_id(seeded):
    event = reform_move(organization=org(RESEARCH), parent=org(NPC_GO), date="2000-03")
    assert event.pk == "cppcc-go-research-office-moved-2000-03"
    assert event.type == ChangeEvent.Type.MOVED
    assert sorted(event.participants.values_list("organization", "role")) == [
        (RESEARCH, "original"),
        (RESEARCH, "result"),
    ]


def test_a_move_under_its_own_descendant_is_refused(seeded):
    message = refused(
        "parent",
        reform_move,
        organization=org(RESEARCH),
        parent=org("cppcc-go-research-office-office"),
        date="2000",
    )
    assert "one of its own sub-units" in message


def test_a_move_before_the_end_of_the_latest_placement_is_refused(seeded):
    reform_move(organization=org(RESEARCH), parent=org(NPC_GO), date="2000-03")
    message = refused(
        "date", reform_move, organization=org(RESEARCH), parent=org(CPPCC_GO), date="1999"
    )
    assert "would overlap" in message and "March 2000" in message


def test_a_move_under_a_parent_that_did_not_exist_then_is_refused(seeded):
    message = refused(
        "parent",
        reform_move,
        organization=org("npcsc-go-secretariat"),
        parent=org(CPPCC_GO),
        date="1970",
    )
    assert "formed in 30 December 1980" in message


def test_a_move_dated_before_the_unit_was_formed_is_refused(seeded):
    message = refused(
        "organization", reform_move, organization=org(CPPCC_GO), parent=org(NPC_GO), date="1970"
    )
    assert "formed in 30 December 1980, after 1970" in message


def test_a_move_of_a_unit_changed_since_the_form_was_shown_is_refused(seeded):
    shown = organization_states([org(RESEARCH)])
    reform_move(organization=org(RESEARCH), parent=org(NPC_GO), date="2000")  # someone else
    message = refused(
        "organization",
        reform_move,
        organization=org(RESEARCH),
        parent=org(CPPCC_GO),
        date="2005",
        shown=shown,
    )
    assert "changed by someone else" in message


def test_the_same_change_recorded_twice_is_refused_by_its_event_id(seeded):
    reform_move(organization=org(RESEARCH), parent=org(NPC_GO), date="2000-03")
    reform_move(organization=org(RESEARCH), parent=org(CPPCC_GO), date="2005")
    message = refused(
        "event_id", reform_move, organization=org(RESEARCH), parent=org(NPC_GO), date="2000-03"
    )
    assert "already exists" in message


def test_the_suggested_event_id_fits_the_identifier_field():
    suggestion = event_id_suggest(type="rank_changed", organization_id="a" * 100, date="2000-01")
    assert len(suggestion) == 100 and suggestion.endswith("a-rank-changed-2000-01")


def test_a_move_is_recorded_in_the_history_with_its_placement(seeded):
    event = reform_move(organization=org(RESEARCH), parent=org(NPC_GO), date="2000-03")
    version = Version.objects.get_for_object(org(RESEARCH)).first()
    assert "Moved under" in version.revision.comment
    placements = version.revision.version_set.filter(content_type__model="placement")
    assert placements.count() == 1
    assert Version.objects.get_for_object(event).exists()


# --- Rename ---------------------------------------------------------------------------------


def test_a_rename_keeps_the_old_name_as_a_former_name_until_the_date(seeded):
    event = reform_rename(organization=org(CPPCC_GO), name="New 名称 <b>", date="2018-03")
    unit = org(CPPCC_GO)
    former = unit.other_names.get(name_type=OtherName.Type.FORMER_NAME, end="2018-03")
    assert former.name.startswith("General Office of the National Committee")
    assert str(former.start) == "1980-12-30"
    assert (unit.name, event.type) == ("New 名称 <b>", "renamed")


def test_a_second_rename_starts_the_former_name_when_the_first_ended(seeded):
    reform_rename(organization=org(RESEARCH), name="Policy Office", date="2001")
    reform_rename(organization=org(RESEARCH), name="Studies Office", date="2010")
    latest = OtherName.objects.get(organization=RESEARCH, name="Policy Office")
    assert (str(latest.start), str(latest.end)) == ("2001", "2010")


def test_a_rename_to_a_name_too_long_is_refused(seeded):
    message = refused(
        "name", reform_rename, organization=org(RESEARCH), name="x" * 301, date="2001"
    )
    assert "300" in message


# --- Merge ----------------------------------------------------------------------------------


def _merge_into_new(**kwargs):
    return reform_merge(
        organizations=[org("cppcc-go-information-bureau"), org(RESEARCH)],
        new_result=NewUnit(
            id="cppcc-go-information-research-bureau",
            name="Information and Research Bureau",
            parent=org(CPPCC_GO),
            kind=Kind.objects.get(pk="internal-department"),
        ),
        date="2012-07",
        **kwargs,
    )


def test_a_merge_dissolves_the_merged_units_and_links_them_to_the_result(seeded):
    event = _merge_into_new()
    result = org("cppcc-go-information-research-bureau")
    assert str(result.formed) == "2012-07" and result.parent_id == CPPCC_GO
    assert {str(org(pk).dissolved) for pk in ("cppcc-go-information-bureau", RESEARCH)} == {
        "2012-07"
    }
    links = Succession.objects.filter(successor=result)
    assert {(link.predecessor_id, link.event_id, str(link.date)) for link in links} == {
        ("cppcc-go-information-bureau", event.pk, "2012-07"),
        (RESEARCH, event.pk, "2012-07"),
    }


def test_a_merge_moves_the_sub_units_under_the_result_by_default(seeded):
    event = _merge_into_new()
    moved = _children("cppcc-go-information-research-bureau")
    assert len(moved) == 3 and _children(RESEARCH) == []
    assert Placement.objects.filter(event=event, parent=RESEARCH, end="2012-07").count() == 3
    assert_tree_valid()


def test_a_merge_may_leave_the_sub_units_where_they_are(seeded):
    event = _merge_into_new(sub_units="stay")
    assert len(_children(RESEARCH)) == 3
    assert not Placement.objects.filter(event=event).exists()


def test_a_unit_cannot_be_merged_into_itself(seeded):
    message = refused(
        "result",
        reform_merge,
        organizations=[org("cppcc-go-information-bureau"), org(RESEARCH)],
        result=org(RESEARCH),
        date="2012",
    )
    assert "merged into itself" in message


def test_a_merge_into_a_new_unit_whose_id_is_taken_is_refused(seeded):
    message = refused(
        "result",
        reform_merge,
        organizations=[org("cppcc-go-information-bureau")],
        new_result=NewUnit(
            id=RESEARCH, name="X", parent=None, kind=Kind.objects.get(pk="national-body")
        ),
        date="2012",
    )
    assert "already exists" in message


# --- Split ----------------------------------------------------------------------------------


def _new(pk: str) -> NewUnit:
    return NewUnit(
        id=pk,
        name=pk.title(),
        parent=org(CPPCC_GO),
        kind=Kind.objects.get(pk="internal-department"),
    )


def test_a_split_dissolves_the_unit_into_its_results(seeded):
    event = reform_split(
        organization=org("cppcc-go-liaison-bureau"),
        new_results=[_new("liaison-a"), _new("liaison-b")],
        date="2015",
    )
    assert str(org("cppcc-go-liaison-bureau").dissolved) == "2015"
    assert set(Succession.objects.filter(event=event).values_list("predecessor", "successor")) == {
        ("cppcc-go-liaison-bureau", "liaison-a"),
        ("cppcc-go-liaison-bureau", "liaison-b"),
    }
    assert_tree_valid()


def test_a_unit_that_continues_after_a_split_keeps_no_successor(seeded):
    event = reform_split(
        organization=org("cppcc-go-liaison-bureau"),
        new_results=[_new("liaison-a")],
        continues=True,
        date="2015",
    )
    unit = org("cppcc-go-liaison-bureau")
    assert unit.dissolved is None and not unit.successor_links.exists()
    assert event.participants.filter(organization=unit, role="result").exists()


def test_a_split_of_a_unit_with_sub_units_asks_where_they_go(seeded):
    message = refused(
        "sub_units_to",
        reform_split,
        organization=org(RESEARCH),
        new_results=[_new("research-a"), _new("research-b")],
        date="2015",
    )
    assert "current sub-units" in message


def test_a_split_moves_the_sub_units_under_the_chosen_result(seeded):
    reform_split(
        organization=org(RESEARCH),
        new_results=[_new("research-a"), _new("research-b")],
        sub_units_to="research-b",
        date="2015",
    )
    assert len(_children("research-b")) == 3
    assert_tree_valid()


# --- Abolish --------------------------------------------------------------------------------


def test_abolishing_a_unit_with_current_sub_units_is_refused(seeded):
    message = refused("sub_units", reform_abolish, organization=org(RESEARCH), date="2015")
    assert "3 current sub-unit(s)" in message


def test_abolishing_with_its_sub_units_ends_them_too(seeded):
    event = reform_abolish(organization=org(RESEARCH), date="2015", sub_units="end")
    ended = Organization.objects.filter(dissolved="2015").count()
    assert ended == 4
    assert event.participants.filter(role="original").count() == 4


def test_abolishing_with_a_successor_links_it_and_moves_the_sub_units(seeded):
    successor = org("cppcc-go-secretariat")
    event = reform_abolish(
        organization=org(RESEARCH), successor=successor, sub_units="move", date="2015"
    )
    link = Succession.objects.get(predecessor=RESEARCH)
    assert (link.successor, link.event) == (successor, event)
    assert event.note == "Functions transferred to “Secretariat”."
    assert len(_children("cppcc-go-secretariat")) == 3
    assert_tree_valid()


def test_abolishing_a_unit_already_dissolved_is_refused(seeded):
    reform_abolish(organization=org("cppcc-go-liaison-bureau"), date="2015")
    message = refused(
        "organization",
        reform_abolish,
        organization=org("cppcc-go-liaison-bureau"),
        date="2015-06",
    )
    assert "already has a dissolution date" in message


# --- Rank -----------------------------------------------------------------------------------


def test_a_rank_change_records_both_ranks_and_sets_the_new_one(seeded):
    event = reform_rank_change(
        organization=org(RESEARCH), rank=Rank.objects.get(pk="ministerial"), date="2009"
    )
    assert (event.rank_before_id, event.rank_after_id) == ("deputy-ministerial", "ministerial")
    assert org(RESEARCH).rank_id == "ministerial"


def test_a_rank_change_before_the_latest_recorded_one_is_refused(seeded):
    reform_rank_change(
        organization=org(RESEARCH), rank=Rank.objects.get(pk="ministerial"), date="2009"
    )
    message = refused(
        "date",
        reform_rank_change,
        organization=org(RESEARCH),
        rank=Rank.objects.get(pk="bureau"),
        date="2005",
    )
    assert "must come after" in message


# --- Correcting the date --------------------------------------------------------------------


def test_correcting_a_move_date_moves_the_placement_end_and_the_next_start(seeded):
    first = reform_move(organization=org(RESEARCH), parent=org(NPC_GO), date="2000-03")
    reform_move(organization=org(RESEARCH), parent=org(CPPCC_GO), date="2005")
    event_date_correct(event=first, date="2000-05")
    ends = list(
        Placement.objects.filter(organization=RESEARCH).order_by("end").values_list("start", "end")
    )
    assert ends == [("", "2000-05"), ("2000-05", "2005")]
    assert str(ChangeEvent.objects.get(pk=first.pk).date) == "2000-05"


def test_correcting_a_rename_date_moves_the_former_names_end(seeded):
    event = reform_rename(organization=org(RESEARCH), name="Policy Office", date="2001")
    event_date_correct(event=event, date="2002-02")
    assert OtherName.objects.filter(organization=RESEARCH, end="2002-02").count() == 1


def test_correcting_a_merge_date_moves_dissolutions_links_formation_and_placements(seeded):
    event = _merge_into_new()
    event_date_correct(event=event, date="2012-08-01")
    assert Organization.objects.filter(dissolved="2012-08-01").count() == 2
    assert str(org("cppcc-go-information-research-bureau").formed) == "2012-08-01"
    assert set(Succession.objects.filter(event=event).values_list("date", flat=True)) == {
        "2012-08-01"
    }
    assert set(Placement.objects.filter(event=event).values_list("end", flat=True)) == {
        "2012-08-01"
    }


def test_a_correction_past_the_next_move_is_refused(seeded):
    reform_move(organization=org(RESEARCH), parent=org(NPC_GO), date="2000-03")
    second = reform_move(organization=org(RESEARCH), parent=org(CPPCC_GO), date="2005")
    message = refused("date", event_date_correct, event=second, date="1999")
    assert "The placement of “Research Office” under “General Office of the Standing" in message
    assert "ends before it starts" in message


def test_a_correction_before_a_parent_existed_is_refused(seeded):
    event = reform_move(
        organization=org("npcsc-go-secretariat"), parent=org(CPPCC_GO), date="1990"
    )
    message = refused("date", event_date_correct, event=event, date="1975")
    assert "formed in 30 December 1980" in message


def test_a_correction_of_a_date_changed_meanwhile_is_refused(seeded):
    event = reform_move(organization=org(RESEARCH), parent=org(NPC_GO), date="2000-03")
    event_date_correct(event=event, date="2000-04")  # someone else
    message = refused(
        "date", event_date_correct, event=event, date="2000-05", shown_date="2000-03"
    )
    assert "after you opened the form" in message


def test_a_correction_is_recorded_in_the_history(seeded):
    event = reform_move(organization=org(RESEARCH), parent=org(NPC_GO), date="2000-03")
    event_date_correct(event=event, date="2000-04")
    version = Version.objects.get_for_object(event).first()
    assert "corrected from 2000-03 to 2000-04" in version.revision.comment


def test_a_new_result_under_a_unit_that_ends_in_the_merge_is_refused(seeded):
    message = refused(
        "result",
        reform_merge,
        organizations=[org("cppcc-go-information-bureau"), org(RESEARCH)],
        new_result=NewUnit(
            id="merged-bureau",
            name="Merged",
            parent=org(RESEARCH),
            kind=Kind.objects.get(pk="internal-department"),
        ),
        date="2012",
    )
    assert "ends in this merge" in message
