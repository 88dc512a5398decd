"""A synthetic registry of any size, the same for a given seed: for benchmarks and demo data.

`organization_rows(count, seed)` yields an organizations CSV (the header, then `count` rows; the
columns are `schema.ORGANIZATIONS`) shaped like the real registry at scale:

- many top-level bodies whose tree sizes are heavy-tailed (most trees small, a few with
  thousands of units), at most six levels deep (levels 0 to 5);
- uneven branching: most units have a handful of children, a few have hundreds (a bureau and
  its provincial branches), and the unit a bigger subtree hangs from tends to have more children;
- kinds and ranks from the vocabularies migration 0002 ships, ranks falling with depth, some
  ranks unknown;
- English names that repeat across trees ("General Office", "Finance Division"), abbreviations,
  numbered designations ("third bureau"), second and former names;
- official Chinese names built from the parts real ones are made of (办公厅, 研究室, 人事司,
  信息中心, 委员会办公室 ...): a top-level body's (农业农村部), its offices' with the body's name
  in front (农业农村部办公厅), deeper units' on their own (人事处); Chinese short forms for
  bodies and their offices (国家统计局 / 国家统计局办公室 -> 统计局办公室), and a few former
  Chinese names, so that searches for two characters (研究, 人事) find as many as in the real
  registry's proportions;
- dates at year, month and day precision (dissolution never before formation), a sources cell
  citing a shared pool of documents, multi-line text, bullet lists that start with "-" (which
  the CSV layer must escape), and lineage links to rows generated earlier.

`people(count, seed)` and `post_rows(organizations, people_count, seed)` add the people and the
posts CSV (heads and deputies, most often near the top of each tree) that hold them.

Rows come in tree order (each parent before its children) with their sibling position in
`order`, in exactly the form `exports.organization_rows()` writes, so importing the rows and
exporting them again gives back the same cells.

Determinism: only `random.Random.random()` is used, because Python guarantees its sequence for
a seed across versions (unlike `choice`, `randrange` or `sample`), so a seed names the same
registry on every machine.
"""

from __future__ import annotations

import calendar
import itertools
import math
import random
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

from registry.csvcodec import dump_list, load_list
from registry.schema import ORGANIZATIONS, POSTS, Dataset

T = TypeVar("T")

DEEPEST_LEVEL = 5  # six levels: a top-level body is level 0
ID_LENGTH = ORGANIZATIONS["id"].limit
LAST_YEAR = 2024  # dates run to the end of this year; a unit dissolves after its formation year

# The codes migration 0002 ships. Ranks run highest first.
NATIONAL_BODY = "national-body"
ADMINISTRATIVE_AGENCY = "administrative-agency"
INTERNAL_DEPARTMENT = "internal-department"
AFFILIATED_INSTITUTION = "affiliated-institution"
RANKS = (
    "national",
    "deputy-national",
    "ministerial",
    "deputy-ministerial",
    "bureau",
    "deputy-bureau",
    "director",
    "deputy-director",
    "section",
    "deputy-section",
)

# What top-level bodies are about: (English, Chinese).
SECTORS = (
    ("Agriculture and Rural Affairs", "农业农村"),
    ("Water Resources", "水利"),
    ("Education", "教育"),
    ("Science and Technology", "科学技术"),
    ("Ethnic Affairs", "民族事务"),
    ("Public Security", "公安"),
    ("Civil Affairs", "民政"),
    ("Justice", "司法"),
    ("Finance", "财政"),
    ("Human Resources and Social Security", "人力资源和社会保障"),
    ("Natural Resources", "自然资源"),
    ("Ecology and Environment", "生态环境"),
    ("Housing and Urban-Rural Development", "住房和城乡建设"),
    ("Transport", "交通运输"),
    ("Commerce", "商务"),
    ("Culture and Tourism", "文化和旅游"),
    ("Health", "卫生健康"),
    ("Veterans Affairs", "退役军人事务"),
    ("Emergency Management", "应急管理"),
    ("Audit", "审计"),
    ("Statistics", "统计"),
    ("Market Regulation", "市场监督管理"),
    ("Radio and Television", "广播电视"),
    ("Sport", "体育"),
    ("Forestry and Grassland", "林业和草原"),
    ("Meteorology", "气象"),
    ("Energy", "能源"),
    ("Grain and Material Reserves", "粮食和物资储备"),
    ("Intellectual Property", "知识产权"),
    ("Cultural Heritage", "文物"),
    ("Religious Affairs", "宗教事务"),
    ("Overseas Chinese Affairs", "侨务"),
    ("Taxation", "税务"),
    ("Customs", "海关"),
    ("Civil Aviation", "民用航空"),
    ("Railways", "铁路"),
    ("Postal Services", "邮政"),
    ("Medical Products", "药品监督管理"),
    ("Mine Safety", "矿山安全"),
    ("Fisheries", "渔业"),
    ("Seismology", "地震"),
    ("Oceanic Affairs", "海洋"),
    ("Archives", "档案"),
    ("Press and Publication", "新闻出版"),
)
# How top-level bodies are named, and the ranks they come at (indexes into RANKS). The short
# form takes the sector's first two characters (人力资源和社会保障部 -> 人力资源部) and a shorter
# ending (国家卫生健康委员会 -> 国家卫生委).
BODY_NAMES = (
    ("Ministry of {}", "{}部", (2,)),
    ("National Administration of {}", "国家{}局", (3, 4)),
    ("State Commission for {}", "国家{}委员会", (2, 3)),
    ("National Committee on {}", "全国{}委员会", (0, 1, 2)),
    ("General Administration of {}", "{}总局", (2, 3)),
    ("Central Leading Group for {}", "中央{}领导小组", (1, 2)),
)
SHORT_BODY_NAMES = {
    "{}部": "{}部",
    "国家{}局": "{}局",
    "国家{}委员会": "国家{}委",
    "全国{}委员会": "全国{}委",
    "{}总局": "{}总局",
    "中央{}领导小组": "中央{}小组",
}
# What departments at every level are about.
FUNCTIONS = (
    ("General Affairs", "综合"),
    ("Policy and Regulations", "政策法规"),
    ("Planning", "规划"),
    ("Finance", "财务"),
    ("International Cooperation", "国际合作"),
    ("Science and Technology", "科技"),
    ("Personnel", "人事"),
    ("Publicity", "宣传"),
    ("Supervision", "监督"),
    ("Statistics", "统计"),
    ("Legal Affairs", "法制"),
    ("Internal Audit", "内部审计"),
    ("Archives", "档案"),
    ("Security", "保卫"),
    ("Logistics", "后勤"),
    ("Retired Cadres", "离退休干部"),
    ("Letters and Calls", "信访"),
    ("Emergency Response", "应急"),
    ("Training", "培训"),
    ("Standards", "标准"),
    ("Quality", "质量"),
    ("Information Technology", "信息化"),
    ("Research", "研究"),
    ("Liaison", "联络"),
    ("Inspection", "巡视"),
    ("Party Affairs", "党务"),
    ("Asset Management", "资产管理"),
    ("Procurement", "采购"),
    ("Translation", "翻译"),
    ("Protocol", "礼宾"),
    ("Data Management", "数据管理"),
    ("Evaluation", "评估"),
)
# Internal departments by level: (English, Chinese) patterns for a function.
DEPARTMENT_NAMES = {
    1: (("Department of {}", "{}司"), ("Bureau of {}", "{}局"), ("{} Office", "{}办公室")),
    2: (("{} Division", "{}处"),),
    3: (("{} Section", "{}科"),),
    4: (("{} Team", "{}组"), ("{} Unit", "{}室")),
}
FIXED_DEPARTMENTS = (
    ("General Office", "办公厅"),
    ("Research Office", "研究室"),
    ("Secretariat", "秘书局"),
    ("Information Bureau", "信息局"),
    ("Personnel Bureau", "人事局"),
    ("Information Centre", "信息中心"),
    ("Office of the Committee", "委员会办公室"),
    ("Policy Research Office", "政策研究室"),
)
# What a unit's Chinese name was before a reform: its ending replaced.
FORMER_ENDINGS_ZH = (("司", "局"), ("局", "司"), ("处", "科"), ("室", "处"), ("中心", "站"))
# Affiliated institutions, named after their body's sector.
INSTITUTION_NAMES = (
    ("Institute of {} Research", "{}研究所"),
    ("{} Information Centre", "{}信息中心"),
    ("{} Service Centre", "{}服务中心"),
    ("{} Press", "{}出版社"),
    ("{} Training Centre", "{}培训中心"),
    ("{} Development Foundation", "{}发展基金会"),
)
PROVINCES = (
    ("Beijing", "北京"),
    ("Tianjin", "天津"),
    ("Hebei", "河北"),
    ("Shanxi", "山西"),
    ("Inner Mongolia", "内蒙古"),
    ("Liaoning", "辽宁"),
    ("Jilin", "吉林"),
    ("Heilongjiang", "黑龙江"),
    ("Shanghai", "上海"),
    ("Jiangsu", "江苏"),
    ("Zhejiang", "浙江"),
    ("Anhui", "安徽"),
    ("Fujian", "福建"),
    ("Jiangxi", "江西"),
    ("Shandong", "山东"),
    ("Henan", "河南"),
    ("Hubei", "湖北"),
    ("Hunan", "湖南"),
    ("Guangdong", "广东"),
    ("Guangxi", "广西"),
    ("Hainan", "海南"),
    ("Chongqing", "重庆"),
    ("Sichuan", "四川"),
    ("Guizhou", "贵州"),
    ("Yunnan", "云南"),
    ("Tibet", "西藏"),
    ("Shaanxi", "陕西"),
    ("Gansu", "甘肃"),
    ("Qinghai", "青海"),
    ("Ningxia", "宁夏"),
    ("Xinjiang", "新疆"),
)
ORDINALS = (
    "first",
    "second",
    "third",
    "fourth",
    "fifth",
    "sixth",
    "seventh",
    "eighth",
    "ninth",
    "tenth",
    "eleventh",
    "twelfth",
    "thirteenth",
    "fourteenth",
    "fifteenth",
    "sixteenth",
    "seventeenth",
    "eighteenth",
    "nineteenth",
    "twentieth",
)
STREETS = (
    "Xichang'an Street",
    "Dongchang'an Street",
    "Sanlihe Road",
    "Fuxingmennei Street",
    "Jianguomennei Avenue",
    "Chegongzhuang West Road",
    "Hepingli East Street",
    "Baiwanzhuang Street",
)
DISTRICTS = ("Xicheng", "Dongcheng", "Haidian", "Chaoyang", "Fengtai")
TYPES = {
    NATIONAL_BODY: ("Ministry under the State Council", "National agency", "国务院组成部门"),
    ADMINISTRATIVE_AGENCY: ("Administrative office", "办事机构"),
    INTERNAL_DEPARTMENT: ("Internal department", "Internal department (内设机构)"),
    AFFILIATED_INSTITUTION: ("Public institution (事业单位)", "State-owned enterprise"),
}
DUTIES = (
    "Drafts {} policies and regulations",
    "Supervises {} work across the system",
    "Coordinates {} matters with other departments",
    "Compiles {} statistics and annual reports",
    "Guides the {} work of local branches",
    "Handles {} enquiries from the public",
)
SUCCESSION_NOTES = (
    "Renamed",
    "Merged into this organization",
    "Functions transferred in the institutional reform",
    "撤销后职能划入",
)
SOURCE_PUBLISHERS = (
    ("Gazette of the State Council", "国务院公报", ""),
    ("Organizational structure", "机构设置", "https://www.gov.cn/jigou/{}.htm"),
    ("Provisions on the main functions, internal bodies and staffing", "三定规定", ""),
    ("Official website: About us", "关于我们", "https://www.example.gov.cn/{}/gywm/"),
)

_NOT_IN_ID = re.compile(r"[^a-z0-9]+")


class _Dice:
    """Random choices built only on `Random.random()`, whose sequence Python keeps stable."""

    def __init__(self, seed: int):
        self._random = random.Random(seed).random

    def chance(self, probability: float) -> bool:
        return self._random() < probability

    def fraction(self) -> float:
        """From 0 (included) to 1 (excluded)."""
        return self._random()

    def between(self, low: int, high: int) -> int:
        """A whole number from low to high, both included."""
        return low + int(self._random() * (high - low + 1))

    def pick(self, items: Sequence[T]) -> T:
        return items[int(self._random() * len(items))]

    def sample(self, items: Sequence[T], count: int) -> list[T]:
        """`count` different items (all of them, shuffled, when there are fewer)."""
        pool = list(items)
        for i in range(min(count, len(pool))):
            j = i + int(self._random() * (len(pool) - i))
            pool[i], pool[j] = pool[j], pool[i]
        return pool[:count]

    def pareto(self, alpha: float) -> float:
        """Heavy-tailed, at least 1: most draws are small, a few are huge."""
        return (1.0 - self._random()) ** (-1.0 / alpha)

    def exponential(self, mean: float) -> float:
        return -mean * math.log(1.0 - self._random())


@dataclass
class _Unit:
    id: str
    level: int
    kind: str
    name: str
    name_zh: str
    topic: str  # what it works on, for the text cells
    rank: int  # index into RANKS, also kept when the row leaves the rank empty
    year: int | None  # year formed, when known
    body: _Body
    short_name_zh: str = ""


@dataclass
class _Body:
    """What every unit of one tree knows about its top-level body."""

    key: str  # id prefix
    abbreviation: str
    sector: tuple[str, str]
    name_zh: str = ""
    short_name_zh: str = ""


def organization_rows(count: int, seed: int) -> Iterator[list[str]]:
    """The header, then `count` organization rows in tree order, as CSV cells (plain strings,
    not yet formula-escaped: write them with `csvcodec.csv_lines`). The same arguments always
    give the same rows."""
    if count < 0:
        raise ValueError("count must not be negative.")
    yield list(ORGANIZATIONS.columns)
    yield from _Generator(seed).rows(count)


class _Generator:
    def __init__(self, seed: int):
        self.dice = _Dice(seed)
        self.ids: set[str] = set()
        self.earlier: list[str] = []  # ids generated so far, for lineage links
        self.sources = self._source_pool(240)

    def rows(self, count: int) -> Iterator[list[str]]:
        largest = max(1, count // 8)
        remaining, position = count, 0
        while remaining:
            size = min(remaining, largest, int(12 * self.dice.pareto(1.1)))
            position += 1
            root = self._body(position)
            yield self._row(root, None, position)
            # Most trees are three or four levels deep; big ones need more levels to keep
            # ordinary units under a few dozen children.
            needed = math.ceil(math.log(size, 25)) if size > 1 else 0
            deepest = min(DEEPEST_LEVEL, max(needed, self.dice.pick((2, 3, 3, 3, 4, 5))))
            yield from self._grow(root, size - 1, deepest)
            remaining -= size

    # --- Shape ----------------------------------------------------------------------------

    def _grow(self, parent: _Unit, budget: int, deepest: int) -> Iterator[list[str]]:
        """Place `budget` descendants under `parent`, no deeper than level `deepest`, emitting
        each child before its own descendants."""
        if budget <= 0:
            return
        count = self._fan_out(deepest - parent.level, budget)
        shares = self._split(budget - count, count)
        # Siblings work on different things, except the many branches of a very wide unit.
        functions = self.dice.sample(FUNCTIONS, count)
        institutions = self.dice.sample(INSTITUTION_NAMES, len(INSTITUTION_NAMES))
        for position, share in enumerate(shares, start=1):
            if count > len(FUNCTIONS):
                child = self._branch(parent, position)
            else:
                institution = institutions[position % len(institutions)]
                child = self._child(parent, position, functions[position - 1], institution)
            yield self._row(child, parent, position)
            yield from self._grow(child, share, deepest)

    def _fan_out(self, levels_below: int, budget: int) -> int:
        """How many children a unit has when `budget` units hang below it, in at most
        `levels_below` levels."""
        if levels_below <= 1:
            return budget
        if budget >= 150 and self.dice.chance(0.05):
            return self.dice.between(100, min(budget, 600))
        # The branching factor that would fill the levels below evenly, with much noise.
        even = budget ** (1 / levels_below)
        return max(1, min(budget, round(even * self.dice.exponential(0.8))))

    def _split(self, budget: int, parts: int) -> list[int]:
        """Share `budget` among `parts` very unequally."""
        weights = [self.dice.pareto(1.2) for _ in range(parts)]
        total = sum(weights)
        shares = [int(budget * weight / total) for weight in weights]
        for _ in range(budget - sum(shares)):
            shares[int(self.dice.pareto(1.0)) % parts] += 1
        return shares

    # --- Units ----------------------------------------------------------------------------

    def _body(self, position: int) -> _Unit:
        sector = self.dice.pick(SECTORS)
        english, chinese, ranks = self.dice.pick(BODY_NAMES)
        name = english.format(sector[0])
        abbreviation = "".join(
            word[0] for word in name.replace("-", " ").split() if word[0].isupper()
        )
        key = self._new_id(abbreviation.lower())
        name_zh = chinese.format(sector[1])
        short = SHORT_BODY_NAMES[chinese].format(sector[1][:2])
        short = short if short != name_zh else ""
        body = _Body(key, abbreviation, sector, name_zh, short)
        year = self.dice.pick((1949, 1949, *range(1950, 2019))) if self.dice.chance(0.8) else None
        return _Unit(
            id=key,
            level=0,
            kind=NATIONAL_BODY,
            name=name,
            name_zh=name_zh,
            topic=sector[0].lower(),
            rank=self.dice.pick(ranks),
            year=year,
            body=body,
            short_name_zh=short,
        )

    def _child(
        self,
        parent: _Unit,
        position: int,
        function: tuple[str, str],
        institution: tuple[str, str],
    ) -> _Unit:
        level = parent.level + 1
        sector = parent.body.sector
        if level == 1 and position == 1 and self.dice.chance(0.4):
            name, name_zh = FIXED_DEPARTMENTS[0]
            return self._unit(parent, ADMINISTRATIVE_AGENCY, name, name_zh, "general affairs")
        if self.dice.chance(0.18 if level == 1 else 0.08):
            name, name_zh = institution[0].format(sector[0]), institution[1].format(sector[1])
            return self._unit(parent, AFFILIATED_INSTITUTION, name, name_zh, sector[0].lower())
        if level == 1 and self.dice.chance(0.1):
            name, name_zh = self.dice.pick(FIXED_DEPARTMENTS)
        else:
            english, chinese = self.dice.pick(DEPARTMENT_NAMES[min(level, 4)])
            name, name_zh = english.format(function[0]), chinese.format(function[1])
        return self._unit(parent, INTERNAL_DEPARTMENT, name, name_zh, function[0].lower())

    def _branch(self, parent: _Unit, position: int) -> _Unit:
        """A child of a unit with hundreds of children: one of its provincial branches."""
        round_, index = divmod(position - 1, len(PROVINCES))
        province, province_zh = PROVINCES[index]
        name, name_zh = f"{province} Branch", f"{province_zh}分局"
        if round_:
            name = f"{province} Branch No. {round_ + 1}"
            name_zh = f"{province_zh}第{_chinese(round_ + 1)}分局"
        return self._unit(parent, INTERNAL_DEPARTMENT, name, name_zh, parent.topic)

    def _unit(self, parent: _Unit, kind: str, name: str, name_zh: str, topic: str) -> _Unit:
        # One rank step down per level mostly (ministry, bureau, division, section), sometimes
        # a deputy step more or less.
        rank = min(parent.rank + self.dice.pick((1, 2, 2, 2, 3)), len(RANKS) - 1)
        year = None
        if self.dice.chance(0.75):
            start = parent.year if parent.year is not None else 1950
            year = min(LAST_YEAR - 1, start + int(self.dice.exponential(12)))
        # An office of a top-level body is named with the body's name in front (农业农村部办公厅),
        # and cited by the body's short form (国家卫生委办公厅); deeper units by their own name.
        short_name_zh = ""
        if parent.level == 0 and kind != AFFILIATED_INSTITUTION:
            if parent.body.short_name_zh and self.dice.chance(0.6):
                short_name_zh = parent.body.short_name_zh + name_zh
            name_zh = parent.body.name_zh + name_zh
        return _Unit(
            id=self._new_id(f"{parent.body.key}-{_slug(name)}"),
            level=parent.level + 1,
            kind=kind,
            name=name,
            name_zh=name_zh,
            topic=topic,
            rank=rank,
            year=year,
            body=parent.body,
            short_name_zh=short_name_zh,
        )

    def _new_id(self, base: str) -> str:
        """A unique identifier from `base`, within the length limit (-2, -3, ... on repeats)."""
        base = base[: ID_LENGTH - 8].rstrip("-")
        candidate, number = base, 1
        while candidate in self.ids:
            number += 1
            candidate = f"{base}-{number}"
        self.ids.add(candidate)
        return candidate

    # --- Cells ----------------------------------------------------------------------------

    def _row(self, unit: _Unit, parent: _Unit | None, position: int) -> list[str]:
        dice = self.dice
        formed = self._date(unit.year) if unit.year is not None else ""
        dissolved = ""
        if dice.chance(0.06):
            start = unit.year if unit.year is not None else dice.between(1950, 2010)
            dissolved = self._date(min(LAST_YEAR, start + 1 + int(dice.exponential(10))))
        cells = {
            "id": unit.id,
            "parent": parent.id if parent else "",
            "order": str(position),
            "name": unit.name,
            "name_zh": unit.name_zh if dice.chance(0.97) else "",
            "short_name_zh": unit.short_name_zh,
            "kind": unit.kind,
            "rank": "" if dice.chance(0.04 + 0.04 * unit.level) else RANKS[unit.rank],
            "other_names": dump_list(self._other_names(unit, parent, position)),
            "formed": formed,
            "dissolved": dissolved,
            "type": dice.pick(TYPES[unit.kind]) if dice.chance(0.5) else "",
            "location": self._location() if dice.chance(0.85 if parent is None else 0.1) else "",
            "summary": self._summary(unit) if dice.chance(0.5) else "",
            "history": self._history(unit) if dice.chance(0.12) else "",
            "functions": self._functions(unit.topic) if dice.chance(0.35) else "",
            "sources": dump_list(self._citations()) if dice.chance(0.7) else "",
            "predecessors": dump_list(self._predecessors()) if dice.chance(0.04) else "",
        }
        self.earlier.append(unit.id)
        return _in_columns(ORGANIZATIONS, cells)

    def _other_names(
        self, unit: _Unit, parent: _Unit | None, position: int
    ) -> list[dict[str, str]]:
        dice = self.dice
        names = []
        if parent is None and dice.chance(0.9):
            names.append({"type": "abbreviation", "name": unit.body.abbreviation})
        numbered = unit.level == 1 and unit.name.startswith("Bureau") and position <= len(ORDINALS)
        if numbered and dice.chance(0.5):
            names.append({"type": "designation", "name": f"{ORDINALS[position - 1]} bureau"})
        if unit.name.startswith("Department of ") and dice.chance(0.08):
            names.append(
                {"type": "second_name", "name": unit.name.replace("Department", "Office")}
            )
        if dice.chance(0.04):
            names.append(
                {"type": "former_name", "name": _former_zh(unit.name_zh), "language": "zh-Hans"}
            )
        if dice.chance(0.05):
            former = unit.name.replace("Division", "Office").replace("Department", "Bureau")
            until = dice.between(1978, 2018)
            names.append({"type": "former_name", "name": f"{former} (until {until})"})
        return names

    def _date(self, year: int) -> str:
        """A date in `year` at year, month or day precision."""
        dice = self.dice
        precision = dice.pick((0, 0, 0, 1, 1, 2))  # year, month or day; years most often
        if precision == 0:
            return f"{year:04d}"
        month = dice.between(1, 12)
        if precision == 1:
            return f"{year:04d}-{month:02d}"
        day = dice.between(1, calendar.monthrange(year, month)[1])
        return f"{year:04d}-{month:02d}-{day:02d}"

    def _location(self) -> str:
        dice = self.dice
        return (
            f"No. {dice.between(1, 200)} {dice.pick(STREETS)}, {dice.pick(DISTRICTS)} District, "
            f"Beijing {dice.between(100000, 100199)}"
        )

    def _summary(self, unit: _Unit) -> str:
        if self.dice.chance(0.2):
            return f"{unit.name_zh}负责{unit.body.sector[1]}领域的相关工作。"
        if unit.level == 0:
            return f"The {unit.name} oversees {unit.topic} nationwide."
        return f"The {unit.name} handles {unit.topic} for the {unit.body.abbreviation}."

    def _history(self, unit: _Unit) -> str:
        start = unit.year or self.dice.between(1950, 2000)
        return (
            f"Established in {start}.\n"
            f"Reorganized in {min(LAST_YEAR, start + self.dice.between(1, 30))} during an "
            "institutional reform (机构改革)."
        )

    def _functions(self, function: str) -> str:
        duties = [duty.format(function) for duty in self.dice.sample(DUTIES, 3)]
        if self.dice.chance(0.25):  # pasted bullet lists start with "-", a formula trigger
            return "\n".join(f"- {duty}" for duty in duties)
        return "; ".join(duties) + "."

    def _citations(self) -> list[dict[str, str]]:
        count = 1 if self.dice.chance(0.8) else self.dice.between(2, 3)
        items = []
        for title, url in self.dice.sample(self.sources, count):
            item = {"title": title}
            if url:
                item["url"] = url
            if self.dice.chance(0.6):
                item["locator"] = self._locator()
            items.append(item)
        return items

    def _locator(self) -> str:
        dice = self.dice
        style = dice.between(0, 2)
        if style == 0:
            return f"section {dice.between(1, 9)}.{dice.between(1, 9)}"
        if style == 1:
            return f"p. {dice.between(1, 400)}"
        return f"第{_chinese(dice.between(1, 30))}条"

    def _predecessors(self) -> list[dict[str, str]]:
        if not self.earlier:
            return []
        count = 1 if self.dice.chance(0.8) else 2
        chosen = {self.dice.pick(self.earlier) for _ in range(count)}
        items = []
        # Sorted by id: the order the registry keeps lineage links in (and exports them in).
        for pk in sorted(chosen):
            item = {"id": pk}
            if self.dice.chance(0.5):
                item["date"] = self._date(self.dice.between(1955, LAST_YEAR))
            if self.dice.chance(0.3):
                item["note"] = self.dice.pick(SUCCESSION_NOTES)
            items.append(item)
        return items

    def _source_pool(self, size: int) -> list[tuple[str, str]]:
        """Documents that rows cite: (title, url), all different."""
        pool = []
        for number in range(1, size + 1):
            english, chinese, url = self.dice.pick(SOURCE_PUBLISHERS)
            sector = self.dice.pick(SECTORS)
            if self.dice.chance(0.3):
                title = f"{sector[1]}{chinese}第{number}号"
            else:
                title = f"{english}: {sector[0]} ({number})"
            pool.append((title, url.format(f"{_slug(sector[0])}-{number}")))
        return pool


def _slug(text: str) -> str:
    return _NOT_IN_ID.sub("-", text.lower()).strip("-")


def _former_zh(name_zh: str) -> str:
    """What a unit's Chinese name was before a reform: its ending changed (人事司 -> 人事局)."""
    for ending, former in FORMER_ENDINGS_ZH:
        if name_zh.endswith(ending):
            return name_zh.removesuffix(ending) + former
    return f"{name_zh}筹备处"


def _chinese(number: int) -> str:
    """1 to 99 in Chinese numerals (十二, 二十, 三十五)."""
    digits = "零一二三四五六七八九"
    tens, ones = divmod(number, 10)
    if tens == 0:
        return digits[ones]
    return f"{digits[tens] if tens > 1 else ''}十{digits[ones] if ones else ''}"


# --- People and posts -------------------------------------------------------------------------

SURNAMES = (
    ("Wang", "王"),
    ("Li", "李"),
    ("Zhang", "张"),
    ("Liu", "刘"),
    ("Chen", "陈"),
    ("Yang", "杨"),
    ("Zhao", "赵"),
    ("Huang", "黄"),
    ("Zhou", "周"),
    ("Wu", "吴"),
    ("Xu", "徐"),
    ("Sun", "孙"),
    ("Hu", "胡"),
    ("Zhu", "朱"),
    ("Gao", "高"),
    ("Lin", "林"),
    ("He", "何"),
    ("Guo", "郭"),
    ("Ma", "马"),
    ("Luo", "罗"),
    ("Ouyang", "欧阳"),
)
GIVEN_NAMES = (
    ("Wei", "伟"),
    ("Fang", "芳"),
    ("Min", "敏"),
    ("Jing", "静"),
    ("Li", "丽"),
    ("Qiang", "强"),
    ("Lei", "磊"),
    ("Jun", "军"),
    ("Yang", "洋"),
    ("Yong", "勇"),
    ("Yan", "艳"),
    ("Jie", "杰"),
    ("Tao", "涛"),
    ("Ming", "明"),
    ("Chao", "超"),
    ("Xiu", "秀"),
    ("Hua", "华"),
    ("Ping", "平"),
    ("Gang", "刚"),
    ("Hong", "红"),
    ("Guilan", "桂兰"),
    ("Jianguo", "建国"),
)
# Posts by level: (title, plural of the deputies' title, deputies' title).
POSTS_BY_LEVEL = (
    ("Minister", "Vice Ministers", "Vice Minister"),
    ("Director-General", "Deputy Directors-General", "Deputy Director-General"),
    ("Director", "Deputy Directors", "Deputy Director"),
    ("Section Chief", "Deputy Section Chiefs", "Deputy Section Chief"),
)
# How likely a unit at each level is to have its leadership recorded.
POSTS_RECORDED = (1.0, 0.9, 0.5, 0.2, 0.1, 0.05)


def people(count: int, seed: int) -> Iterator[tuple[str, str, str]]:
    """`count` people as (id, English name, Chinese name); names repeat, ids do not."""
    dice = _Dice(seed)
    for number in range(1, count + 1):
        surname = dice.pick(SURNAMES)
        given = [dice.pick(GIVEN_NAMES) for _ in range(1 if dice.chance(0.3) else 2)]
        english = given[0][0] + "".join(part[0].lower() for part in given[1:])
        name = f"{surname[0]} {english}"
        yield f"{_slug(name)}-{number}", name, surname[1] + "".join(part[1] for part in given)


def post_rows(
    organizations: Iterable[tuple[str, int]], people_count: int, seed: int
) -> Iterator[list[str]]:
    """The header, then posts CSV rows (`schema.POSTS`) for `organizations`, given as
    (id, level): a head and some deputies for most units near the top, fewer further down, held
    by people `people(people_count, seed)` names. The same arguments give the same rows."""
    yield list(POSTS.columns)
    if people_count < 1:
        return
    dice = _Dice(seed)
    ids = [pk for pk, _, _ in people(people_count, seed)]
    for organization, level in organizations:
        if not dice.chance(POSTS_RECORDED[min(level, len(POSTS_RECORDED) - 1)]):
            continue
        head, deputies_plural, deputy = POSTS_BY_LEVEL[min(level, len(POSTS_BY_LEVEL) - 1)]
        holders: list[int] = []
        for _ in range(1 + dice.between(0, 4 if level < 2 else 2)):
            holder = dice.between(0, len(ids) - 1)
            if holder not in holders:  # one holding per person and post
                holders.append(holder)
        post = {"organization": organization, "post": head, "post_order": "1"}
        yield _in_columns(POSTS, post | {"person": ids[holders[0]], "holder_order": "1"})
        post = {"organization": organization, "post": deputy, "post_order": "2"}
        post["post_plural"] = deputies_plural
        for order, holder in enumerate(holders[1:], start=1):
            yield _in_columns(POSTS, post | {"person": ids[holder], "holder_order": str(order)})


def _in_columns(dataset: Dataset, cells: dict[str, str]) -> list[str]:
    """A row of `dataset` from its cells by column; a column the generator does not fill
    (a field declared since) is empty."""
    unknown = cells.keys() - dataset.by_column.keys()
    if unknown:
        raise ValueError(f"{dataset.name} has no column {', '.join(sorted(unknown))}")
    return [cells.get(column, "") for column in dataset.columns]


# --- Reforms: the registry's past ---------------------------------------------------------------

# Shares of units with each kind of past. A merger takes up to three units (two originals and
# the result), a split up to three (the original and two results), so about a tenth of units
# end up with a past.
REFORM_SHARES = {"moved": 0.035, "renamed": 0.025, "rank_changed": 0.02, "abolished": 0.01}
MERGED_SHARE = 0.006  # of units, the result of a merger
SPLIT_SHARE = 0.004  # of units, the original of a split
TWICE_MOVED = 0.2  # of moved units, moved twice
FIRST_REFORM_YEAR = 1955
# What a unit was called before a rename: its name with one word replaced.
FORMER_WORDS = (
    ("Department", "Bureau"),
    ("Bureau", "Department"),
    ("Division", "Office"),
    ("Office", "Division"),
    ("Section", "Unit"),
    ("Team", "Group"),
    ("Unit", "Team"),
    ("Centre", "Station"),
    ("Institute", "Academy"),
    ("Ministry", "Commission"),
    ("Administration", "Bureau"),
    ("Commission", "Committee"),
    ("Committee", "Commission"),
    ("Branch", "Sub-bureau"),
)
REFORM_NOTES = {
    "moved": "Placed under {} in the institutional reform.",
    "renamed": "Formerly {}.",
    "rank_changed": "Rank adjusted in the institutional reform.",
    "abolished": "Abolished; its functions were taken over by its parent.",
    "merged": "Merged in the institutional reform.",
    "split": "Split in the institutional reform.",
}


@dataclass
class Reforms:
    """The dated records that go with the organization rows, as plain values (ids and partial
    date strings) for bulk writing: change events, their participants, earlier placements and
    which lineage links (in the rows' `predecessors` cells) each event accounts for."""

    events: list[dict[str, str]]  # id, type, date, note, rank_before, rank_after
    participants: list[tuple[str, str, str, int]]  # event, organization, role, position
    placements: list[dict[str, str]]  # organization, parent, start, end, event
    successions: list[tuple[str, str, str]]  # predecessor, successor, event


@dataclass
class SyntheticRegistry:
    header: list[str]
    rows: list[list[str]]
    reforms: Reforms


def registry(count: int, seed: int) -> SyntheticRegistry:
    """`organization_rows(count, seed)` with a past: about a tenth of units were moved (an
    earlier placement under another unit of the same level), renamed (a dated former name),
    merged, split, abolished or changed rank. What the organizations CSV holds (dissolution
    dates, dated former names, lineage links) is written into the rows; the rest is in
    `reforms`. Every record keeps the models' rules (placements of a unit do not overlap and lie
    within their parent's existence, ends are not before starts), and the same arguments always
    give the same registry."""
    rows = organization_rows(count, seed)
    header = next(rows)
    body = list(rows)
    return SyntheticRegistry(header, body, _Reformer(header, body, seed).reforms())


def _year(date: str) -> int | None:
    return int(date[:4]) if date else None


class _Reformer:
    """Adds the past to generated rows, in two passes: first what ends or starts units
    (mergers, splits, abolitions: dissolution and formation dates change), then what reads
    those dates (moves, renames, rank changes), so that every placement is checked against the
    final dates. Only leaves are merged, split or abolished, so no unit outlives its parent."""

    def __init__(self, header: list[str], rows: list[list[str]], seed: int):
        # A stream of its own: the rows stay what `organization_rows` gives for the seed.
        self.dice = _Dice(seed * 1_000_003 + 7)
        self.seed = seed
        self.rows = rows
        self.cell = {name: index for index, name in enumerate(header)}
        self.by_id = {row[self.cell["id"]]: row for row in rows}
        self.level: dict[str, int] = {}
        self.root: dict[str, str] = {}
        self.children: dict[str, list[str]] = {}
        self.by_level: dict[tuple[str, int], list[str]] = {}
        for row in rows:  # tree order: parents first
            pk, parent = row[self.cell["id"]], row[self.cell["parent"]]
            self.level[pk] = self.level[parent] + 1 if parent else 0
            self.root[pk] = self.root[parent] if parent else pk
            self.children.setdefault(parent, []).append(pk)
            self.by_level.setdefault((self.root[pk], self.level[pk]), []).append(pk)
        self.busy: set[str] = set()
        self.events: list[dict[str, str]] = []
        self.participants: list[tuple[str, str, str, int]] = []
        self.placements: list[dict[str, str]] = []
        self.successions: list[tuple[str, str, str]] = []

    def reforms(self) -> Reforms:
        shares = REFORM_SHARES
        ids = [row[self.cell["id"]] for row in self.rows]
        for pk in ids:
            if pk in self.busy:
                continue
            draw = self.dice.fraction()
            if draw < MERGED_SHARE:
                self._merge(pk)
            elif draw < MERGED_SHARE + SPLIT_SHARE:
                self._split(pk)
            elif draw < MERGED_SHARE + SPLIT_SHARE + shares["abolished"]:
                self._abolish(pk)
        for pk in ids:
            if pk in self.busy:
                continue
            draw = self.dice.fraction()
            for kind in ("moved", "renamed", "rank_changed"):
                if draw < shares[kind]:
                    getattr(self, f"_{kind}")(pk)
                    break
                draw -= shares[kind]
        return Reforms(self.events, self.participants, self.placements, self.successions)

    # --- Cells ----------------------------------------------------------------------------

    def _get(self, pk: str, column: str) -> str:
        return self.by_id[pk][self.cell[column]]

    def _set(self, pk: str, column: str, value: str) -> None:
        self.by_id[pk][self.cell[column]] = value

    def _formed(self, pk: str) -> int | None:
        return _year(self._get(pk, "formed"))

    def _dissolved(self, pk: str) -> int | None:
        return _year(self._get(pk, "dissolved"))

    def _leaf_siblings(self, pk: str, formed: Callable[[int], bool]) -> list[str]:
        """Up to two siblings of `pk` free for a merger or split, whose formation year passes
        `formed` (0 when unknown): leaves, not dissolved, not yet in a reform."""
        free = (
            other
            for other in self.children[self._get(pk, "parent")]
            if other != pk
            and other not in self.busy
            and other not in self.children
            and not self._get(other, "dissolved")
            and formed(self._formed(other) or 0)
        )
        return list(itertools.islice(free, 2))

    def _event(self, kind: str, date: str, note: str, **ranks: str) -> str:
        pk = f"{kind.replace('_', '-')}-s{self.seed}-{len(self.events) + 1}"
        self.events.append({"id": pk, "type": kind, "date": date, "note": note, **ranks})
        return pk

    def _part(self, event: str, role: str, units: list[str]) -> None:
        for position, unit in enumerate(units):
            self.participants.append((event, unit, role, position))
            self.busy.add(unit)

    def _succeed(self, predecessor: str, successor: str, date: str, event: str) -> None:
        """A lineage link in the successor's `predecessors` cell (replacing a random one the
        rows may already hold between the two), tied to `event`."""
        items = [
            item
            for item in load_list(self._get(successor, "predecessors"))
            if item["id"] != predecessor
        ]
        items.append({"id": predecessor, "date": date})
        self._set(successor, "predecessors", dump_list(sorted(items, key=lambda i: i["id"])))
        self.successions.append((predecessor, successor, event))

    # --- What ends or starts units --------------------------------------------------------

    def _merge(self, result: str) -> None:
        """Up to two leaf siblings formed before `result` (a leaf) merged into it."""
        formed = self._formed(result)
        if result in self.children or formed is None or formed < FIRST_REFORM_YEAR:
            return
        if self._get(result, "dissolved"):
            return
        originals = self._leaf_siblings(result, lambda year: year < formed)
        if not originals:
            return
        date = self._get(result, "formed")
        event = self._event("merged", date, REFORM_NOTES["merged"])
        self._part(event, "original", originals)
        self._part(event, "result", [result])
        for original in originals:
            self._set(original, "dissolved", date)
            self._succeed(original, result, date, event)

    def _split(self, original: str) -> None:
        """A leaf split into two leaf siblings formed after it, on the first one's formation
        date (the second one's is moved to it)."""
        if original in self.children or self._get(original, "dissolved"):
            return
        since = max(self._formed(original) or 0, FIRST_REFORM_YEAR - 1)
        results = self._leaf_siblings(original, lambda year: year > since)
        if len(results) < 2:
            return
        date = self._get(results[0], "formed")
        self._set(results[1], "formed", date)
        event = self._event("split", date, REFORM_NOTES["split"])
        self._part(event, "original", [original])
        self._part(event, "result", results)
        self._set(original, "dissolved", date)
        for result in results:
            self._succeed(original, result, date, event)

    def _abolish(self, pk: str) -> None:
        if pk in self.children or self._get(pk, "dissolved"):
            return
        low = max((self._formed(pk) or 0) + 1, FIRST_REFORM_YEAR)
        if low > LAST_YEAR:
            return
        date = self._date(self.dice.between(low, LAST_YEAR))
        self._set(pk, "dissolved", date)
        self._part(self._event("abolished", date, REFORM_NOTES["abolished"]), "original", [pk])

    # --- What reads those dates -----------------------------------------------------------

    def _moved(self, pk: str) -> None:
        """An earlier placement (sometimes two) under units of its parent's level: in the same
        tree, or for an office under another top-level body. Each earlier parent existed
        throughout, and the current parent from the move on."""
        if self.level[pk] == 0:
            return
        parent = self._get(pk, "parent")
        low = max((self._formed(pk) or 0) + 1, self._formed(parent) or 0, FIRST_REFORM_YEAR)
        ends = (self._dissolved(pk), self._dissolved(parent))
        high = min([LAST_YEAR, *(year - 1 for year in ends if year)])
        earlier = self._earlier_parent(parent, low, high)
        if earlier is None:
            return
        then, low, high = earlier
        year = self.dice.between(low, high)
        start = self._get(pk, "formed")
        if self.dice.chance(TWICE_MOVED) and (before := self._earlier_parent(then, low, year - 1)):
            first, first_low, first_high = before
            middle = self._date(self.dice.between(first_low, first_high))
            self._placement(pk, first, start, middle, then)
            start = middle
        self._placement(pk, then, start, self._date(year), parent)

    def _placement(self, pk: str, parent: str, start: str, end: str, next_parent: str) -> None:
        note = REFORM_NOTES["moved"].format(self._get(next_parent, "name"))
        event = self._event("moved", end, note)
        self._part(event, "original", [pk])
        self.placements.append(
            {"organization": pk, "parent": parent, "start": start, "end": end, "event": event}
        )

    def _earlier_parent(self, instead_of: str, low: int, high: int) -> tuple[str, int, int] | None:
        """A unit at `instead_of`'s level, not it, that existed from before some year from
        `low` to `high` until after it; with the years it allows. Of the same tree, so that
        every unit's parent then sits a level above it today and no past has a cycle."""
        level = self.level[instead_of]
        pool = self.children[""] if level == 0 else self.by_level[self.root[instead_of], level]
        for _ in range(3):
            candidate = self.dice.pick(pool)
            if candidate == instead_of:
                continue
            first = max(low, (self._formed(candidate) or 0) + 1)
            last = min(high, (self._dissolved(candidate) or LAST_YEAR + 1) - 1)
            if first <= last:
                return candidate, first, last
        return None

    def _renamed(self, pk: str) -> None:
        name = self._get(pk, "name")
        former = next(
            (name.replace(word, other, 1) for word, other in FORMER_WORDS if word in name),
            f"Preparatory Office of the {name}",
        )
        formed = self._formed(pk)
        start = self._get(pk, "formed") or self._date(self.dice.between(1949, 1975))
        low = max((formed or _year(start)) + 1, FIRST_REFORM_YEAR)
        high = min(LAST_YEAR, (self._dissolved(pk) or LAST_YEAR + 1) - 1)
        if low > high:
            return
        end = self._date(self.dice.between(low, high))
        names = load_list(self._get(pk, "other_names"))
        if any(item["name"] == former for item in names):
            return
        names.append({"type": "former_name", "name": former, "start": start, "end": end})
        self._set(pk, "other_names", dump_list(names))
        event = self._event("renamed", end, REFORM_NOTES["renamed"].format(former))
        self._part(event, "original", [pk])

    def _rank_changed(self, pk: str) -> None:
        rank = self._get(pk, "rank")
        if not rank:
            return
        index = RANKS.index(rank)
        before = RANKS[index + 1] if index + 1 < len(RANKS) else RANKS[index - 1]
        low = max((self._formed(pk) or 0) + 1, 1978)
        high = min(LAST_YEAR, (self._dissolved(pk) or LAST_YEAR + 1) - 1)
        if low > high:
            return
        date = self._date(self.dice.between(low, high))
        event = self._event(
            "rank_changed",
            date,
            REFORM_NOTES["rank_changed"],
            rank_before=before,
            rank_after=rank,
        )
        self._part(event, "original", [pk])

    def _date(self, year: int) -> str:
        """A date in `year` at year or month precision."""
        if self.dice.chance(0.6):
            return f"{year:04d}"
        return f"{year:04d}-{self.dice.between(1, 12):02d}"
