"""“Record a change” in the admin, as a curator uses it: open the form, fill it in, submit it as
a browser would; then the database, the tree, the public pages as on dates before and after the
change, and refusals that leave everything as it was."""

from __future__ import annotations

from html import escape

import pytest
from django.contrib.messages import get_messages
from reversion.models import Version

from registry.admin.autocomplete import PATH_SEPARATOR
from registry.models import ChangeEvent, Organization, OtherName, Placement, Succession
from registry.services import organization_move

from .conftest import assert_tree_valid
from .test_reforms import database

RECORD = "/admin/registry/changeevent/record/"
RESEARCH = "cppcc-go-research-office"
NPC_GO = "npcsc-general-office"
CPPCC_GO = "cppcc-general-office"


def form_data(client, kind: str, organization: str | None = None) -> dict:
    """What a browser submits for the form as it opens: its hidden and prefilled fields."""
    query = {"kind": kind} | ({"organization": organization} if organization else {})
    page = client.get(RECORD, query)
    assert page.status_code == 200
    form = page.context["form"]
    data = {}
    for name in form.fields:
        value = form[name].value()
        if value not in (None, False):
            data[name] = value
    return data


def submit(client, kind: str, organization: str | None = None, **fields):
    return client.post(RECORD, form_data(client, kind, organization) | fields)


def recorded(response) -> ChangeEvent:
    assert response.status_code == 302, response.content.decode()[:3000]
    return ChangeEvent.objects.get(pk=response["Location"].split("/")[-3])


def refusal(client, field: str | None, kind: str, organization=None, **fields) -> str:
    """Submit a form that must be refused: the form comes back with the message on `field`
    (None: on the whole form) and the database is exactly as it was."""
    data = form_data(client, kind, organization) | fields
    before = database()
    response = client.post(RECORD, data)
    assert response.status_code == 200
    assert database() == before
    assert_tree_valid()
    errors = response.context["form"].errors
    return " ".join(errors.get(field or "__all__", [])) + " | " + str(sorted(errors))


def page(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, url
    return response.content.decode()


def org(pk: str) -> Organization:
    return Organization.objects.get(pk=pk)


# --- Finding the form -----------------------------------------------------------------------


def test_the_change_event_list_offers_record_a_change(editor_client, seeded):
    assert f'href="{RECORD}"' in page(editor_client, "/admin/registry/changeevent/")


def test_an_organization_page_links_the_form_prefilled_with_it(editor_client, seeded):
    html = page(editor_client, f"/admin/registry/organization/{RESEARCH}/change/")
    assert f'href="{RECORD}?organization={RESEARCH}"' in html


def test_the_form_prefills_the_organization_and_lists_no_other(editor_client, seeded):
    html = page(editor_client, f"{RECORD}?kind=move&organization={RESEARCH}")
    # Shown with its path, as the organization picker shows it (registry/admin/autocomplete.py).
    chosen = f'<option value="{RESEARCH}" selected>'
    assert f"{PATH_SEPARATOR}Research Office" in html.split(chosen)[1].split("</option>")[0]
    assert html.count("<option") < 10  # autocomplete, not a list of every unit
    assert 'data-ajax--url="/admin/registry/organization/autocomplete/"' in html


def test_the_organization_autocomplete_answers_the_forms_search(editor_client, seeded):
    response = editor_client.get(
        "/admin/autocomplete/",
        {"app_label": "registry", "model_name": "organization", "field_name": "parent"}
        | {"term": "Research Office"},
    )
    assert RESEARCH in {result["id"] for result in response.json()["results"]}


def test_viewers_may_not_record_changes(viewer_client, seeded):
    assert viewer_client.get(RECORD, {"kind": "move"}).status_code == 403


# --- Move -----------------------------------------------------------------------------------


def _move(client, **fields):
    return submit(client, "move", RESEARCH, **({"parent": NPC_GO, "date": "2000-03"} | fields))


def test_a_move_is_recorded_with_its_placement_and_the_tree(editor_client, seeded):
    event = recorded(_move(editor_client, note="Reform <b>“第一”</b>", locator="§ 2"))
    placement = Placement.objects.get(organization=RESEARCH)
    assert (placement.parent_id, str(placement.end), placement.event) == (
        CPPCC_GO,
        "2000-03",
        event,
    )
    assert org(RESEARCH).parent_id == NPC_GO
    assert (event.type, event.note, event.locator) == ("moved", "Reform <b>“第一”</b>", "§ 2")
    assert_tree_valid()


def test_after_a_move_the_public_pages_show_the_old_and_new_structure(editor_client, seeded):
    recorded(_move(editor_client))
    link = f"/organizations/{RESEARCH}/?on="
    assert link + "1999" in page(editor_client, f"/organizations/{CPPCC_GO}/?on=1999")
    assert link + "1999" not in page(editor_client, f"/organizations/{NPC_GO}/?on=1999")
    assert link + "2001" in page(editor_client, f"/organizations/{NPC_GO}/?on=2001")
    assert link + "2001" not in page(editor_client, f"/organizations/{CPPCC_GO}/?on=2001")


def test_a_recorded_change_says_so_with_a_link_to_the_event(editor_client, seeded):
    response = _move(editor_client)
    event = recorded(response)
    (message,) = get_messages(response.wsgi_request)
    assert f'<a href="/admin/registry/changeevent/{event.pk}/change/">{event.pk}</a>' in str(
        message
    )


def test_a_recorded_change_is_in_the_organizations_admin_history(editor_client, seeded):
    recorded(_move(editor_client))
    html = page(editor_client, f"/admin/registry/organization/{RESEARCH}/history/")
    assert "Moved under “General Office of the Standing Committee" in html
    assert Version.objects.get_for_object(org(RESEARCH)).first().revision.user.username == (
        "editor"
    )


def test_a_move_under_its_own_descendant_is_refused(editor_client, seeded):
    message = refusal(
        editor_client,
        "parent",
        "move",
        RESEARCH,
        parent="cppcc-go-research-office-office",
        date="2000",
    )
    assert "one of its own sub-units" in message


def test_a_move_dated_before_the_unit_was_formed_is_refused(editor_client, seeded):
    message = refusal(editor_client, "organization", "move", CPPCC_GO, parent=NPC_GO, date="1970")
    assert "was formed in 30 December 1980, after 1970" in message


def test_a_move_dated_after_the_unit_was_dissolved_is_refused(editor_client, seeded):
    submit(editor_client, "abolish", "cppcc-go-liaison-bureau", date="2010")
    message = refusal(
        editor_client,
        "organization",
        "move",
        "cppcc-go-liaison-bureau",
        parent=NPC_GO,
        date="2012",
    )
    assert "was dissolved in 2010, before 2012" in message


def test_a_move_under_a_parent_not_yet_formed_is_refused(editor_client, seeded):
    message = refusal(
        editor_client, "parent", "move", "npcsc-go-secretariat", parent=CPPCC_GO, date="1975"
    )
    assert "“General Office of the National Committee" in message
    assert "formed in 30 December 1980" in message


def test_a_move_overlapping_the_latest_placement_is_refused(editor_client, seeded):
    recorded(_move(editor_client))
    message = refusal(editor_client, "date", "move", RESEARCH, parent=CPPCC_GO, date="1999")
    assert "would overlap" in message


def test_a_move_to_an_unknown_organization_is_refused(editor_client, seeded):
    message = refusal(editor_client, "parent", "move", RESEARCH, parent="no-such-unit")
    assert "Select a valid choice" in message


def test_a_bad_date_is_refused_on_the_date_field(editor_client, seeded):
    message = refusal(editor_client, "date", "move", RESEARCH, parent=NPC_GO, date="2000-13")
    assert "no month 13" in message


def test_a_form_opened_before_someone_else_moved_the_unit_is_refused(editor_client, seeded):
    data = form_data(editor_client, "move", RESEARCH) | {"parent": NPC_GO, "date": "2000"}
    organization_move(organization=org(RESEARCH), target=org(NPC_GO), position="first-child")
    before = database()
    response = editor_client.post(RECORD, data)
    assert response.status_code == 200
    assert "changed by someone else" in " ".join(response.context["form"].errors["organization"])
    assert database() == before


def test_a_form_refused_as_stale_can_be_checked_and_sent_again(editor_client, seeded):
    data = form_data(editor_client, "move", RESEARCH) | {"parent": NPC_GO, "date": "2000"}
    organization_move(organization=org(RESEARCH), target=org(NPC_GO), position="first-child")
    shown_again = editor_client.post(RECORD, data).context["form"]
    resent = data | {"shown": shown_again["shown"].value(), "parent": "cppcc-go-secretariat"}
    recorded(editor_client.post(RECORD, resent))
    assert org(RESEARCH).parent_id == "cppcc-go-secretariat"


def test_a_change_dated_in_the_future_is_refused(editor_client, seeded):
    message = refusal(editor_client, "date", "move", RESEARCH, parent=NPC_GO, date="2999")
    assert "2999 is in the future" in message


def test_submitting_the_same_form_twice_records_the_change_once(editor_client, seeded):
    data = form_data(editor_client, "move", RESEARCH) | {"parent": NPC_GO, "date": "2000"}
    recorded(editor_client.post(RECORD, data))
    before = database()
    again = editor_client.post(RECORD, data)
    assert again.status_code == 200
    assert database() == before


def test_an_event_id_already_taken_is_refused(editor_client, seeded):
    message = refusal(
        editor_client,
        "event_id",
        "move",
        RESEARCH,
        parent=NPC_GO,
        date="2000",
        event_id="cppcc-general-office-established-1980",
    )
    assert "already exists" in message


# --- Rename ---------------------------------------------------------------------------------


def test_a_rename_shows_the_old_name_before_and_the_new_after(editor_client, seeded):
    old = org(CPPCC_GO).name
    new = "General Office <script>alert(1)</script> “政协” 'x'"
    recorded(submit(editor_client, "rename", CPPCC_GO, name=new, date="2018-03"))
    assert OtherName.objects.filter(organization=CPPCC_GO, name=old, end="2018-03").exists()
    assert f"<h1>{escape(old)}</h1>" in page(editor_client, f"/organizations/{CPPCC_GO}/?on=2000")
    after = page(editor_client, f"/organizations/{CPPCC_GO}/?on=2019")
    assert f"<h1>{escape(new)}" in after and "<script>alert" not in after


def test_a_rename_to_a_name_longer_than_300_characters_is_refused(editor_client, seeded):
    message = refusal(editor_client, "name", "rename", CPPCC_GO, name="名" * 301, date="2018")
    assert "at most 300 characters" in message


def test_a_rename_of_200_characters_is_kept_as_typed(editor_client, seeded):
    name = " Quoted “名称” " + "x" * 200
    recorded(submit(editor_client, "rename", RESEARCH, name=name, date="2018"))
    assert org(RESEARCH).name == name


# --- Merge ----------------------------------------------------------------------------------


def _merge(client, **fields):
    data = form_data(client, "merge", "cppcc-go-information-bureau") | {
        "organizations": ["cppcc-go-information-bureau", RESEARCH],
        "new_id": "cppcc-go-information-research-bureau",
        "new_name": "Information and Research Bureau",
        "new_parent": CPPCC_GO,
        "new_kind": "internal-department",
        "date": "2012-07",
    }
    return client.post(RECORD, data | fields)


def test_a_merge_into_a_new_unit_writes_dissolutions_links_and_moves(editor_client, seeded):
    event = recorded(_merge(editor_client))
    assert event.pk == "cppcc-go-information-bureau-merged-2012-07"
    assert Organization.objects.filter(dissolved="2012-07").count() == 2
    assert Succession.objects.filter(event=event).count() == 2
    result = org("cppcc-go-information-research-bureau")
    assert result.get_children().count() == 3
    assert_tree_valid()


def test_after_a_merge_the_sub_units_are_under_the_result_on_later_dates(editor_client, seeded):
    recorded(_merge(editor_client))
    unit = "/organizations/cppcc-go-research-office-office/?on="
    assert unit + "2010" in page(editor_client, f"/organizations/{RESEARCH}/?on=2010")
    later = page(editor_client, "/organizations/cppcc-go-information-research-bureau/?on=2013")
    assert unit + "2013" in later
    assert editor_client.get(f"/organizations/{RESEARCH}/?on=2013").status_code == 404


def test_a_merge_may_leave_the_sub_units_in_place(editor_client, seeded):
    recorded(_merge(editor_client, sub_units="stay"))
    assert org(RESEARCH).get_children().count() == 3


def test_a_merge_into_one_of_the_merging_units_is_refused(editor_client, seeded):
    message = refusal(
        editor_client,
        "result",
        "merge",
        organizations=["cppcc-go-information-bureau", RESEARCH],
        result=RESEARCH,
        date="2012",
    )
    assert "merged into itself" in message


def test_a_merge_naming_both_an_existing_and_a_new_result_is_refused(editor_client, seeded):
    message = refusal(
        editor_client,
        "result",
        "merge",
        organizations=["cppcc-go-information-bureau", RESEARCH],
        result=CPPCC_GO,
        new_id="x-bureau",
        new_name="X",
        new_kind="internal-department",
        date="2012",
    )
    assert "not both" in message


# --- Split, abolish, rank -------------------------------------------------------------------


def test_a_split_creates_its_results_and_ends_the_unit(editor_client, seeded):
    event = recorded(
        submit(
            editor_client,
            "split",
            "cppcc-go-liaison-bureau",
            new_results="liaison-a | Liaison Bureau A\nliaison-b | Liaison “B” <i>",
            new_parent=CPPCC_GO,
            new_kind="internal-department",
            date="2015",
        )
    )
    assert str(org("cppcc-go-liaison-bureau").dissolved) == "2015"
    assert org("liaison-b").name == "Liaison “B” <i>"
    assert set(
        event.participants.filter(role="result").values_list("organization", flat=True)
    ) == {
        "liaison-a",
        "liaison-b",
    }
    assert_tree_valid()


def test_a_split_line_without_a_name_is_refused(editor_client, seeded):
    message = refusal(
        editor_client,
        "new_results",
        "split",
        "cppcc-go-liaison-bureau",
        new_results="liaison-a",
        new_kind="internal-department",
        date="2015",
    )
    assert "identifier | name" in message


def test_abolishing_a_unit_with_sub_units_is_refused_until_told_what_they_do(
    editor_client, seeded
):
    message = refusal(editor_client, "sub_units", "abolish", RESEARCH, date="2015")
    assert "still has 3 current sub-unit(s)" in message


def test_abolishing_a_unit_that_a_sub_unit_would_outlive_is_refused(editor_client, seeded):
    Organization.objects.filter(pk="cppcc-go-research-office-office").update(dissolved="2020")
    message = refusal(
        editor_client, "sub_units", "abolish", RESEARCH, sub_units="end", date="2015"
    )
    assert "was dissolved only in 2020, after 2015" in message


def test_a_unit_that_already_has_a_successor_cannot_be_abolished(editor_client, seeded):
    message = refusal(editor_client, "organization", "abolish", "cppcc-secretariat", date="1990")
    assert "has already ended: it has a successor" in message


def test_abolishing_with_functions_to_a_successor_moves_the_sub_units(editor_client, seeded):
    event = recorded(
        submit(
            editor_client,
            "abolish",
            RESEARCH,
            successor="cppcc-go-secretariat",
            sub_units="move",
            date="2015",
        )
    )
    assert Succession.objects.get(predecessor=RESEARCH).event == event
    assert org("cppcc-go-secretariat").get_children().count() == 3
    secretariat = page(editor_client, "/organizations/cppcc-go-secretariat/?on=2016")
    assert "/organizations/cppcc-go-research-office-office/?on=2016" in secretariat


def test_a_rank_change_sets_the_new_rank_and_keeps_the_old_for_earlier_dates(
    editor_client, seeded
):
    event = recorded(submit(editor_client, "rank", RESEARCH, rank="ministerial", date="2009"))
    assert (event.rank_before_id, org(RESEARCH).rank_id) == ("deputy-ministerial", "ministerial")


# --- Correcting the date --------------------------------------------------------------------


def _correct(client, event: ChangeEvent, date: str):
    url = f"/admin/registry/changeevent/{event.pk}/date/"
    opened = client.get(url)
    assert opened.status_code == 200
    form = opened.context["form"]
    return client.post(url, {"date": date, "shown_date": form["shown_date"].value()})


def test_the_event_page_links_the_date_correction(editor_client, seeded):
    event = recorded(_move(editor_client))
    html = page(editor_client, f"/admin/registry/changeevent/{event.pk}/change/")
    assert f'href="/admin/registry/changeevent/{event.pk}/date/"' in html


def test_correcting_a_moves_date_moves_the_placement_and_the_public_pages(editor_client, seeded):
    event = recorded(_move(editor_client))
    assert _correct(editor_client, event, "2001-06").status_code == 302
    assert str(Placement.objects.get(event=event).end) == "2001-06"
    link = f"/organizations/{RESEARCH}/?on=2001-05"
    assert link in page(editor_client, f"/organizations/{CPPCC_GO}/?on=2001-05")
    assert_tree_valid()


def test_a_correction_breaking_a_rule_is_refused_and_changes_nothing(editor_client, seeded):
    event = recorded(
        submit(editor_client, "move", "npcsc-go-secretariat", parent=CPPCC_GO, date="1990")
    )
    before = database()
    response = _correct(editor_client, event, "1975")
    assert response.status_code == 200
    assert "formed in 30 December 1980" in " ".join(response.context["form"].errors["date"])
    assert database() == before


def test_a_correction_of_a_date_corrected_meanwhile_is_refused(editor_client, seeded):
    event = recorded(_move(editor_client))
    url = f"/admin/registry/changeevent/{event.pk}/date/"
    opened = editor_client.get(url).context["form"]["shown_date"].value()
    assert _correct(editor_client, event, "2000-04").status_code == 302  # someone else
    before = database()
    response = editor_client.post(url, {"date": "2000-05", "shown_date": opened})
    assert "after you opened the form" in " ".join(response.context["form"].errors["date"])
    assert database() == before


def test_the_event_change_form_no_longer_edits_the_date_alone(editor_client, seeded):
    event = recorded(_move(editor_client))
    form = (
        editor_client.get(f"/admin/registry/changeevent/{event.pk}/change/")
        .context["adminform"]
        .form
    )
    assert "date" not in form.fields


@pytest.mark.parametrize("kind", ["move", "rename", "merge", "split", "abolish", "rank"])
def test_each_kinds_form_opens(editor_client, seeded, kind):
    assert form_data(editor_client, kind, RESEARCH)["kind"] == kind
