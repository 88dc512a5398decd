"""The seed fixture says everything the two seed documents say, as structured data.

The documents in fixtures/seeds/ are parsed here line by line, independently of the code that
built fixtures/seed.json, and every fact they state is looked up in the database after loading
the fixture.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

from registry.models import (
    ChangeEvent,
    EventOrganization,
    Organization,
    OtherName,
    Person,
    Placement,
    Post,
    Source,
    Succession,
)

SEED_FILES = ("cppcc-general-office.txt", "npcsc-general-office.txt")
CPPCC = "cppcc-general-office.txt"
NAMES_DOCUMENT = "chinese-names.md"

# The documents write a post held by several people in the plural.
SINGULAR_TITLES = {"Deputy Secretaries-General": "Deputy Secretary-General"}

DESIGNATION = re.compile(r"(first|second|third|fourth|fifth|sixth|seventh|eighth|ninth) bureau")
RANK = re.compile(r".+-level")
PREDECESSOR = re.compile(
    r"The predecessor of the General Office was the (?P<name>.+?), "
    r"which was established in (?P<date>\w+ \d{4})\."
)
ESTABLISHED_WITH_BODY = re.compile(
    r"The General Office of the (?P<body>NPCSC) was established in (?P<year>\d{4}), along with "
    r"the NPC and the NPCSC\."
)
FORMER_NAME = re.compile(
    r"The (?P<name>General Office of .+?) was established on (?P<date>\d{1,2} \w+ \d{4})\."
)
TREE_FIELDS = ("id", "tree_id", "lft", "rght", "level", "parent_id")


def seeds_dir() -> Path:
    return Path(settings.BASE_DIR) / "fixtures" / "seeds"


# --- A small parser for the seed documents -------------------------------------------------


@dataclass
class ListedUnit:
    """One "- " line of an organization list, with the lines indented under it."""

    line: str
    children: list[ListedUnit] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.line.split(" (", 1)[0]

    @property
    def parenthesised(self) -> list[str]:
        match = re.fullmatch(r".+? \((.+)\)", self.line)
        return match.group(1).split(", ") if match else []

    @property
    def rank(self) -> str | None:
        ranks = [part for part in self.parenthesised if RANK.fullmatch(part)]
        assert len(ranks) <= 1, self.line
        return ranks[0] if ranks else None

    @property
    def designations(self) -> list[str]:
        return [part for part in self.parenthesised if DESIGNATION.fullmatch(part)]

    @property
    def second_names(self) -> list[str]:
        return [
            part
            for part in self.parenthesised
            if not RANK.fullmatch(part) and not DESIGNATION.fullmatch(part)
        ]


@dataclass
class SeedDocument:
    title: str
    infobox_name: str
    infobox: dict[str, str]
    lead: str
    sections: dict[str, str]
    departments: list[ListedUnit]
    affiliated: list[ListedUnit]

    @property
    def leaders(self) -> list[tuple[str, list[str]]]:
        """(title as written, holders' names) in the infobox's order."""
        leaders = []
        for key, value in self.infobox.items():
            match = re.fullmatch(r"Leader Title(\d*)", key)
            if match:
                names = self.infobox[f"Leader Name{match.group(1)}"].split(", ")
                leaders.append((value, names))
        return leaders

    @property
    def leader_names(self) -> list[str]:
        return [name for _, names in self.leaders for name in names]

    @property
    def predecessor(self) -> re.Match[str] | None:
        return PREDECESSOR.search(self.sections["History"])


def _parse_list(lines: list[str]) -> list[ListedUnit]:
    """Nested "- " items, two spaces of indentation per level."""
    top: list[ListedUnit] = []
    stack: list[ListedUnit] = []
    for line in lines:
        item = re.fullmatch(r"(?P<indent>(?:  )*)- (?P<text>.+)", line)
        assert item, f"not a list item: {line!r}"
        depth = len(item.group("indent")) // 2
        assert depth <= len(stack), f"indented too deep: {line!r}"
        del stack[depth:]
        unit = ListedUnit(item.group("text"))
        (stack[-1].children if stack else top).append(unit)
        stack.append(unit)
    return top


def parse_seed(text: str) -> SeedDocument:
    lines = text.splitlines()
    title = re.fullmatch(r"= (.+) =", lines[0])
    assert title, lines[0]
    rest = iter(lines[1:])

    line = next(rest)
    while not line.strip():
        line = next(rest)
    infobox_name = line
    infobox: dict[str, str] = {}
    for line in rest:
        if not line.strip():
            break
        key, value = re.fullmatch(r"- (.+?): (.+)", line).groups()
        infobox[key] = value

    lead: list[str] = []
    sections: dict[str, list[str]] = {}
    current = lead
    for line in rest:
        heading = re.fullmatch(r"== (.+) ==", line)
        if heading:
            current = sections.setdefault(heading.group(1), [])
        else:
            current.append(line)

    lists: dict[str, list[str]] = {"composed of": [], "manages": []}
    listing = None
    for line in sections["Organization"]:
        if not line.strip():
            continue
        if line.lstrip().startswith("- "):
            lists[listing].append(line)
        else:
            listing = next(phrase for phrase in lists if phrase in line)

    return SeedDocument(
        title=title.group(1),
        infobox_name=infobox_name,
        infobox=infobox,
        lead="\n".join(lead).strip("\n"),
        sections={name: "\n".join(body).strip("\n") for name, body in sections.items()},
        departments=_parse_list(lists["composed of"]),
        affiliated=_parse_list(lists["manages"]),
    )


def read_seed(file_name: str) -> SeedDocument:
    return parse_seed((seeds_dir() / file_name).read_text(encoding="utf-8"))


def flattened(units: list[ListedUnit]) -> list[ListedUnit]:
    return [each for unit in units for each in (unit, *flattened(unit.children))]


# --- Looking the documents' facts up in the database ----------------------------------------


def office_of(document: SeedDocument) -> Organization:
    return Organization.objects.get(name=document.title)


def listed_in_db(document: SeedDocument, units: list[ListedUnit]) -> list:
    """(listed unit, its organization) for `units` and everything under them, found by name
    under the parent the document puts them in."""
    found = []

    def walk(units: list[ListedUnit], parent: Organization) -> None:
        for unit in units:
            organization = Organization.objects.get(parent=parent, name=unit.name)
            found.append((unit, organization))
            walk(unit.children, organization)

    walk(units, office_of(document))
    return found


def other_names(organization: Organization, name_type: str) -> list[str]:
    """The English other names of a type (the documents are in English)."""
    names = organization.other_names.filter(name_type=name_type, language="")
    return [other.name for other in names.order_by("position", "pk")]


def tree_state() -> list[tuple]:
    return list(Organization.objects.order_by("pk").values_list(*TREE_FIELDS))


@pytest.fixture
def seed_db(db) -> None:
    call_command("loaddata", "seed", verbosity=0)


@pytest.fixture(params=SEED_FILES)
def document(request) -> SeedDocument:
    return read_seed(request.param)


@pytest.fixture
def cppcc() -> SeedDocument:
    return read_seed(CPPCC)


@pytest.fixture
def npcsc() -> SeedDocument:
    return read_seed("npcsc-general-office.txt")


# --- The seed copies and the fixture file ---------------------------------------------------


def test_seed_copies_equal_the_shared_seed_documents():
    shared = Path(settings.BASE_DIR).parent / "shared" / "seeds"
    if not shared.is_dir():
        pytest.skip(f"The shared seed folder {shared} is not on this machine.")
    for file_name in (*SEED_FILES, NAMES_DOCUMENT):
        assert (seeds_dir() / file_name).read_bytes() == (shared / file_name).read_bytes()


def test_fixture_leaves_vocabularies_and_accounts_to_migrations():
    objects = json.loads((Path(settings.BASE_DIR) / "fixtures" / "seed.json").read_text())
    models = {obj["model"] for obj in objects}
    assert models <= {
        "registry.source",
        "registry.organization",
        "registry.othername",
        "registry.citation",
        "registry.succession",
        "registry.changeevent",
        "registry.eventorganization",
        "registry.person",
        "registry.post",
        "registry.holding",
    }


def test_fixture_matches_rows_by_natural_key_not_numeric_id():
    objects = json.loads((Path(settings.BASE_DIR) / "fixtures" / "seed.json").read_text())
    with_pk = {obj["model"] for obj in objects if "pk" in obj}
    assert with_pk == {"registry.organization", "registry.person", "registry.changeevent"}


def test_loading_the_fixture_twice_adds_nothing(seed_db):
    before = Organization.objects.count(), OtherName.objects.count(), Person.objects.count()
    call_command("loaddata", "seed", verbosity=0)
    after = Organization.objects.count(), OtherName.objects.count(), Person.objects.count()
    assert after == before


def test_rebuild_after_loading_changes_no_tree_field(seed_db):
    before = tree_state()
    Organization.objects.rebuild()
    assert tree_state() == before


# --- The parent organization ------------------------------------------------------------------


def test_office_parent_is_the_infobox_parent_organization(seed_db, document):
    assert office_of(document).parent.name == document.infobox["Parent Organization"]


def test_parent_organization_is_a_national_body_at_the_top(seed_db, document):
    root = office_of(document).parent
    assert (root.parent_id, root.kind_id) == (None, "national-body")


def test_parent_organization_abbreviation_in_lead_is_an_abbreviation(seed_db, document):
    root = office_of(document).parent
    written = re.search(re.escape(root.name) + r" \((?P<abbreviation>[A-Z]+)\)", document.lead)
    assert other_names(root, OtherName.Type.ABBREVIATION) == [written.group("abbreviation")]


def test_root_children_are_the_office_then_its_predecessor(seed_db, document):
    root = office_of(document).parent
    predecessors = [document.predecessor.group("name")] if document.predecessor else []
    assert [child.name for child in root.get_children()] == [document.title, *predecessors]


def test_each_tree_holds_exactly_the_documents_organizations(seed_db, document):
    root = office_of(document).parent
    listed = flattened(document.departments + document.affiliated)
    predecessors = [document.predecessor.group("name")] if document.predecessor else []
    expected = [root.name, document.title, *predecessors, *(unit.name for unit in listed)]
    in_tree = root.get_descendants(include_self=True).values_list("name", flat=True)
    assert sorted(in_tree) == sorted(expected)


# --- The office: infobox, lead and sections -----------------------------------------------


def test_office_name_is_the_document_title_and_infobox_name(seed_db, document):
    assert office_of(document).name == document.infobox_name == document.title


def test_office_is_an_administrative_agency(seed_db, document):
    assert office_of(document).kind_id == "administrative-agency"


def test_office_formation_date_equals_infobox(seed_db, document):
    assert str(office_of(document).formed) == document.infobox["Formation"]


def test_office_type_equals_infobox(seed_db, document):
    assert office_of(document).type == document.infobox["Type"]


def test_office_location_equals_infobox(seed_db, document):
    assert office_of(document).location == document.infobox["Location"]


def test_office_summary_equals_lead_paragraph(seed_db, document):
    assert office_of(document).summary == document.lead


def test_office_history_equals_history_section(seed_db, document):
    assert office_of(document).history == document.sections["History"]


def test_office_functions_equal_functions_section(seed_db, document):
    assert office_of(document).functions == document.sections["Functions"]


# --- Departments and directly affiliated institutions ---------------------------------------


def test_office_children_are_departments_then_affiliated_in_document_order(seed_db, document):
    children = [child.name for child in office_of(document).get_children()]
    assert children == [unit.name for unit in document.departments + document.affiliated]


def test_sub_departments_are_children_of_their_department_in_document_order(seed_db, document):
    for unit, organization in listed_in_db(document, document.departments):
        children = [child.name for child in organization.get_children()]
        assert children == [child.name for child in unit.children], unit.line


def test_departments_and_sub_departments_are_internal_departments(seed_db, document):
    for unit, organization in listed_in_db(document, document.departments):
        assert organization.kind_id == "internal-department", unit.line
        assert not organization.kind.is_affiliated, unit.line


def test_managed_institutions_are_directly_affiliated_institutions(seed_db, document):
    for unit, organization in listed_in_db(document, document.affiliated):
        assert organization.kind_id == "affiliated-institution", unit.line
        assert organization.kind.is_affiliated, unit.line


def test_styled_name_of_every_listed_unit_equals_its_line(seed_db, document):
    pairs = listed_in_db(document, document.departments + document.affiliated)
    assert [org.styled_name for _, org in pairs] == [unit.line for unit, _ in pairs]


def test_parenthesised_rank_is_the_rank_of_the_unit(seed_db, document):
    for unit, organization in listed_in_db(document, document.departments + document.affiliated):
        rank = organization.rank.name if organization.rank else None
        assert rank == unit.rank, unit.line


def test_parenthesised_bureau_numbers_are_designations(seed_db, document):
    for unit, organization in listed_in_db(document, document.departments + document.affiliated):
        assert other_names(organization, OtherName.Type.DESIGNATION) == unit.designations


def test_other_parenthesised_names_are_second_names(seed_db, document):
    for unit, organization in listed_in_db(document, document.departments + document.affiliated):
        assert other_names(organization, OtherName.Type.SECOND_NAME) == unit.second_names


def test_parentheses_are_not_part_of_any_name(seed_db):
    assert not Organization.objects.filter(name__contains="(").exists()


# --- Leadership ---------------------------------------------------------------------------


def test_leader_posts_follow_the_infobox_order(seed_db, document):
    posts = Post.objects.filter(organization=office_of(document)).order_by("position")
    assert [post.heading for post in posts] == [title for title, _ in document.leaders]
    assert [post.position for post in posts] == list(range(1, len(document.leaders) + 1))


def test_plural_leader_titles_are_plural_titles_of_singular_posts(seed_db, document):
    office = office_of(document)
    for written, _ in document.leaders:
        post = Post.objects.get(organization=office, title=SINGULAR_TITLES.get(written, written))
        assert post.plural_title == (written if written in SINGULAR_TITLES else "")


def test_post_holders_follow_the_infobox_order(seed_db, document):
    office = office_of(document)
    for written, names in document.leaders:
        post = Post.objects.get(organization=office, title=SINGULAR_TITLES.get(written, written))
        holdings = post.holdings.order_by("position")
        assert [holding.person.name for holding in holdings] == names
        assert [holding.position for holding in holdings] == list(range(1, len(names) + 1))


def test_appointment_dates_are_left_empty(seed_db, document):
    for post in Post.objects.filter(organization=office_of(document)):
        assert all(h.start is None and h.end is None for h in post.holdings.all())


# --- Lineage (CPPCC History section) -------------------------------------------------------


def test_office_predecessors_are_those_named_in_history(seed_db, document):
    links = Succession.objects.filter(successor=office_of(document))
    named = [document.predecessor.group("name")] if document.predecessor else []
    assert [link.predecessor.name for link in links] == named


def test_cppcc_history_names_a_predecessor(cppcc):
    assert cppcc.predecessor.group("name") == "Secretariat of the CPPCC National Committee"


def test_predecessor_formation_month_equals_history(seed_db, cppcc):
    predecessor = Succession.objects.get(successor=office_of(cppcc)).predecessor
    assert str(predecessor.formed) == "1949-10"
    assert predecessor.formed.display() == cppcc.predecessor.group("date")


def test_predecessor_is_kept_under_the_same_body_without_invented_dissolution(seed_db, cppcc):
    office = office_of(cppcc)
    predecessor = Succession.objects.get(successor=office).predecessor
    assert predecessor.parent == office.parent
    assert predecessor.dissolved is None


def test_name_at_establishment_in_history_is_a_former_name(seed_db, cppcc):
    office = office_of(cppcc)
    written = FORMER_NAME.search(cppcc.sections["History"])
    assert other_names(office, OtherName.Type.FORMER_NAME) == [written.group("name")]
    assert office.formed.display() == written.group("date")


# --- Time: dates, the former name's period, the establishment event (issue "through time") --


def test_former_name_is_in_use_from_the_establishment_date_with_no_invented_end(seed_db, cppcc):
    written = FORMER_NAME.search(cppcc.sections["History"])
    former = OtherName.objects.get(name=written.group("name"))
    assert former.start.display() == written.group("date")
    assert former.end is None  # the seed does not say when the name stopped


def test_establishment_is_an_event_with_its_predecessor_before_and_the_office_after(
    seed_db, cppcc
):
    office = office_of(cppcc)
    link = Succession.objects.get(successor=office)
    event = link.event
    assert event.type == ChangeEvent.Type.ESTABLISHED
    assert event.date == office.formed
    assert event.date.display() == FORMER_NAME.search(cppcc.sections["History"]).group("date")
    parts = {(p.organization.name, p.role) for p in event.participants.all()}
    assert parts == {
        (cppcc.predecessor.group("name"), EventOrganization.Role.ORIGINAL),
        (office.name, EventOrganization.Role.RESULT),
    }
    assert event.source.title == cppcc.title


def test_only_the_cppcc_establishment_is_an_event(seed_db):
    assert ChangeEvent.objects.count() == 1


def test_npcsc_body_formation_year_is_the_one_its_office_was_established_with(seed_db, npcsc):
    stated = ESTABLISHED_WITH_BODY.search(npcsc.sections["History"])
    office = office_of(npcsc)
    assert str(office.parent.formed) == stated.group("year")
    assert str(office.formed).startswith(stated.group("year"))


def test_no_other_date_is_invented(seed_db):
    """Every date in the seed registry is one the documents state."""
    dated = {
        (pk, str(formed))
        for pk, formed in Organization.objects.exclude(formed="").values_list("pk", "formed")
    }
    assert dated == {
        ("cppcc-general-office", "1980-12-30"),
        ("cppcc-secretariat", "1949-10"),
        ("npcsc", "1954"),
        ("npcsc-general-office", "1954-09-27"),
    }
    assert not Organization.objects.exclude(dissolved="").exists()
    assert not Placement.objects.exists()
    assert not OtherName.objects.exclude(end="").exists()
    assert list(OtherName.objects.exclude(start="").values_list("start", flat=True)) == [
        "1980-12-30"
    ]


# --- Sources ------------------------------------------------------------------------------


def test_every_organization_in_a_document_cites_it(seed_db, document):
    source = Source.objects.get(title=document.title)
    root = office_of(document).parent
    for organization in root.get_descendants(include_self=True):
        assert source in organization.sources.all(), organization.pk


def test_every_leader_cites_the_document(seed_db, document):
    source = Source.objects.get(title=document.title)
    for name in document.leader_names:
        assert source in Person.objects.get(name=name).sources.all(), name


def test_every_organization_and_person_has_a_source(seed_db):
    assert not Organization.objects.filter(sources__isnull=True).exists()
    assert not Person.objects.filter(sources__isnull=True).exists()


# --- Chinese names (fixtures/seeds/chinese-names.md) -----------------------------------------
# Read here on its own: the tables' rows, the sources list, and the "Unverified" list. The
# tables write some English names shorter than the seed ("… of the CPPCC"); a row names the
# seed record whose name, or whose name with the abbreviations written out, it gives.

ABBREVIATIONS = {
    "CPPCC": "Chinese People's Political Consultative Conference",
    "NPC": "National People's Congress",
}


@dataclass
class NameRow:
    tree: str  # the root's id
    english: str
    chinese: str
    short: str
    evidence: str


def name_rows() -> list[NameRow]:
    text = (seeds_dir() / NAMES_DOCUMENT).read_text(encoding="utf-8")
    rows = []
    for heading, tree in (
        ("## CPPCC, with evidence", "cppcc-national-committee"),
        ("## NPC Standing Committee, with evidence", "npcsc"),
    ):
        table = text.split(heading)[1].split("\n## ")[0]
        for line in table.splitlines():
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) == 4 and not cells[0].startswith(("English", "---")):
                rows.append(NameRow(tree, *cells))
    return rows


def source_addresses() -> dict[str, str]:
    text = (seeds_dir() / NAMES_DOCUMENT).read_text(encoding="utf-8")
    listed = text.split("Sources:")[1].split("\n## ")[0]
    return dict(re.findall(r"^- (S\d+) [^\n]*?(?:\n +)?[^\n]*?(https?://\S+)", listed, re.M))


def seed_unit(row: NameRow) -> Organization:
    """The seed organization a row names, in the row's tree."""
    english = re.sub(r" \((?:predecessor|department|the magazine)[^)]*\)$", "", row.english)
    english = re.sub(
        r" \((?:first bureau|Foreign Affairs Bureau of the General Office)\)$", "", english
    )
    tree = Organization.objects.get(pk=row.tree).get_descendants(include_self=True)
    candidates = [english]
    for short, full in ABBREVIATIONS.items():
        candidates.append(re.sub(rf"\b{short}\b", full, english))
    candidates.append(
        re.sub(r"the (\w+) National Committee", r"the National Committee of the \1", english)
    )
    candidates = [re.sub(r"\bCPPCC\b", ABBREVIATIONS["CPPCC"], c) for c in candidates] + candidates
    for candidate in candidates:
        found = tree.filter(name=candidate)
        if found.count() == 1:
            return found.get()
    raise AssertionError(f"No seed unit in {row.tree} is named {row.english!r}")


def is_organization_row(row: NameRow) -> bool:
    return not Person.objects.filter(name=row.english.split(",")[0].strip()).exists()


def test_every_evidenced_chinese_name_is_loaded_with_its_evidence(seed_db):
    addresses = source_addresses()
    rows = [row for row in name_rows() if is_organization_row(row)]
    assert len(rows) == 22
    for row in rows:
        unit = seed_unit(row)
        chinese = re.split(r";| \(", row.chinese)[0].strip()
        assert unit.name_zh == chinese, row.english
        assert unit.short_name_zh == row.short, row.english
        cited = {c.source.url: c.locator for c in unit.citations.select_related("source")}
        for number in re.findall(r"\bS\d+\b", row.evidence):
            locator = cited[addresses[number]]
            assert locator.startswith(f"Chinese name {chinese}"), (row.english, locator)
            quoted = re.findall(r'"([^"]+)"', row.evidence)
            assert all(q in locator for q in quoted[:1]), (row.english, locator)


def test_chinese_second_names_are_kept_as_chinese_second_names(seed_db):
    office = Organization.objects.get(pk="cppcc-go-committee-foreign-affairs-office")
    second = office.other_names.filter(name_type=OtherName.Type.SECOND_NAME, language="zh-Hans")
    assert [o.name for o in second] == ["中国人民政治协商会议全国委员会办公厅外事局"]
    assert office.styled_name == (
        "Office of the Committee of Foreign Affairs "
        "(Foreign Affairs Bureau of the General Office, eighth bureau)"
    )


def test_every_evidenced_person_has_the_chinese_name_and_cites_the_evidence(seed_db):
    addresses = source_addresses()
    rows = [row for row in name_rows() if not is_organization_row(row)]
    people = 0
    for row in rows:
        names = [n.strip() for n in row.english.split(",")]
        chinese = [n.strip() for n in row.chinese.split(",")]
        assert len(names) == len(chinese)
        for name, name_zh in zip(names, chinese, strict=True):
            person = Person.objects.get(name=name)
            assert person.name_zh == name_zh
            urls = {source.url for source in person.sources.all()}
            for number in re.findall(r"\bS\d+\b", row.evidence):
                assert addresses[number] in urls, (name, number)
                assert f"{name_zh}: {number}" in person.note
            people += 1
    assert people == 18


def test_no_unverified_name_is_loaded(seed_db):
    text = (seeds_dir() / NAMES_DOCUMENT).read_text(encoding="utf-8")
    unverified = text.split("## Unverified")[1]
    han = re.compile(r"[\u4e00-\u9fff]{2,}")
    evidenced = {
        name for row in name_rows() for name in han.findall(row.chinese + " " + row.short)
    }
    loaded = set(Organization.objects.values_list("name_zh", flat=True))
    loaded |= set(Organization.objects.values_list("short_name_zh", flat=True))
    loaded |= set(Person.objects.values_list("name_zh", flat=True))
    loaded |= set(OtherName.objects.values_list("name", flat=True))
    for name in han.findall(unverified):
        if name not in evidenced:
            assert name not in loaded, name
    assert Person.objects.get(name="Han Dongmei").name_zh == ""
    assert Person.objects.get(name="Liu Junchen").name_zh == ""


def test_seed_units_without_evidence_have_no_chinese_name(seed_db):
    named = {seed_unit(row).pk for row in name_rows() if is_organization_row(row)}
    assert not Organization.objects.exclude(pk__in=named).exclude(name_zh="").exists()
    assert not Organization.objects.exclude(pk__in=named).exclude(short_name_zh="").exists()
