"""Back to Wikidata: the selected organizations as QuickStatements V1 commands."""

import datetime
import io

import pytest
from django.contrib.auth.models import User
from django.contrib.messages import get_messages
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils.encoding import iri_to_uri

from registry.admin import organizations as admin_module
from registry.dates import PartialDate
from registry.models import Citation, Identifier, Organization, OtherName, Source
from registry.quickstatements import wikidata_time

CHANGELIST = "/admin/registry/organization/"
EXPORTED_ON = datetime.date(2025, 3, 4)
RETRIEVED = "S813\t+2025-03-04T00:00:00Z/11"
# Reference URLs as URIs: the seed's addresses hold Chinese, percent-encoded in the file.
ZH_WIKIPEDIA = iri_to_uri(
    "https://kiwix.haohe.fun/content/wikipedia_zh_all_maxi_2024-04/A/"
    "中国人民政治协商会议全国委员会办公厅"
)
ENCYCLOPEDIA_AS_STORED = "http://weilinceramic.com/weilinceramic/全国政协/0"
ENCYCLOPEDIA = iri_to_uri(ENCYCLOPEDIA_AS_STORED)
# The seed's own documents have no web address: no reference comes from them.
SELECTION = ["cppcc-secretariat", "cppcc-general-office", "cppcc-national-committee"]

EXPECTED = [
    # The national committee, given a Q-number below: aliases, never labels, on an existing item.
    "Q1000001\tAen\t\"National Committee of the Chinese People's Political Consultative "
    'Conference"',
    'Q1000001\tAzh-hans\t"中国人民政治协商会议全国委员会"',
    'Q1000001\tAzh-hans\t"全国政协"',
    'Q1000001\tAen\t"CPPCC"',
    # The General Office: created; its parent has a Q-number; formed on a known day.
    "CREATE",
    "LAST\tLen\t\"General Office of the National Committee of the Chinese People's Political "
    'Consultative Conference"',
    'LAST\tLzh-hans\t"中国人民政治协商会议全国委员会办公厅"',
    'LAST\tAzh-hans\t"全国政协办公厅"',
    f'LAST\tP749\tQ1000001\tS854\t"{ZH_WIKIPEDIA}"\t{RETRIEVED}',
    f'LAST\tP571\t+1980-12-30T00:00:00Z/11\tS854\t"{ZH_WIKIPEDIA}"\t{RETRIEVED}',
    # The Secretariat: formed in October 1949, a month.
    "CREATE",
    'LAST\tLen\t"Secretariat of the CPPCC National Committee"',
    'LAST\tLzh-hans\t"中国人民政治协商会议全国委员会秘书处"',
    f'LAST\tP749\tQ1000001\tS854\t"{ZH_WIKIPEDIA}"\t{RETRIEVED}',
    f'LAST\tP571\t+1949-10-00T00:00:00Z/10\tS854\t"{ZH_WIKIPEDIA}"\t{RETRIEVED}',
]


def _export(client, selection, monkeypatch):
    monkeypatch.setattr(admin_module.timezone, "localdate", lambda: EXPORTED_ON)
    return client.post(
        # `index`: which of the page's action forms was used, as a browser posts it.
        CHANGELIST,
        {"action": "export_quickstatements", "index": "0", "_selected_action": selection},
    )


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


@pytest.fixture
def national_committee_on_wikidata(seeded):
    Identifier.objects.create(
        organization_id="cppcc-national-committee", scheme="wikidata", identifier="Q1000001"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1980-12-30", "+1980-12-30T00:00:00Z/11"),
        ("1949-10", "+1949-10-00T00:00:00Z/10"),
        ("1954", "+1954-00-00T00:00:00Z/9"),
        ("0800-01-02", "+0800-01-02T00:00:00Z/11"),
    ],
)
def test_dates_are_written_at_their_precision(text, expected):
    assert wikidata_time(PartialDate.parse(text)) == expected


def test_the_file_creates_items_and_adds_to_existing_ones(
    editor_client, national_committee_on_wikidata, monkeypatch
):
    response = _export(editor_client, SELECTION, monkeypatch)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="quickstatements.txt"'
    assert response.content.decode().split("\n") == [*EXPECTED, ""]
    assert _messages(response) == []


def test_a_statement_is_repeated_with_each_cited_web_source_and_dissolution_is_written(
    editor_client, national_committee_on_wikidata, monkeypatch
):
    secretariat = Organization.objects.get(pk="cppcc-secretariat")
    secretariat.dissolved = PartialDate.parse("1954")
    secretariat.save()
    Citation.objects.create(
        organization=secretariat,
        source=Source.objects.get(url=ENCYCLOPEDIA_AS_STORED),
        position=20,
    )
    lines = _export(editor_client, ["cppcc-secretariat"], monkeypatch).content.decode()
    assert [line for line in lines.splitlines() if "\tP576\t" in line] == [
        f'LAST\tP576\t+1954-00-00T00:00:00Z/9\tS854\t"{url}"\t{RETRIEVED}'
        for url in (ZH_WIKIPEDIA, ENCYCLOPEDIA)
    ]


def test_a_parent_without_a_q_number_gives_no_parent_statement_and_a_warning(
    editor_client, seeded, monkeypatch
):
    response = _export(editor_client, ["cppcc-secretariat"], monkeypatch)
    lines = response.content.decode().splitlines()
    assert lines[0] == "CREATE"
    assert not any("\tP749\t" in line for line in lines)
    assert _messages(response) == [
        "“Secretariat of the CPPCC National Committee” (cppcc-secretariat) has no parent "
        "organization (P749) in the file: its parent “National Committee of the Chinese "
        "People's Political Consultative Conference” has no Wikidata Q-number. Once it has one "
        "in the registry, export again."
    ]


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ('The "Old" Office', 'it contains a double quote (")'),
        ("Office\tOne", "it contains a tab"),
        ("Office\nOne", "it contains a line break"),
    ],
)
def test_a_name_that_cannot_be_written_refuses_the_export_and_says_why(
    editor_client, seeded, monkeypatch, name, why
):
    # Written around the form's checks, as an import or an old row could hold it.
    Organization.objects.filter(pk="cppcc-go-secretariat").update(name=name)
    response = _export(editor_client, ["cppcc-go-secretariat", "cppcc-secretariat"], monkeypatch)
    assert response.status_code == 302  # back to the list: no file
    assert _messages(response) == [
        f"“{name}” (cppcc-go-secretariat) cannot be exported to Wikidata: the name “{name}” "
        f"cannot be written: {why}. Nothing was exported: correct it, or leave it out of the "
        "selection."
    ]
    assert Organization.objects.get(pk="cppcc-go-secretariat").name == name


def test_an_other_name_that_cannot_be_written_refuses_the_export(
    editor_client, seeded, monkeypatch
):
    OtherName.objects.create(
        organization_id="cppcc-secretariat", name='"Mishuchu"', name_type="abbreviation"
    )
    response = _export(editor_client, ["cppcc-secretariat"], monkeypatch)
    assert response.status_code == 302
    assert 'the name “"Mishuchu"” cannot be written' in _messages(response)[0]


def test_former_names_and_ended_names_are_not_aliases(editor_client, seeded, monkeypatch):
    OtherName.objects.create(
        organization_id="cppcc-secretariat", name="CPPCC-S", name_type="abbreviation", end="1954"
    )
    text = _export(editor_client, ["cppcc-general-office"], monkeypatch).content.decode()
    assert "General Office of the CPPCC Standing Committee" not in text  # a former name
    text = _export(editor_client, ["cppcc-secretariat"], monkeypatch).content.decode()
    assert "CPPCC-S" not in text


def test_the_rows_are_read_in_a_fixed_number_of_queries(
    editor_client, national_committee_on_wikidata, monkeypatch
):
    def queries(selection) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert _export(editor_client, selection, monkeypatch).status_code == 200
        return len(captured)

    few = queries(["cppcc-secretariat"])
    many = queries(
        [
            *SELECTION,
            *Organization.objects.filter(parent_id="cppcc-general-office").values_list(
                "pk", flat=True
            ),
        ]
    )
    assert many == few


def test_viewers_may_export_as_they_may_export_csv(viewer_client, seeded, monkeypatch):
    response = _export(viewer_client, ["cppcc-secretariat"], monkeypatch)
    assert response.status_code == 200
    assert response.content.decode().startswith("CREATE\n")


def test_staff_without_rights_cannot_export(client, seeded, monkeypatch):
    user = User.objects.create_user("nobody", password="a-long-test-password", is_staff=True)
    client.force_login(user)
    response = _export(client, ["cppcc-secretariat"], monkeypatch)
    assert response.status_code == 403


def test_an_empty_selection_gets_the_admins_message(editor_client, seeded, monkeypatch):
    response = _export(editor_client, [], monkeypatch)
    assert response.status_code == 302  # back to the list, no file
    assert _messages(response) == [
        "Items must be selected in order to perform actions on them. No items have been changed."
    ]


def test_the_command_exports_ids_or_a_subtree(national_committee_on_wikidata, monkeypatch):
    from registry.management.commands import export_quickstatements as command

    monkeypatch.setattr(command.timezone, "localdate", lambda: EXPORTED_ON)
    out, err = io.StringIO(), io.StringIO()
    call_command("export_quickstatements", *SELECTION, stdout=out, stderr=err)
    assert out.getvalue().split("\n") == [*EXPECTED, ""]
    assert err.getvalue() == ""

    out = io.StringIO()
    call_command("export_quickstatements", "--root", "cppcc-general-office", stdout=out)
    assert (
        out.getvalue().count("CREATE\n")
        == Organization.objects.get(pk="cppcc-general-office").get_descendant_count() + 1
    )


def test_the_command_refuses_what_it_cannot_write(seeded):
    Organization.objects.filter(pk="cppcc-secretariat").update(name='A "quoted" name')
    with pytest.raises(CommandError, match=r"cppcc-secretariat.*double quote"):
        call_command("export_quickstatements", "cppcc-secretariat", stdout=io.StringIO())
    with pytest.raises(CommandError, match="no-such-unit"):
        call_command("export_quickstatements", "no-such-unit", stdout=io.StringIO())
