"""Integrity lives in the database where it can, and in clear validation messages elsewhere."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from registry.models import Holding, Organization, OtherName, Person, Post, Rank


def _violates_database(save) -> bool:
    try:
        with transaction.atomic():
            save()
    except IntegrityError:
        return True
    return False


def test_database_refuses_an_empty_name(make_org):
    organization = make_org()
    assert _violates_database(
        lambda: Organization.objects.filter(pk=organization.pk).update(name="")
    )


def test_database_refuses_dissolution_before_formation(make_org):
    organization = make_org(formed="1980-12-30")
    assert _violates_database(
        lambda: Organization.objects.filter(pk=organization.pk).update(dissolved="1980-12-29")
    )


@pytest.mark.parametrize("dissolved", ["1980", "1980-12", "1980-12-30", "1981-01"])
def test_database_accepts_a_dissolution_whose_period_reaches_the_formation(make_org, dissolved):
    organization = make_org(formed="1980-12-30")
    Organization.objects.filter(pk=organization.pk).update(dissolved=dissolved)
    organization.refresh_from_db()
    assert str(organization.dissolved) == dissolved


def test_database_refuses_an_organization_as_its_own_parent(make_org):
    organization = make_org()
    assert _violates_database(
        lambda: Organization.objects.filter(pk=organization.pk).update(parent=organization.pk)
    )


def test_database_refuses_a_holding_that_ends_before_it_starts(make_org):
    post = Post.objects.create(organization=make_org(), title="Director", position=1)
    person = Person.objects.create(id="someone", name="Someone")
    assert _violates_database(
        lambda: Holding.objects.create(post=post, person=person, start="2020-05", end="2019")
    )


def test_database_refuses_the_same_other_name_twice(make_org):
    organization = make_org()
    OtherName.objects.create(organization=organization, name="X", name_type="abbreviation")
    assert _violates_database(
        lambda: OtherName.objects.create(
            organization=organization, name="X", name_type="abbreviation"
        )
    )


def test_validation_names_dissolution_before_formation(make_org):
    organization = make_org(formed="1980-12-30")
    organization.dissolved = "1949-10"
    with pytest.raises(ValidationError) as caught:
        organization.full_clean()
    assert caught.value.message_dict["dissolved"] == [
        "The dissolution date (October 1949) is before the formation date (30 December 1980)."
    ]


def test_validation_refuses_a_move_under_its_own_descendant(make_org):
    top = make_org("Top")
    child = make_org("Child", parent=top)
    grandchild = make_org("Grandchild", parent=child)
    top.parent = grandchild
    with pytest.raises(ValidationError) as caught:
        top.full_clean()
    assert "cannot be moved under its own descendant" in caught.value.message_dict["parent"][0]


def test_validation_refuses_an_impossible_date(make_org):
    organization = make_org()
    organization.formed = "1980-02-30"
    with pytest.raises(ValidationError) as caught:
        organization.full_clean()
    assert "not a real day" in caught.value.message_dict["formed"][0]


def test_validation_refuses_an_identifier_that_is_not_a_readable_slug(make_org):
    with pytest.raises(ValidationError) as caught:
        make_org(id="Research Office")
    assert any("lowercase letters" in message for message in caught.value.message_dict["id"])


def test_styled_name_puts_second_names_and_designations_then_rank_in_parentheses(make_org):
    organization = make_org("Office of the Committee", rank=Rank.objects.get(pk="deputy-bureau"))
    OtherName.objects.create(
        organization=organization, name="Second Bureau", name_type="second_name", position=0
    )
    OtherName.objects.create(
        organization=organization, name="eighth bureau", name_type="designation", position=1
    )
    OtherName.objects.create(organization=organization, name="OC", name_type="abbreviation")
    assert (
        organization.styled_name
        == "Office of the Committee (Second Bureau, eighth bureau, deputy bureau-level)"
    )


def test_partial_dates_survive_a_round_trip_through_the_database(make_org):
    organization = make_org(formed="1949-10")
    organization.refresh_from_db()
    assert organization.formed.display() == "October 1949"
    assert organization.dissolved is None
