"""Large subtrees on an organization's page: a useful depth open, the rest folded in <details>
that say how many units they hold, from the page's one query of the subtree."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from .csvtools import write

CPPCC_OFFICE = "/organizations/cppcc-general-office/"
HOSTILE = "<script>alert(\"x\")</script> & 'quoted' Division"
# One word wider than a phone.
LONG = "Generalverwaltungsdirektionssekretariatsunterabteilungsbüro" * 2


def import_large_unit(
    folder: Path, pk: str = "big", direct: int = 624, *, formed: str = "1990"
) -> None:
    """Import (as a curator's CSV would) a unit with `direct` departments; the first five hold
    four sections each, every section one team; the second department has a hostile name, the
    third a Chinese one, the fourth a word wider than a phone; twelve affiliated institutions,
    the first with three centres."""
    row = _row
    rows = [row(pk, "", "Big Office", "administrative-agency", formed=formed, name_zh="大办公厅")]
    for i in range(direct):
        name = {1: HOSTILE, 2: "Research Division", 3: LONG}.get(i, f"Division {i}")
        rows.append(row(f"{pk}-{i}", pk, name, name_zh="研究处" if i == 2 else ""))
    for i in range(5):
        for j in range(4):
            rows.append(row(f"{pk}-{i}-{j}", f"{pk}-{i}", f"Section {i}.{j}"))
            rows.append(row(f"{pk}-{i}-{j}-t", f"{pk}-{i}-{j}", f"Team {i}.{j}"))
    for i in range(12):
        rows.append(row(f"{pk}-inst-{i}", pk, f"Institute {i}", "affiliated-institution"))
    for k in range(3):
        rows.append(row(f"{pk}-inst-0-{k}", f"{pk}-inst-0", f"Centre {k}"))
    _import(folder, pk, rows)


def _row(unit, parent, name, kind="internal-department", **more) -> dict[str, str]:
    return {"id": unit, "parent": parent, "name": name, "kind": kind, "rank": ""} | more


def _import(folder: Path, name: str, rows: list[dict[str, str]]) -> None:
    header = ["id", "parent", "name", "name_zh", "kind", "rank", "formed"]
    path = folder / f"{name}.csv"
    path.write_bytes(write([{key: r.get(key, "") for key in header} for r in rows], header))
    call_command("import_registry", "organizations", str(path), verbosity=0)


class _Folds(HTMLParser):
    """The <details> of one section, in document order, each with its depth, whether it is
    open, its name (the unit whose units it holds, then its summary: "Research Office — 3
    units"), its summary's label, and the unit links inside it (at any depth)."""

    def __init__(self, section_id: str):
        super().__init__()
        self.section_id = section_id
        self.inside = 0
        self.items: list[dict] = []  # the <li> being read, outermost first
        self.open: list[dict] = []
        self.folds: list[dict] = []
        self.in_summary: dict | None = None
        self.in_name: dict | None = None
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if not self.inside:
            self.inside = int(attributes.get("aria-labelledby") == self.section_id)
            return
        if tag == "section":
            self.inside += 1
        elif tag == "li":
            self.items.append({"name": "", "named": False})
        elif tag == "details":
            item = self.items[-1]
            fold = {"depth": len(self.open), "open": "open" in attributes, "unit": item["name"]}
            fold |= {"summary": "", "links": []}
            self.open.append(fold)
            self.folds.append(fold)
        elif tag == "summary":
            self.in_summary = self.open[-1]
            self.in_summary["label"] = attributes.get("aria-label")
        elif tag == "a":
            self.links.append(attributes["href"])
            for fold in self.open:
                fold["links"].append(attributes["href"])
            if not self.items[-1]["named"]:
                self.in_name = self.items[-1]

    def handle_endtag(self, tag):
        if not self.inside:
            return
        if tag == "section":
            self.inside -= 1
        elif tag == "li":
            self.items.pop()
        elif tag == "details":
            self.open.pop()
        elif tag == "summary":
            self.in_summary = None
        elif tag == "a" and self.in_name:
            self.in_name["named"], self.in_name = True, None

    def handle_data(self, data):
        if self.inside and self.in_summary is not None:
            self.in_summary["summary"] += data
        if self.inside and self.in_name is not None:
            self.in_name["name"] += data


def folds(html: str, section_id: str = "departments") -> tuple[list[dict], list[str]]:
    parser = _Folds(section_id)
    parser.feed(html)
    assert not parser.open and not parser.items, "unbalanced lists"
    for fold in parser.folds:
        summary = " ".join(fold["summary"].split())
        fold["name"] = f"{fold['unit']} — {summary}" if fold["unit"] else summary
    return parser.folds, parser.links


def _page(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def _by_name(found: list[dict]) -> dict[str, dict]:
    return {fold["name"]: fold for fold in found}


def test_a_small_subtree_is_shown_whole_with_each_unit_counted(client, seeded):
    found, _ = folds(_page(client, CPPCC_OFFICE))
    assert found and all(fold["open"] for fold in found)
    research = _by_name(found)["Research Office — 3 units"]
    assert research["links"] == [
        "/organizations/cppcc-go-research-office-theoretical-bureau/",
        "/organizations/cppcc-go-research-office-information-bureau/",
        "/organizations/cppcc-go-research-office-office/",
    ]
    assert research["label"] == "3 units under Research Office"
    assert not any("more units" in fold["summary"] for fold in found)


def test_a_large_unit_opens_its_first_levels_and_folds_the_rest(client, db, tmp_path):
    import_large_unit(tmp_path)
    html = _page(client, "/organizations/big/")
    found, links = folds(html)
    summaries = _by_name(found)
    # The first list: 20 departments shown, the other 604 in one fold, closed.
    rest = summaries["604 more units at this level"]
    assert (rest["depth"], rest["open"]) == (0, False)
    assert len([link for link in rest["links"] if link.count("-") == 1]) == 604
    # Departments with sections are open (a second level shown), each section folded with its
    # team, which is in the HTML all the same.
    division = summaries["Division 0 — 8 units"]
    assert (division["depth"], division["open"]) == (0, True)
    section = summaries["Section 0.0 — 1 unit"]
    assert (section["depth"], section["open"]) == (1, False)
    assert section["links"] == ["/organizations/big-0-0-t/"]
    assert [f["name"] for f in found if f["depth"] == 1 and f["open"]] == []
    # Every unit is in the page, folded or not, each once.
    assert len(links) == len(set(links)) == 624 + 40
    # Institutions are a small list of their own: shown whole.
    institutes, _ = folds(html, "affiliated")
    assert [(f["name"], f["open"]) for f in institutes] == [("Institute 0 — 3 units", True)]


def test_a_long_list_deeper_down_is_shortened_too(client, db, tmp_path):
    rows = [_row("deep", "", "Deep Office", "administrative-agency")]
    rows += [_row(f"deep-{i}", "deep", f"Department {i}") for i in range(3)]
    rows += [_row(f"deep-0-{j}", "deep-0", f"Section {j}") for j in range(45)]
    rows += [
        _row(f"deep-0-{j}-{k}", f"deep-0-{j}", f"Team {k}") for j in range(20) for k in range(3)
    ]
    _import(tmp_path, "deep", rows)
    found, links = folds(_page(client, "/organizations/deep/"))
    summaries = _by_name(found)
    assert (summaries["Department 0 — 105 units"]["open"]) is True
    rest = summaries["25 more units at this level"]
    assert (rest["depth"], rest["open"], len(rest["links"])) == (1, False, 25)
    assert (summaries["Section 0 — 3 units"]["open"]) is False
    assert len(links) == 3 + 45 + 60


def test_hostile_names_are_escaped_in_the_folds(client, db, tmp_path):
    import_large_unit(tmp_path)
    html = _page(client, "/organizations/big/")
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#x27;quoted&#x27;" in html


def _queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def test_folding_adds_no_query_per_unit(client, db, tmp_path, django_assert_num_queries):
    import_large_unit(tmp_path, "small", direct=40)
    import_large_unit(tmp_path, "large", direct=900)
    small = _queries(client, "/organizations/small/")
    with django_assert_num_queries(small):
        html = _page(client, "/organizations/large/")
    assert "880 more units at this level" in html


def test_the_dated_page_is_folded_alike_with_dated_links(client, db, tmp_path):
    import_large_unit(tmp_path)
    today, _ = folds(_page(client, "/organizations/big/"))
    dated, links = folds(_page(client, "/organizations/big/?on=2000"))
    assert [(f["name"], f["open"], f["depth"]) for f in dated] == [
        (f["name"], f["open"], f["depth"]) for f in today
    ]
    assert all(link.endswith("?on=2000") for link in links)


def test_the_chinese_page_is_folded_alike_and_counts_in_chinese(client, db, tmp_path):
    import_large_unit(tmp_path)
    english, _ = folds(_page(client, "/organizations/big/"))
    chinese, links = folds(_page(client, "/zh-hans/organizations/big/"))
    assert [(f["open"], f["depth"], len(f["links"])) for f in chinese] == [
        (f["open"], f["depth"], len(f["links"])) for f in english
    ]
    names = {f["name"]: f["label"] for f in chinese}
    assert "本级另有 604 个单位" in names
    assert names["Division 0 — 8 个单位"] == "Division 0 下属 8 个单位"
    assert names["研究处 — 8 个单位"] == "研究处 下属 8 个单位"
    assert all(link.startswith("/zh-hans/organizations/") for link in links)
