"""Property: any registry survives export -> import into an empty database -> export, byte for
byte, and re-importing an export changes nothing; whatever the names contain."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from registry.imports import import_organizations, import_posts
from registry.models import (
    Citation,
    Holding,
    Organization,
    OtherName,
    Person,
    Post,
    Source,
    Succession,
)

from .conftest import assert_tree_valid
from .csvtools import empty_registry, export_text
from .transactions import rolled_back

# Chinese text, a full-width comma (\uff0c), CSV and JSON syntax, spreadsheet formula triggers.
AWKWARD = list("中文政协办公厅「」\uff0c,;:\"'=+-@|[]{}\\ \t\r\n")
plain = st.text(
    alphabet=st.one_of(
        st.sampled_from(AWKWARD), st.characters(exclude_categories=("Cs", "Cc", "Zl", "Zp"))
    ),
    min_size=1,
    max_size=25,
)
awkward = st.one_of(
    plain,
    st.builds(str.__add__, st.sampled_from(["=", "+", "-", "@", "\t", "\r", "'", "'="]), plain),
).filter(lambda text: text.strip())
# Spaces and line breaks around free text are kept exactly (nothing is trimmed).
padded = st.builds(
    lambda before, text, after: before + text + after,
    st.sampled_from(["", " ", "  "]),
    awkward,
    st.sampled_from(["", " ", "\n"]),
)
optional = st.one_of(st.just(""), awkward, padded)
dates = st.one_of(
    st.just(""),
    st.builds(lambda y, m, d: f"{y}", st.integers(1800, 2030), st.none(), st.none()),
    st.builds(lambda y, m: f"{y}-{m:02d}", st.integers(1800, 2030), st.integers(1, 12)),
    st.dates().map(lambda d: d.isoformat()).filter(lambda text: len(text) == 10),
)


@st.composite
def registries(draw):
    size = draw(st.integers(1, 10))
    nodes = []
    for index in range(size):
        formed = draw(dates)
        nodes.append(
            {
                "parent": draw(st.one_of(st.none(), st.integers(0, index - 1))) if index else None,
                "name": draw(st.one_of(awkward, padded)),
                "kind": draw(
                    st.sampled_from(
                        ["national-body", "internal-department", "affiliated-institution"]
                    )
                ),
                "rank": draw(st.sampled_from([None, "bureau", "deputy-bureau"])),
                "formed": formed,
                "dissolved": draw(st.sampled_from(["", formed])),
                "type": draw(optional),
                "location": draw(optional),
                "summary": draw(optional),
                "other_names": draw(
                    st.lists(
                        st.tuples(
                            st.sampled_from(OtherName.Type.values),
                            st.one_of(awkward, padded),
                            st.sampled_from(["", "zh-Hans"]),
                        ),
                        max_size=3,
                        unique_by=lambda item: (item[0], item[1]),
                    )
                ),
                "sources": draw(st.lists(st.tuples(awkward, optional), max_size=2, unique=True)),
                "predecessors": draw(
                    st.lists(st.integers(0, index - 1), max_size=2, unique=True)
                    if index
                    else st.just([])
                ),
                "posts": draw(
                    st.lists(
                        st.tuples(awkward, st.lists(st.tuples(padded, optional), max_size=3)),
                        max_size=2,
                        unique_by=lambda post: post[0],
                    )
                ),
            }
        )
    return nodes


def _build(nodes: list[dict]) -> None:
    organizations = []
    for index, node in enumerate(nodes):
        parent = organizations[node["parent"]] if node["parent"] is not None else None
        organization = Organization(
            id=f"unit-{index}",
            parent=parent,
            name=node["name"],
            kind_id=node["kind"],
            rank_id=node["rank"],
            formed=node["formed"],
            dissolved=node["dissolved"],
            type=node["type"],
            location=node["location"],
            summary=node["summary"],
        )
        organization.save()
        organizations.append(organization)
        for position, (name_type, name, language) in enumerate(node["other_names"]):
            OtherName.objects.create(
                organization=organization,
                name_type=name_type,
                name=name,
                language=language,
                position=position,
            )
        for position, (title, locator) in enumerate(node["sources"]):
            source, _ = Source.objects.get_or_create(title=title, url="")
            Citation.objects.create(
                organization=organization, source=source, locator=locator, position=position
            )
        for predecessor in node["predecessors"]:
            Succession.objects.create(
                predecessor=organizations[predecessor], successor=organization
            )
        for seniority, (title, holders) in enumerate(node["posts"], start=1):
            post = Post.objects.create(organization=organization, title=title, position=seniority)
            for order, (name, name_zh) in enumerate(holders, start=1):
                person = Person.objects.create(
                    id=f"person-{index}-{seniority}-{order}", name=name, name_zh=name_zh
                )
                Holding.objects.create(post=post, person=person, position=order)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(registries())
def test_any_registry_round_trips_byte_identically(db, nodes):
    # Each example in a savepoint of its own, undone, so examples do not see each other.
    with rolled_back():
        _build(nodes)
        organizations, posts = export_text(), export_text("posts")

        unchanged = import_organizations(organizations.encode())
        assert unchanged.ok and unchanged.changed == 0, unchanged.problems
        assert import_posts(posts.encode()).changed == 0

        empty_registry()
        report = import_organizations(organizations.encode())
        assert report.ok, report.problems
        assert import_posts(posts.encode()).ok
        assert export_text() == organizations
        assert export_text("posts") == posts
        assert_tree_valid()
