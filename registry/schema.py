"""The exchanged fields of each record, each declared once.

A field here is a CSV column (and, later, a key of the JSON API): its name, the model field it
holds, whether a file must have it, what kind of cell it is (which says how the cell is checked
and parsed on import and formatted on export), its limit (always the model's own) and its line
in the documentation. The importer, both exports, the admin's import resource and forms, the
synthetic registry and docs/csv.md (generated: `manage.py csv_docs`, checked by a test) read
these lists; none of them names a column of its own.

Adding a plain field to organizations takes: the model field, one `Field` below, and the
migration.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property

from django.db import models
from django.db.backends.base.operations import BaseDatabaseOperations
from django.utils.translation import gettext_lazy as _

from .models import (
    IDENTIFIER_RULE,
    ChangeEvent,
    Citation,
    EventOrganization,
    Holding,
    Identifier,
    Organization,
    OtherName,
    Person,
    Placement,
    Post,
    Source,
    Succession,
)


class Cell(enum.Enum):
    """What a cell holds, and so how it is checked, parsed and formatted."""

    IDENTIFIER = "identifier"  # a stable id: lowercase letters, digits, single hyphens
    TEXT = "text"  # free text, kept exactly as given (spaces and line breaks included)
    CODE = "code"  # a code of a curated vocabulary (kinds, ranks)
    DATE = "date"  # a partial date: YYYY, YYYY-MM or YYYY-MM-DD
    NUMBER = "number"  # a whole number in the model field's range (positions, 1 first)
    ITEMS = "items"  # a JSON array of objects with the declared keys


def _limit(model_field: models.Field) -> int | None:
    """A field's length limit as the model declares it (None: unlimited); a link's is that of
    the key it points to."""
    if model_field.is_relation:
        model_field = model_field.target_field
    return getattr(model_field, "max_length", None)


@dataclass(frozen=True)
class Key:
    """One key of the objects in a JSON array cell (`other_names`, `sources`, ...)."""

    name: str
    model: type[models.Model]
    field: str
    required: bool = False
    cell: Cell = Cell.TEXT

    @cached_property
    def model_field(self) -> models.Field:
        return self.model._meta.get_field(self.field)

    @property
    def limit(self) -> int | None:
        return _limit(self.model_field)

    @property
    def validators(self) -> list:
        return self.model_field.validators

    @property
    def choices(self) -> tuple[str, ...]:
        return tuple(value for value, _ in self.model_field.choices or ())


@dataclass(frozen=True)
class Field:
    """One exchanged field: a CSV column."""

    column: str
    cell: Cell
    doc: str  # its line in docs/csv.md; `{limit}` is replaced by the model's limit
    model: type[models.Model] | None = None  # None: a column no model field holds (`order`)
    field: str = ""  # the model field (for ITEMS: the relation to the listed rows)
    required: bool = True  # a file must have the column (its cells may still be empty)
    blank: bool | None = None  # the cell may be empty; None: as the model field says
    keys: tuple[Key, ...] = ()  # ITEMS only
    requirement: str = ""  # the docs' "required" entry, where the rule needs more words
    admin: str = ""  # the admin form's section (fieldset) for an organization's own field

    @cached_property
    def model_field(self) -> models.Field | None:
        if self.model is None:
            return None
        return self.model._meta.get_field(self.field)

    @property
    def attname(self) -> str:
        """The database column's attribute (`kind_id` for `kind`)."""
        return self.model_field.attname

    @property
    def limit(self) -> int | None:
        return None if self.model_field is None else _limit(self.model_field)

    @property
    def may_be_empty(self) -> bool:
        if self.blank is not None:
            return self.blank
        return self.model_field is None or self.model_field.blank

    @property
    def own(self) -> bool:
        """Whether a column of the model's own table holds it (not a list of related rows,
        not the tree position)."""
        return self.model_field is not None and self.cell is not Cell.ITEMS

    @property
    def documentation(self) -> str:
        """`doc` with the limits filled in: `{limit}`, and `{name_limit}` for a key `name`."""
        return self.doc.format(
            limit=self.limit, **{f"{key.name}_limit": key.limit for key in self.keys}
        )

    @property
    def requirement_text(self) -> str:
        if self.requirement:
            return self.requirement
        if not self.required:
            return "no"
        return "yes (may be empty)" if self.may_be_empty else "yes"

    def item(self, values: tuple) -> dict[str, str]:
        """One object of an ITEMS cell, from its keys' values in order: optional keys left
        out when empty, so an export writes what a curator would."""
        return {
            key.name: value
            for key, value in zip(self.keys, values, strict=True)
            if value or key.required
        }


# The keys of an `identifiers` cell, organizations' and people's alike.
IDENTIFIER_KEYS = (
    Key("scheme", Identifier, "scheme", required=True),
    Key("identifier", Identifier, "identifier", required=True),
)
IDENTIFIERS_DOC = (
    'JSON array of `{{"scheme": …, "identifier": …}}`: identifiers in other registries. '
    "`wikidata`: a Q-number, `Q` then digits without leading zero (`Q42`); `uscc`: the unified "
    "social credit code (统一社会信用代码), 18 characters from `0-9` and the capital letters "
    "`ABCDEFGHJKLMNPQRTUWXY`, the last its GB 32100-2015 check character; any other scheme: a "
    "short lowercase name (letters, digits, single hyphens, at most {scheme_limit}) with any "
    "identifier (at most {identifier_limit}). Values are taken exactly: lowercase `q42`, or "
    "spaces around a value, are refused, not corrected. One scheme and identifier belongs to "
    "one record in the whole registry (organizations and people). Their order does not "
    "matter; exports list them by scheme, then identifier."
)


def _items(column: str, relation: str, doc: str, *keys: Key) -> Field:
    """An organization's JSON array cell of related rows (`relation`), optional in files."""
    return Field(column, Cell.ITEMS, doc, Organization, relation, required=False, keys=keys)


# The order columns are stored in PositiveSmallIntegerFields (post and holder positions); the
# range is the field type's own, not the database's (SQLite would store any integer).
NUMBER_MIN, NUMBER_MAX = BaseDatabaseOperations.integer_field_ranges[
    Post._meta.get_field("position").get_internal_type()
]


@dataclass(frozen=True)
class Dataset:
    """The fields of one kind of file, in the order of its columns."""

    name: str
    fields: tuple[Field, ...]
    by_column: dict[str, Field] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_column", {f.column: f for f in self.fields})

    def __iter__(self) -> Iterator[Field]:
        return iter(self.fields)

    def __getitem__(self, column: str) -> Field:
        return self.by_column[column]

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(f.column for f in self.fields)

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(f.column for f in self.fields if f.required)

    def own(self, model: type[models.Model]) -> tuple[Field, ...]:
        """The fields stored in `model`'s own table, in column order."""
        return tuple(f for f in self.fields if f.own and f.model is model)


ORGANIZATIONS = Dataset(
    "organizations",
    (
        Field(
            "id",
            Cell.IDENTIFIER,
            f"The stable identifier, as in `/organizations/ID/`: {IDENTIFIER_RULE}, at most "
            "{limit} characters, unique across the registry. Rows are matched to the registry "
            "by it.",
            Organization,
            "id",
            admin="main",
        ),
        Field(
            "parent",
            Cell.IDENTIFIER,
            "The parent's `id`; empty for a top-level body. The parent may be in the same file "
            "(before or after the row) or already in the registry.",
            Organization,
            "parent",
            admin="main",
        ),
        Field(
            "order",
            Cell.NUMBER,
            "Position among the parent's children, 1 first. Rows without it go after their "
            "siblings, in file order. Organizations not in the file keep their position number, "
            "and so do, in a file without an `order` column, the organizations that stay under "
            "the same parent. Top-level bodies keep their existing order; new ones are added "
            "after them.",
            required=False,
        ),
        Field(
            "name",
            Cell.TEXT,
            "The official name (at most {limit} characters; not empty, not only spaces).",
            Organization,
            "name",
            admin="main",
        ),
        Field(
            "name_zh",
            Cell.TEXT,
            "The official Chinese name, in simplified characters (at most {limit}); empty when "
            "not verified. Former Chinese names go in `other_names` as `former_name` with "
            "language `zh-Hans` and their dates.",
            Organization,
            "name_zh",
            required=False,
            admin="main",
        ),
        Field(
            "short_name_zh",
            Cell.TEXT,
            "The Chinese short form the name is cited by, e.g. 全国政协办公厅 (at most {limit}).",
            Organization,
            "short_name_zh",
            required=False,
            admin="main",
        ),
        Field(
            "pinyin",
            Cell.TEXT,
            "The pinyin of the Chinese name with tone marks, as a curator set it (at most "
            "{limit}); empty: generated from the Chinese name (pages show the generated one, "
            "exports leave it empty).",
            Organization,
            "pinyin",
            required=False,
            admin="main",
        ),
        Field("kind", Cell.CODE, "A kind code (below).", Organization, "kind", admin="main"),
        Field(
            "rank",
            Cell.CODE,
            "An administrative rank code (below), or empty when not known.",
            Organization,
            "rank",
            admin="main",
        ),
        _items(
            "other_names",
            "other_names",
            'JSON array of `{{"type": …, "name": …, "language": …, "start": …, "end": …}}` '
            "(name at most {name_limit}, language at most {language_limit}); `language` (a "
            "BCP 47 tag such as `zh-Hans`, letters, digits and hyphens; the admin has the same "
            "rule) may be left out, and so may `start` and `end`, the partial dates between "
            "which the name was in use (docs/time.md); `end` may not be before `start`. Array "
            "order is the display order.",
            Key("type", OtherName, "name_type", required=True, cell=Cell.CODE),
            Key("name", OtherName, "name", required=True),
            Key("language", OtherName, "language"),
            Key("start", OtherName, "start", cell=Cell.DATE),
            Key("end", OtherName, "end", cell=Cell.DATE),
        ),
        _items("identifiers", "identifiers", IDENTIFIERS_DOC, *IDENTIFIER_KEYS),
        Field(
            "formed",
            Cell.DATE,
            "The formation date, a partial date.",
            Organization,
            "formed",
            required=False,
            admin="infobox",
        ),
        Field(
            "dissolved",
            Cell.DATE,
            "The dissolution date, a partial date; it may not end before the formation starts.",
            Organization,
            "dissolved",
            required=False,
            admin="infobox",
        ),
        Field(
            "type",
            Cell.TEXT,
            "What the organization is, as its sources put it (at most {limit} characters).",
            Organization,
            "type",
            required=False,
            admin="infobox",
        ),
        Field(
            "location",
            Cell.TEXT,
            "Postal address (at most {limit} characters).",
            Organization,
            "location",
            required=False,
            admin="infobox",
        ),
        Field(
            "summary",
            Cell.TEXT,
            "Free text: the summary.",
            Organization,
            "summary",
            required=False,
            admin="article",
        ),
        Field(
            "history",
            Cell.TEXT,
            "Free text: the history section.",
            Organization,
            "history",
            required=False,
            admin="article",
        ),
        Field(
            "functions",
            Cell.TEXT,
            "Free text: the functions section.",
            Organization,
            "functions",
            required=False,
            admin="article",
        ),
        _items(
            "sources",
            "citations",
            'JSON array of `{{"title": …, "url": …, "locator": …}}` (`url`, `locator` '
            "optional; title at most {title_limit}, url {url_limit}, locator "
            "{locator_limit}): the documents the record's facts come from and where in them. "
            "`url` must be a full `http://` or `https://` address (the admin's Source form has "
            "the same rule; public pages never show another scheme as a link). Sources are "
            "matched by title and url.",
            Key("title", Source, "title", required=True),
            Key("url", Source, "url"),
            Key("locator", Citation, "locator"),
        ),
        _items(
            "predecessors",
            "predecessor_links",
            'JSON array of `{{"id": …, "date": …, "note": …}}` (`date`, `note` optional; note '
            "at most {note_limit}, never cut): the organizations this one succeeded. Their "
            "order does not matter; exports list them by id.",
            Key("id", Succession, "predecessor", required=True, cell=Cell.IDENTIFIER),
            Key("date", Succession, "date", cell=Cell.DATE),
            Key("note", Succession, "note"),
        ),
    ),
)

PEOPLE = Dataset(
    "people",
    (
        Field(
            "id",
            Cell.IDENTIFIER,
            "The person's stable identifier (same rules as organization ids, at most {limit} "
            "characters).",
            Person,
            "id",
        ),
        Field("name", Cell.TEXT, "The person's name (at most {limit}).", Person, "name"),
        Field(
            "name_zh",
            Cell.TEXT,
            "The person's Chinese name (at most {limit}).",
            Person,
            "name_zh",
            required=False,
        ),
        Field(
            "identifiers",
            Cell.ITEMS,
            IDENTIFIERS_DOC,
            Person,
            "identifiers",
            required=False,
            keys=IDENTIFIER_KEYS,
        ),
    ),
)

POSTS = Dataset(
    "posts",
    (
        Field(
            "organization",
            Cell.IDENTIFIER,
            "The `id` of an organization already in the registry.",
            Post,
            "organization",
        ),
        Field(
            "post",
            Cell.TEXT,
            "The post's title, e.g. `Deputy Secretary-General` (at most {limit}). A post is "
            "identified by organization and title.",
            Post,
            "title",
        ),
        Field(
            "post_plural",
            Cell.TEXT,
            "The title used when the post has several holders (`Deputy Secretaries-General`, "
            "at most {limit}).",
            Post,
            "plural_title",
            required=False,
        ),
        Field(
            "post_order",
            Cell.NUMBER,
            "Seniority within the organization, 1 first. Empty: 0, which comes before 1 (the "
            "admin instead puts a post added without a position after the others).",
            Post,
            "position",
            required=False,
        ),
        Field(
            "person",
            Cell.IDENTIFIER,
            "The person's `id` (same rules as organization ids). Empty: a post with no "
            "recorded holder.",
            Person,
            "id",
            blank=True,
        ),
        Field(
            "person_name",
            Cell.TEXT,
            "The person's name (at most {limit}). Required when `person` is not yet in the "
            "registry; when given for a known person, it updates their name; empty leaves it "
            "as it is.",
            Person,
            "name",
            required=False,
            blank=True,
            requirement="for new people",
        ),
        Field(
            "person_name_zh",
            Cell.TEXT,
            "The person's Chinese name (at most {limit}). When given, it sets it (new or known "
            "person); empty leaves a known person's Chinese name as it is (clear it in the "
            "admin).",
            Person,
            "name_zh",
            required=False,
        ),
        Field(
            "person_identifiers",
            Cell.ITEMS,
            "The person's identifiers in other registries, a JSON array as in the organizations "
            "file's `identifiers` (same keys and rules). When given, they replace the person's "
            "identifiers (new or known person), and `[]` removes them; empty leaves a known "
            "person's identifiers as they are. Rows of one person must give the same ones, in "
            "any order (or leave the cell empty). Exports write them on every row of the "
            "person, by scheme, then identifier.",
            Person,
            "identifiers",
            required=False,
            keys=IDENTIFIER_KEYS,
        ),
        Field(
            "holder_order",
            Cell.NUMBER,
            "Order among the post's holders, 1 first.",
            Holding,
            "position",
            required=False,
        ),
        Field(
            "start",
            Cell.DATE,
            "The start of the holding, a partial date.",
            Holding,
            "start",
            required=False,
        ),
        Field(
            "end",
            Cell.DATE,
            "The end of the holding, a partial date; it may not be before the start.",
            Holding,
            "end",
            required=False,
        ),
    ),
)

# Valid time (docs/time.md): the earlier placements and the change events. Both name
# organizations already in the registry (import the organizations file first), and every column
# is required, so a file means the same whatever the registry holds.
PLACEMENTS = Dataset(
    "placements",
    (
        Field(
            "organization",
            Cell.IDENTIFIER,
            "The `id` of the organization placed, already in the registry. A placement is "
            "identified by organization and `end`.",
            Placement,
            "organization",
        ),
        Field(
            "parent",
            Cell.IDENTIFIER,
            "The `id` of its parent then, already in the registry; empty when it was a "
            "top-level body then. The placement must lie within the parent's existence: it may "
            "not end before the parent was formed, nor begin after it was dissolved.",
            Placement,
            "parent",
        ),
        Field(
            "start",
            Cell.DATE,
            "When the placement began, a partial date; empty when not known.",
            Placement,
            "start",
        ),
        Field(
            "end",
            Cell.DATE,
            "When the unit left this parent, a partial date (not empty); it may not be before "
            "the start. Placements of one unit may touch but not overlap, counting those in the "
            "registry that the file leaves alone.",
            Placement,
            "end",
        ),
        Field(
            "event",
            Cell.IDENTIFIER,
            "The `id` of the change event that ended the placement (already in the registry), "
            "or empty.",
            Placement,
            "event",
        ),
    ),
)

EVENTS = Dataset(
    "events",
    (
        Field(
            "id",
            Cell.IDENTIFIER,
            "The change event's stable identifier (same rules as organization ids, at most "
            "{limit} characters). Rows are matched to the registry by it.",
            ChangeEvent,
            "id",
        ),
        Field("type", Cell.CODE, "A change type code (below).", ChangeEvent, "type"),
        Field(
            "date",
            Cell.DATE,
            "When the change took effect, a partial date; empty when not known.",
            ChangeEvent,
            "date",
        ),
        Field(
            "source",
            Cell.TEXT,
            "The title of the document the event comes from (at most {limit}), or empty. "
            "Sources are matched by title and `source_url`, as in the organizations file's "
            "`sources`; a new one is added.",
            Source,
            "title",
            blank=True,
        ),
        Field(
            "source_url",
            Cell.TEXT,
            "The source's address (at most {limit}): a full `http://` or `https://` address, or "
            "empty.",
            Source,
            "url",
        ),
        Field(
            "locator",
            Cell.TEXT,
            "Where in the source, e.g. a section or page (at most {limit}).",
            ChangeEvent,
            "locator",
        ),
        Field("note", Cell.TEXT, "Free text: what changed.", ChangeEvent, "note"),
        Field(
            "rank_before",
            Cell.CODE,
            "For a rank change: the rank code before it (below), or empty.",
            ChangeEvent,
            "rank_before",
        ),
        Field(
            "rank_after",
            Cell.CODE,
            "For a rank change: the rank code after it, or empty.",
            ChangeEvent,
            "rank_after",
        ),
        Field(
            "organizations",
            Cell.ITEMS,
            'JSON array of `{{"organization": …, "role": …}}`: the organizations before the '
            "change (`original`) and after it (`result`), each an `id` already in the "
            "registry, each at most once per role. Array order is the display order within "
            "each role; exports list the originals first.",
            ChangeEvent,
            "participants",
            blank=True,
            keys=(
                Key(
                    "organization",
                    EventOrganization,
                    "organization",
                    required=True,
                    cell=Cell.IDENTIFIER,
                ),
                Key("role", EventOrganization, "role", required=True, cell=Cell.CODE),
            ),
        ),
        Field(
            "successions",
            Cell.ITEMS,
            'JSON array of `{{"predecessor": …, "successor": …}}`: the lineage links (the '
            "organizations file's `predecessors`) this event accounts for; each link must be in "
            "the registry and belongs to at most one event. Links the event held before and "
            "the file no longer lists are detached from it (kept, with no event). Their order "
            "does not matter; exports list them by id.",
            ChangeEvent,
            "successions",
            blank=True,
            keys=(
                Key(
                    "predecessor",
                    Succession,
                    "predecessor",
                    required=True,
                    cell=Cell.IDENTIFIER,
                ),
                Key("successor", Succession, "successor", required=True, cell=Cell.IDENTIFIER),
            ),
        ),
    ),
)

DATASETS = {dataset.name: dataset for dataset in (ORGANIZATIONS, POSTS, PLACEMENTS, EVENTS)}


def dataset(name: str) -> Dataset:
    """The dataset called `name`; an unknown name fails loudly, listing the known ones."""
    try:
        return DATASETS[name]
    except KeyError:
        raise ValueError(
            f"Unknown dataset “{name}”; the datasets are {', '.join(DATASETS)}."
        ) from None


# The admin form's sections, in order, with their headings.
ADMIN_SECTIONS = {"main": None, "infobox": _("Infobox"), "article": _("Article")}


def admin_fieldsets(fields: Dataset) -> tuple:
    """The admin form's fieldsets for the dataset's own fields, by their declared section, in
    column order; the dates of a section share one line."""
    fieldsets = []
    for section, heading in ADMIN_SECTIONS.items():
        lines: list = []
        for f in fields:
            if f.admin != section:
                continue
            if f.cell is Cell.DATE and lines and isinstance(lines[-1], tuple):
                lines[-1] += (f.field,)
            else:
                lines.append((f.field,) if f.cell is Cell.DATE else f.field)
        if lines:
            fieldsets.append((heading, {"fields": tuple(lines)}))
    return tuple(fieldsets)


def markdown_table(fields: Dataset) -> str:
    """The documentation table of a dataset's columns, as docs/csv.md has it."""
    lines = ["| column | required | content |", "|---|---|---|"]
    lines += [f"| `{f.column}` | {f.requirement_text} | {f.documentation} |" for f in fields]
    return "\n".join(lines) + "\n"
