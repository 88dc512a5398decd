"""Write the evidenced Chinese names of fixtures/seeds/chinese-names.md into fixtures/seed.json.

Only the two "with evidence" tables are read; each name goes in with its evidence as a citation:
the source (title and address, as the document's list of sources gives them) and the quoted
snippet as the locator (organizations) or in the person's note (people's sources have no
locator). Names under "Unverified" are not read. Running it again gives the same file.

Which seed record a table row is about is written out below, row by row, rather than guessed
from the English: the tables write some names shorter than the seed does ("General Office of the
National Committee of the CPPCC"). tests/test_seed_documents.py reads the document on its own
and checks the loaded registry against it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from registry.names import organization_pinyin_key, person_pinyin_key

DOCUMENT = "chinese-names.md"
# The English cell of each table row: the seed records it names.
ROWS = {
    "National Committee of the Chinese People's Political Consultative Conference": [
        "cppcc-national-committee"
    ],
    "General Office of the National Committee of the CPPCC": ["cppcc-general-office"],
    "Secretariat of the CPPCC National Committee (predecessor, October 1949)": [
        "cppcc-secretariat"
    ],
    "Research Office": ["cppcc-go-research-office", "npcsc-go-research-office"],
    "Secretariat (department)": ["cppcc-go-secretariat"],
    "Office of the Committee for Handling Proposals (first bureau)": [
        "cppcc-go-committee-handling-proposals-office"
    ],
    "Office of the Committee of Foreign Affairs (Foreign Affairs Bureau of the General Office)": [
        "cppcc-go-committee-foreign-affairs-office"
    ],
    "Personnel Bureau": ["cppcc-go-personnel-bureau"],
    "Party Committee": ["cppcc-go-party-committee"],
    "CPPCC Auditorium": ["cppcc-go-auditorium"],
    "Chinese People's Political Consultative Conference Museum of Literature and History": [
        "cppcc-go-museum-of-literature-and-history"
    ],
    "Information Center of the General Office of the CPPCC National Committee": [
        "cppcc-go-information-center"
    ],
    "People's Political Consultative Conference Newspaper": [
        "cppcc-go-peoples-political-consultative-conference-newspaper"
    ],
    "Standing Committee of the National People's Congress": ["npcsc"],
    "General Office of the Standing Committee of the NPC": ["npcsc-general-office"],
    "Liaison Bureau": ["npcsc-go-liaison-bureau"],
    "Foreign Affairs Bureau": ["npcsc-go-foreign-affairs-bureau"],
    "Information Bureau": ["npcsc-go-information-bureau"],
    "National People's Congress Library": ["npcsc-go-national-peoples-congress-library"],
    "National People's Congress Procurement Center": [
        "npcsc-go-national-peoples-congress-procurement-center"
    ],
    "National People's Congress of China (the magazine)": [
        "npcsc-go-national-peoples-congress-of-china"
    ],
}
# "Research Office" is a row of each table: the CPPCC table's is the CPPCC office's.
TABLES = ("## CPPCC, with evidence", "## NPC Standing Committee, with evidence")


def read_sources(text: str) -> dict[str, tuple[str, str]]:
    """S-number: (title, address), from the document's list of sources."""
    sources = {}
    entries = re.findall(r"^- (S\d+) (.+(?:\n  .+)*)", text, flags=re.MULTILINE)
    for number, entry in entries:
        rest = " ".join(entry.split())
        url = re.search(r"https?://\S+", rest).group(0)
        before, after = rest.split(url, 1)
        title = before.rstrip(": ").strip() or after.strip(" ()") or url
        sources[number] = (title, url)
    return sources


def read_tables(text: str) -> list[tuple[str, str, str, str, str]]:
    """(table heading, English, Chinese, short form, evidence) of each row with evidence."""
    rows = []
    for heading in TABLES:
        section = text.split(heading, 1)[1].split("\n## ", 1)[0]
        for line in section.splitlines():
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            if len(cells) != 4 or cells[0] in ("English (as the seed writes it)", "---"):
                continue
            if set(cells[0]) <= {"-"}:
                continue
            rows.append((heading, *cells))
    return rows


def evidence_parts(evidence: str) -> list[tuple[str, str]]:
    """(S-number, what the document says of it, as written) for each source an evidence cell
    cites: `S1: "…"; S22` gives ("S1", '"…"') and ("S22", "")."""
    parts = []
    for segment in re.split(r";\s*(?=S\d+)", evidence):
        match = re.match(r"(S\d+)\s*:?\s*(.*)", segment.strip())
        if match:
            parts.append((match.group(1), match.group(2).strip()))
    return parts


class Command(BaseCommand):
    help = "Write the evidenced Chinese names of fixtures/seeds/chinese-names.md into the seed."

    def handle(self, *args, **options) -> None:
        base = Path(settings.BASE_DIR) / "fixtures"
        text = (base / "seeds" / DOCUMENT).read_text(encoding="utf-8")
        path = base / "seed.json"
        objects = json.loads(path.read_text(encoding="utf-8"))
        sources = read_sources(text)
        organizations = {o["pk"]: o for o in objects if o["model"] == "registry.organization"}
        people = {o["pk"]: o for o in objects if o["model"] == "registry.person"}
        by_name = {o["fields"]["name"]: pk for pk, o in people.items()}
        # Every record has the fields, empty until a row with evidence fills them.
        for row in organizations.values():
            self._organization(row, "", "")
        for row in people.values():
            row["fields"].update(name_zh="", pinyin="", pinyin_key="")
        cited: list[dict] = []
        other_names: list[dict] = []
        used: dict[str, None] = {}
        for heading, english, chinese, short, evidence in read_tables(text):
            parts = evidence_parts(evidence)
            if not parts:
                raise CommandError(f"No evidence read for {english!r}.")
            for number, _ in parts:
                used[number] = None
            if english in ROWS:
                ids = ROWS[english]
                if english == "Research Office":
                    ids = [ids[0] if heading == TABLES[0] else ids[1]]
                for pk in ids:
                    self._organization(organizations[pk], _main_name(chinese), short)
                    cited.extend(self._citations(pk, chinese, parts, sources))
                    other_names.extend(self._second_names(pk, chinese, objects))
                continue
            names = [name.strip() for name in english.split(",")]
            chinese_names = [name.strip() for name in chinese.split(",")]
            if len(names) != len(chinese_names):
                raise CommandError(f"{english!r}: {len(names)} names, {len(chinese_names)}.")
            for name, name_zh in zip(names, chinese_names, strict=True):
                if name not in by_name:
                    raise CommandError(f"No seed person is called {name!r}.")
                self._person(people[by_name[name]], name_zh, parts, sources)
        source_objects = [
            {
                "model": "registry.source",
                "fields": {
                    "title": title,
                    "url": url,
                    "publisher": "",
                    "note": f"{number} of fixtures/seeds/{DOCUMENT}",
                },
            }
            for number, (title, url) in sources.items()
            if number in used
        ]
        kept = [
            o
            for o in objects
            if not (o["model"] == "registry.source" and o["fields"]["note"].endswith(DOCUMENT))
            and not (o["model"] == "registry.othername" and o["fields"]["language"] == "zh-Hans")
            and not (
                o["model"] == "registry.citation"
                and o["fields"]["locator"].startswith("Chinese name")
            )
        ]
        first = [o for o in kept if o["model"] == "registry.source"]
        rest = [o for o in kept if o["model"] != "registry.source"]
        objects = [*first, *source_objects, *rest, *other_names, *cited]
        # The layout of `manage.py dumpdata --indent 2`, which wrote the file first.
        body = ",\n".join(json.dumps(o, indent=2, ensure_ascii=False) for o in objects)
        path.write_text(f"[\n{body}\n]\n", "utf-8")
        self.stdout.write(
            f"Wrote {len(cited)} citations and {len(source_objects)} sources to {path.name}."
        )

    @staticmethod
    def _organization(row: dict, name_zh: str, short: str) -> None:
        fields = row["fields"]
        fields["name_zh"], fields["short_name_zh"], fields["pinyin"] = name_zh, short, ""
        fields["pinyin_key"] = organization_pinyin_key(name_zh, short, "")

    @staticmethod
    def _citations(pk: str, chinese: str, parts, sources) -> list[dict]:
        return [
            {
                "model": "registry.citation",
                "fields": {
                    "organization": pk,
                    "source": list(sources[number]),
                    "locator": _locator(_main_name(chinese), said),
                    "position": 10 + index,
                },
            }
            for index, (number, said) in enumerate(parts)
        ]

    @staticmethod
    def _second_names(pk: str, chinese: str, objects: list[dict]) -> list[dict]:
        """A Chinese second name ("…; second name X") or full form ("外事局 (X)")."""
        if match := re.search(r"second name (\S+)", chinese):
            name_type, name = "second_name", match.group(1)
        elif match := re.search(r"\((\S+)\)", chinese):
            name_type, name = "translation", match.group(1)
        else:
            return []
        position = sum(
            1
            for o in objects
            if o["model"] == "registry.othername" and o["fields"]["organization"] == pk
        )
        return [
            {
                "model": "registry.othername",
                "fields": {
                    "organization": pk,
                    "name": name,
                    "name_type": name_type,
                    "language": "zh-Hans",
                    "position": position,
                    "start": None,
                    "end": None,
                },
            }
        ]

    @staticmethod
    def _person(row: dict, name_zh: str, parts, sources) -> None:
        fields = row["fields"]
        fields["name_zh"], fields["pinyin"] = name_zh, ""
        fields["pinyin_key"] = person_pinyin_key(name_zh, "")
        fields["note"] = "Chinese name " + "; ".join(
            f"{name_zh}: {number}" + (f": {said}" if said else "") for number, said in parts
        )
        for number, _ in parts:
            key = list(sources[number])
            if key not in fields["sources"]:
                fields["sources"].append(key)


def _main_name(chinese: str) -> str:
    """The name itself, without a second name or full form written after it."""
    return re.split(r";| \(", chinese, maxsplit=1)[0].strip()


def _locator(name_zh: str, said: str) -> str:
    return f"Chinese name {name_zh}: {said}" if said else f"Chinese name {name_zh}"
