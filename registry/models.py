"""The registry's data: organizations as trees, their names, lineage, sources, posts and people."""

from __future__ import annotations

import operator
from collections.abc import Iterable, Iterator
from functools import reduce

import reversion
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator, URLValidator
from django.db import models, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils.text import format_lazy
from django.utils.translation import gettext, gettext_noop, pgettext_lazy
from django.utils.translation import gettext_lazy as _
from mptt.models import MPTTModel, TreeForeignKey
from mptt.querysets import TreeQuerySet

from .database import lock_table_writes, search_matching
from .dates import PartialDateField, not_before, periods_conflict
from .identifiers import (
    IDENTIFIER_MAX,
    SCHEME_LABELS,
    SCHEME_MAX,
    WIKIDATA,
    identifier_problem,
    scheme_problem,
    searched_scheme,
    wikidata_url,
)
from .names import organization_pinyin_key, person_pinyin_key, pinyin_of
from .search import search_texts
from .trees import (
    NestedSet,
    TreePage,
    subtree_lookups,
    subtree_pages,
    tree_order,
    tree_pages,
)

WEB_SCHEMES = ("http", "https")

# The one rule for identifiers, said the same way by the validator, the admin's help, the CSV
# import's refusals and docs/csv.md (registry/schema.py).
IDENTIFIER_RULE = gettext_noop("lowercase letters, digits and single hyphens")
IDENTIFIER_HELP = format_lazy(
    _(
        "Stable identifier used in the public address and in CSV files: {rule}, e.g. "
        "cppcc-general-office-secretariat. Do not change it once published."
    ),
    rule=_(IDENTIFIER_RULE),
)
# The shape of a BCP 47 tag (zh-Hans, en, zh-Hant-TW): a code, matched exactly, so no spaces.
language_tag_validator = RegexValidator(
    r"^[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*\Z",
    _("Use a BCP 47 language tag such as zh-Hans or en, without spaces."),
    code="invalid_language_tag",
)
identifier_validator = RegexValidator(
    r"^[a-z0-9]+(?:-[a-z0-9]+)*\Z",
    format_lazy(_("Use {rule} only (e.g. npcsc-research-office)."), rule=_(IDENTIFIER_RULE)),
    code="invalid_identifier",
)


def _identifier_field(**kwargs) -> models.SlugField:
    return models.SlugField(
        primary_key=True,
        max_length=100,
        validators=[identifier_validator],
        help_text=IDENTIFIER_HELP,
        verbose_name=_("identifier"),
        **kwargs,
    )


def _iso(field: str, name: str) -> models.CheckConstraint:
    """Stored text of a PartialDateField stays an ISO date at one of its three precisions."""
    return models.CheckConstraint(
        condition=Q(**{field: ""}) | Q(**{f"{field}__length__in": (4, 7, 10)}), name=name
    )


def _not_empty(field: str, name: str) -> models.CheckConstraint:
    return models.CheckConstraint(condition=~Q(**{field: ""}), name=name)


@reversion.register()
class Kind(models.Model):
    """What an organization is, and so where it is listed under its parent (curated)."""

    class Section(models.TextChoices):
        STRUCTURE = (
            "structure",
            _("Internal structure (listed in the parent's departments tree)"),
        )
        AFFILIATED = (
            "affiliated",
            _("Directly affiliated (listed apart from the departments)"),
        )

    code = models.SlugField(
        _("code"), primary_key=True, max_length=50, help_text=_("Used in CSV files.")
    )
    name = models.CharField(_("name"), max_length=100, unique=True)
    plural_name = models.CharField(_("plural name"), max_length=100)
    name_zh = models.CharField(
        _("Chinese name"),
        max_length=50,
        blank=True,
        help_text=_("e.g. 内设机构; shown in Chinese."),
    )
    section = models.CharField(
        _("section"), max_length=20, choices=Section, default=Section.STRUCTURE
    )
    description = models.TextField(_("description"), blank=True)
    order = models.PositiveSmallIntegerField(
        _("order"), default=0, help_text=_("Order in lists and filters.")
    )

    class Meta:
        ordering = ("order", "name")
        verbose_name = _("kind")
        verbose_name_plural = _("kinds")
        constraints = (_not_empty("name", "kind_name_not_empty"),)

    def __str__(self) -> str:
        return self.name

    @property
    def is_affiliated(self) -> bool:
        return self.section == self.Section.AFFILIATED


@reversion.register()
class Rank(models.Model):
    """Administrative rank (行政级别): an ordered ladder, highest first (curated)."""

    code = models.SlugField(
        _("code"), primary_key=True, max_length=50, help_text=_("Used in CSV files.")
    )
    name = models.CharField(_("name"), max_length=100, unique=True)
    name_zh = models.CharField(_("Chinese name"), max_length=50, blank=True)
    order = models.PositiveSmallIntegerField(
        _("order"), unique=True, help_text=_("Place on the ladder: 1 is the highest rank.")
    )

    class Meta:
        ordering = ("order",)
        verbose_name = _("rank")
        verbose_name_plural = _("ranks")
        constraints = (_not_empty("name", "rank_name_not_empty"),)

    def __str__(self) -> str:
        return self.name


class _NaturalKeyManager(models.Manager):
    """Looks rows up by the fields their `natural_key()` returns, so that fixtures match
    existing rows by meaning instead of by numeric id (and never overwrite curators' rows)."""

    natural_key_fields: tuple[str, ...] = ()

    def get_by_natural_key(self, *values):
        return self.get(**dict(zip(self.natural_key_fields, values, strict=True)))


def _manager(*fields: str) -> _NaturalKeyManager:
    manager = _NaturalKeyManager()
    manager.natural_key_fields = fields
    return manager


@reversion.register()
class Source(models.Model):
    """A document that records' facts come from (an article, a gazette, a web page)."""

    title = models.CharField(_("title"), max_length=500)
    # http and https only: URLField's default also takes ftp and ftps, and nothing else can be
    # followed safely from a public page (`javascript:` would run in the reader's browser).
    url = models.URLField(
        _("address"),
        max_length=500,
        blank=True,
        validators=[URLValidator(schemes=WEB_SCHEMES)],
    )
    publisher = models.CharField(_("publisher"), max_length=300, blank=True)
    note = models.TextField(_("note"), blank=True)

    objects = _manager("title", "url")

    class Meta:
        ordering = ("title",)
        verbose_name = _("source")
        verbose_name_plural = _("sources")
        constraints = (
            _not_empty("title", "source_title_not_empty"),
            models.UniqueConstraint(fields=("title", "url"), name="source_unique"),
        )

    def __str__(self) -> str:
        return self.title

    def natural_key(self) -> tuple[str, str]:
        return (self.title, self.url)

    @property
    def web_url(self) -> str:
        """The address when it may be shown as a link: rows stored before http(s) was required
        (or written around the validators) can hold any scheme."""
        scheme, _, rest = self.url.partition(":")
        if scheme.lower() in WEB_SCHEMES and rest.startswith("//"):
            return self.url
        return ""


class OrganizationQuerySet(TreeQuerySet):
    def with_labels(self) -> OrganizationQuerySet:
        """Everything a list line shows: kind, rank and the names in parentheses."""
        # A list attribute rather than the related manager's cache: Django builds a manager and
        # a queryset per organization for the latter, which on a page of a thousand units costs
        # more than the rest of each line.
        return self.select_related("kind", "rank").prefetch_related(
            models.Prefetch(
                "other_names",
                queryset=OtherName.objects.order_by("position", "pk"),
                to_attr="prefetched_other_names",
            )
        )

    def lock_tree_writes(self) -> None:
        """Serialise tree writes until the end of the current transaction.

        Concurrent nested-set updates corrupt trees (django-mptt #236), and `atomic()` alone does
        not prevent it. On PostgreSQL this takes a table lock that conflicts with other writers
        but never with readers; SQLite already allows one writer at a time.

        Take it before the transaction writes any registry row: from its first write until it
        ends, a transaction holds the change stamp's row (`ChangeStamp`), which the tree writer
        holding this lock may be waiting for.
        """
        if not transaction.get_connection().in_atomic_block:
            raise RuntimeError("Tree writes must run inside transaction.atomic().")
        lock_table_writes(self.model)

    def roots(self) -> OrganizationQuerySet:
        return self.filter(parent__isnull=True)

    @staticmethod
    def current_q() -> Q:
        """Units that still exist: not dissolved, and not succeeded by another unit (a unit
        with a successor has ended even when the sources do not say when)."""
        return Q(dissolved="") & ~Q(
            models.Exists(Succession.objects.filter(predecessor=models.OuterRef("pk")))
        )

    # --- Reading trees (with trees.py, the one place that knows how trees are stored) -----

    def in_tree_order(self) -> OrganizationQuerySet:
        """The trees one after another (top-level bodies in their order), each depth first,
        siblings in their order."""
        return self.order_by(*tree_order())

    def subtree(self, root: Organization, *, include_self: bool = True) -> OrganizationQuerySet:
        """`root` (unless not `include_self`) and everything under it, read through the tree
        index. Rows of other models in a subtree: `trees.subtree_lookups(root, path=...)`."""
        return self.filter(**subtree_lookups(root, include_self=include_self))

    def new_tree_number(self) -> int:
        """A tree number no organization has yet, for a new top-level body."""
        return (self.aggregate(highest=models.Max("tree_id"))["highest"] or 0) + 1

    def ancestors(self, node: Organization) -> OrganizationQuerySet:
        """The organizations above `node`, from its top-level body down to its parent."""
        return self.filter(
            tree_id=node.tree_id, lft__lt=node.lft, rght__gt=node.rght
        ).in_tree_order()

    def ancestors_of(self, nodes: Iterable[Organization]) -> dict[str, list[Organization]]:
        """The organizations (of this queryset) above each of `nodes`, from its top-level body
        down to its parent, by the node's id, in one query for all of them."""
        below = [node for node in nodes if node.parent_id is not None]
        if not below:
            return {}
        above: dict[int, list[Organization]] = {}
        wanted = reduce(
            operator.or_,
            (Q(tree_id=n.tree_id, lft__lt=n.lft, rght__gt=n.rght) for n in below),
        )
        for unit in self.filter(wanted).in_tree_order():
            above.setdefault(unit.tree_id, []).append(unit)
        return {
            node.pk: [
                unit
                for unit in above.get(node.tree_id, ())
                if unit.lft < node.lft and unit.rght > node.rght
            ]
            for node in below
        }

    def in_tree(self, tree: int) -> OrganizationQuerySet:
        """Everything in one tree, by the tree number `tree_choices()` gives."""
        return self.filter(tree_id=tree)

    def tree_choices(self) -> list[tuple[int, str]]:
        """(tree number, name) of each top-level body here, in this queryset's order, for
        choosing a tree (`in_tree`)."""
        return list(self.roots().values_list("tree_id", "name"))

    def roots_of(self, nodes: Iterable[Organization]) -> dict[str, Organization]:
        """The top-level body (from this queryset) of each of `nodes`, by the node's id, in
        one query."""
        nodes = list(nodes)
        roots = {
            root.tree_id: root
            for root in self.roots().filter(tree_id__in={n.tree_id for n in nodes})
        }
        return {node.pk: roots[node.tree_id] for node in nodes if node.tree_id in roots}

    def only_with_place(self, *fields: str) -> OrganizationQuerySet:
        """`only(*fields)` plus what tree methods and descendant counts read from a node."""
        return self.only(*fields, "tree_id", "lft", "rght", "level")

    def total(self) -> int:
        """How many organizations the trees of this queryset's top-level bodies hold: on
        `Organization.objects`, the count of everything. From the roots' nested sets (a tree of
        n units has rght = 2n) instead of COUNT(*) over every row, which is most of an
        unfiltered admin changelist's time on PostgreSQL at 100,000 organizations."""
        return (
            self.roots().order_by().aggregate(total=models.Sum(models.F("rght") / 2))["total"] or 0
        )

    def with_descendant_count(self) -> OrganizationQuerySet:
        """Each organization annotated with `descendants`, how many units are under it, so
        that queries can filter and order by it."""
        return self.annotate(descendants=(models.F("rght") - models.F("lft") - 1) / 2)

    def sibling_position(self, node: Organization) -> int:
        """`node`'s place among its siblings (top-level bodies among themselves), from 1."""
        if node.parent_id is None:
            return self.roots().filter(tree_id__lt=node.tree_id).count() + 1
        return self.filter(parent_id=node.parent_id, lft__lt=node.lft).count() + 1

    def pages(self, *, size: int, root: Organization | None = None) -> Iterator[TreePage]:
        """Pages of about `size` organizations that together hold every organization (or
        `root`'s subtree) exactly once, in tree order. Select a page's organizations with
        `filter(**page.lookups())`, its related rows with `page.lookups("organization__")`."""
        if root is not None:
            return subtree_pages(root.tree_id, root.lft, root.rght, size)
        roots = self.roots().order_by("tree_id").values_list("tree_id", "rght")
        return tree_pages(roots, size)

    def nested_sets(self) -> dict[str, NestedSet]:
        """Every organization's place in its tree, by id, in one query."""
        return {
            pk: NestedSet(*rest)
            for pk, *rest in self.order_by().values_list(
                "pk", "parent_id", "tree_id", "lft", "rght", "level"
            )
        }

    def matching(self, text: str) -> OrganizationQuerySet:
        """Organizations with a name that contains `text`, case-insensitively: the English
        name, the Chinese name or short form, or any other name; or that contain its simplified
        form, when `text` has traditional characters (全國政協 finds 全国政协); or whose pinyin
        key contains `text` folded as pinyin, when it can be pinyin ("Quánguó zhengxie",
        "qgzx"; registry/names.py); or that has `text` as its Q-number or unified social
        credit code."""
        # A union of id sets, each found through its table's search indexes (search.py),
        # rather than one OR: PostgreSQL cannot answer an OR whose other side is a subquery
        # from indexes, and scans every organization for it.
        texts = search_texts(text)
        table, others = Organization._meta.db_table, OtherName._meta.db_table
        names = ("name", "name_zh", "short_name_zh")
        branches = []
        for names_text in filter(None, (texts.text, texts.simplified)):
            branches += [
                Organization.objects.filter(search_matching(table, names, names_text))
                .order_by()
                .values("pk"),
                OtherName.objects.filter(search_matching(others, ("name",), names_text))
                .order_by()
                .values("organization"),
            ]
        if texts.pinyin:
            branches.append(
                Organization.objects.filter(search_matching(table, ("pinyin_key",), texts.pinyin))
                .order_by()
                .values("pk")
            )
        if scheme := searched_scheme(text):  # Q42, a credit code: found exactly, by its index
            branches.append(
                Identifier.objects.filter(
                    scheme=scheme, identifier=text, organization__isnull=False
                )
                .order_by()
                .values("organization")
            )
        return self.filter(pk__in=branches[0].union(*branches[1:]))


# History keeps an organization together with its names, citations, posts (with holders) and
# predecessor links, so that reverting or recovering it brings all of them back.
@reversion.register(
    follow=(
        "other_names",
        "identifiers",
        "citations",
        "posts",
        "predecessor_links",
        "placements",
    )
)
class Organization(MPTTModel):
    """Any unit at any level: a national body, its office, a department, an institution."""

    id = _identifier_field()
    parent = TreeForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="children",
        verbose_name=_("parent"),
        help_text=_("Empty for a top-level body. Siblings keep the order of the tree."),
    )
    name = models.CharField(_("name"), max_length=300, help_text=_("Official English name."))
    name_zh = models.CharField(
        _("Chinese name"),
        max_length=300,
        blank=True,
        help_text=_(
            "Official Chinese name (simplified characters), e.g. "
            "中国人民政治协商会议全国委员会办公厅. Empty until verified: former Chinese names are "
            "other names with language zh-Hans."
        ),
    )
    short_name_zh = models.CharField(
        _("Chinese short form"),
        max_length=100,
        blank=True,
        help_text=_("The short form the official name is cited by, e.g. 全国政协办公厅."),
    )
    pinyin = models.CharField(
        _("pinyin"),
        max_length=500,
        blank=True,
        help_text=_(
            "Pinyin of the Chinese name, with tone marks (e.g. Quánguó Zhèngxié "
            "Bàngōngtīng). Empty: generated from the Chinese name. Fill it in where a character "
            "reads differently here than usual."
        ),
    )
    # Derived, never edited: the toneless pinyin of the Chinese names and their initials, for
    # search (registry/names.py writes it on every path that writes the names).
    # Unlimited: the pinyin of names at their limits is longer than the names (庄 is "zhuang").
    pinyin_key = models.TextField(blank=True, editable=False)
    kind = models.ForeignKey(
        Kind, on_delete=models.PROTECT, related_name="organizations", verbose_name=_("kind")
    )
    rank = models.ForeignKey(
        Rank,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="organizations",
        verbose_name=_("rank"),
        help_text=_("Administrative rank (行政级别), when known."),
    )
    type = models.CharField(
        pgettext_lazy("organization", "type"),
        max_length=300,
        blank=True,
        help_text=_("What the organization is, as its sources put it."),
    )
    location = models.CharField(
        _("location"), max_length=500, blank=True, help_text=_("Postal address.")
    )
    formed = PartialDateField(_("formation"))
    dissolved = PartialDateField(_("dissolution"))
    summary = models.TextField(_("summary"), blank=True)
    history = models.TextField(_("history"), blank=True)
    functions = models.TextField(_("functions"), blank=True)
    sources = models.ManyToManyField(
        Source, through="Citation", related_name="organizations", verbose_name=_("sources")
    )

    objects = OrganizationQuerySet.as_manager()

    class Meta:
        verbose_name = _("organization")
        verbose_name_plural = _("organizations")
        constraints = (
            _not_empty("id", "organization_id_not_empty"),
            _not_empty("name", "organization_name_not_empty"),
            models.CheckConstraint(
                condition=~Q(parent=models.F("id")), name="organization_not_own_parent"
            ),
            models.CheckConstraint(
                condition=not_before("dissolved", "formed"),
                name="organization_dissolved_not_before_formed",
                violation_error_message=_("The dissolution date is before the formation date."),
            ),
            _iso("formed", "organization_formed_iso"),
            _iso("dissolved", "organization_dissolved_iso"),
        )
        # Lists of organizations come in tree order. These serve "the children of X", "the
        # top-level bodies" and the admin's kind and rank filters a page at a time, in that
        # order, without sorting every match.
        indexes = (
            models.Index(fields=("name",), name="organization_name_idx"),
            models.Index(fields=("parent", "tree_id", "lft"), name="organization_children_idx"),
            models.Index(fields=("kind", "tree_id", "lft"), name="organization_kind_idx"),
            models.Index(fields=("rank", "tree_id", "lft"), name="organization_rank_idx"),
        )

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        # A derived column, kept in step here as django-mptt keeps the tree fields.
        self.pinyin_key = organization_pinyin_key(self.name_zh, self.short_name_zh, self.pinyin)
        _save_with_key(super().save, args, kwargs, ("name_zh", "short_name_zh", "pinyin"))

    def get_absolute_url(self) -> str:
        return reverse("registry:organization", kwargs={"pk": self.pk})

    @property
    def pinyin_shown(self) -> str:
        """The curated pinyin, else the one generated from the Chinese name."""
        return self.pinyin or (pinyin_of(self.name_zh) if self.name_zh else "")

    @property
    def other_names_in_order(self) -> list[OtherName]:
        """The other names, in their order; prefetched by `with_labels()`."""
        prefetched = getattr(self, "prefetched_other_names", None)
        return prefetched if prefetched is not None else list(self.other_names.all())

    @property
    def parenthetical(self) -> list[str]:
        """What the sources write in parentheses after the name: second names and numbered
        designations in their order, then the rank."""
        shown = (OtherName.Type.SECOND_NAME, OtherName.Type.DESIGNATION)
        parts = [
            o.name for o in self.other_names_in_order if o.name_type in shown and o.is_english
        ]
        if self.rank_id:
            parts.append(self.rank.name)
        return parts

    @property
    def short_name(self) -> str:
        """The first abbreviation (e.g. CPPCC), else the name."""
        for other in self.other_names_in_order:
            if other.name_type == OtherName.Type.ABBREVIATION and other.is_english:
                return other.name
        return self.name

    @property
    def parenthetical_zh(self) -> list[str]:
        """The Chinese second names, as a Chinese source writes them after the name."""
        return [
            o.name
            for o in self.other_names_in_order
            if o.name_type == OtherName.Type.SECOND_NAME and o.is_chinese
        ]

    @property
    def styled_name(self) -> str:
        """The name as the source documents write it, e.g. 'Liaison Bureau (Letters and Calls
        Bureau)'."""
        parts = self.parenthetical
        return f"{self.name} ({', '.join(parts)})" if parts else self.name

    def clean(self) -> None:
        errors: dict[str, str] = {}
        formed, dissolved = self.formed, self.dissolved
        if _is_date(formed) and _is_date(dissolved) and dissolved.is_before(formed):
            errors["dissolved"] = gettext(
                "The dissolution date (%(dissolved)s) is before the formation date (%(formed)s)."
            ) % {"dissolved": dissolved.display(), "formed": formed.display()}
        if self.parent_id and not self._state.adding:
            if self.parent_id == self.pk:
                errors["parent"] = gettext("An organization cannot be its own parent.")
            elif (
                Organization.objects.filter(pk=self.pk)
                .get_descendants()
                .filter(pk=self.parent_id)
                .exists()
            ):
                errors["parent"] = gettext(
                    "“%(parent)s” is inside “%(name)s”, so it cannot become its parent: "
                    "an organization cannot be moved under its own descendant."
                ) % {"parent": self.parent, "name": self.name}
        if errors:
            raise ValidationError(errors)


def _save_with_key(save, args, kwargs, sources: tuple[str, ...]) -> None:
    """Save, writing `pinyin_key` too when a save of some fields only writes a name it comes
    from."""
    update_fields = kwargs.get("update_fields")
    if update_fields is not None and set(update_fields) & set(sources):
        kwargs["update_fields"] = {*update_fields, "pinyin_key"}
    save(*args, **kwargs)


def _is_date(value) -> bool:
    return hasattr(value, "is_before")


def _is_date_or_none(*values) -> bool:
    return all(value is None or _is_date(value) for value in values)


@reversion.register()
class OtherName(models.Model):
    """A name other than the main one, typed by what it is."""

    class Type(models.TextChoices):
        SECOND_NAME = (
            "second_name",
            _("Second official name (one organization, two nameplates)"),
        )
        DESIGNATION = "designation", _("Numbered designation (e.g. first bureau)")
        ABBREVIATION = "abbreviation", _("Abbreviation")
        FORMER_NAME = "former_name", _("Former name")
        TRANSLATION = "translation", _("Name in another language")

    organization = models.ForeignKey(
        Organization,
        on_delete=models.CASCADE,
        related_name="other_names",
        verbose_name=_("organization"),
    )
    name = models.CharField(_("name"), max_length=300)
    name_type = models.CharField(_("type"), max_length=20, choices=Type)
    language = models.CharField(
        _("language"),
        max_length=20,
        blank=True,
        validators=[language_tag_validator],
        help_text=_("BCP 47 language tag, e.g. zh-Hans; empty for English."),
    )
    position = models.PositiveSmallIntegerField(
        _("position"), default=0, help_text=_("Order among the names.")
    )
    start = PartialDateField(
        _("in use from"), help_text=_("When the name came into use, if known.")
    )
    end = PartialDateField(
        _("in use until"), help_text=_("When the name stopped being used, if known.")
    )

    objects = _manager("organization", "name_type", "name")

    class Meta:
        ordering = ("organization", "position", "pk")
        verbose_name = _("other name")
        verbose_name_plural = _("other names")
        constraints = (
            _not_empty("name", "other_name_not_empty"),
            models.UniqueConstraint(
                fields=("organization", "name_type", "name"), name="other_name_unique"
            ),
            models.CheckConstraint(
                condition=not_before("end", "start"),
                name="other_name_end_not_before_start",
                violation_error_message=_("The name's end is before its start."),
            ),
        )
        indexes = (models.Index(fields=("name",), name="other_name_name_idx"),)

    def __str__(self) -> str:
        return self.name

    @property
    def is_english(self) -> bool:
        """English names have no language tag (or an `en` one)."""
        return not self.language or self.language.lower().split("-")[0] == "en"

    @property
    def is_chinese(self) -> bool:
        return self.language.lower().split("-")[0] == "zh"

    def natural_key(self) -> tuple[str, str, str]:
        return (self.organization_id, self.name_type, self.name)

    def clean(self) -> None:
        _check_period(self.start, self.end, "start", "end")


@reversion.register()
class Citation(models.Model):
    """That an organization's record draws on a source, and where in it."""

    organization = models.ForeignKey(
        Organization,
        on_delete=models.CASCADE,
        related_name="citations",
        verbose_name=_("organization"),
    )
    source = models.ForeignKey(
        Source, on_delete=models.PROTECT, related_name="citations", verbose_name=_("source")
    )
    locator = models.CharField(
        _("locator"),
        max_length=200,
        blank=True,
        help_text=_("Where in the source, e.g. a section or page."),
    )
    position = models.PositiveSmallIntegerField(_("position"), default=0)

    objects = _manager("organization", "source__title", "source__url", "locator")

    class Meta:
        ordering = ("organization", "position", "pk")
        verbose_name = _("citation")
        verbose_name_plural = _("citations")
        constraints = (
            models.UniqueConstraint(
                fields=("organization", "source", "locator"), name="citation_unique"
            ),
        )

    def __str__(self) -> str:
        return f"{self.source} ({self.locator})" if self.locator else str(self.source)

    def natural_key(self) -> tuple[str, ...]:
        return (self.organization_id, *self.source.natural_key(), self.locator)

    natural_key.dependencies = ["registry.source"]


def _check_period(start, end, start_field: str, end_field: str) -> None:
    """Refuse a period whose end is before its start, naming both dates."""
    if _is_date(start) and _is_date(end) and end.is_before(start):
        raise ValidationError(
            {
                end_field: gettext("The end date (%(end)s) is before the start date (%(start)s).")
                % {"end": end.display(), "start": start.display()}
            }
        )


@reversion.register(follow=("participants",))
class ChangeEvent(models.Model):
    """A change in the world, on a date: a unit established, renamed, moved, merged, split,
    abolished, its functions transferred or its rank changed (W3C ORG's ChangeEvent), with the
    organizations before it (`original`) and after it (`result`)."""

    class Type(models.TextChoices):
        ESTABLISHED = "established", _("Established")
        RENAMED = "renamed", _("Renamed")
        MOVED = "moved", _("Moved")
        MERGED = "merged", _("Merged")
        SPLIT = "split", _("Split")
        ABOLISHED = "abolished", _("Abolished")
        FUNCTIONS_TRANSFERRED = "functions_transferred", _("Functions transferred")
        RANK_CHANGED = "rank_changed", _("Rank changed")

    id = _identifier_field()
    type = models.CharField(_("type"), max_length=30, choices=Type)
    date = PartialDateField(
        _("date"), help_text=_("When the change took effect, at the precision known.")
    )
    note = models.TextField(
        _("note"), blank=True, help_text=_("What changed, e.g. which functions went where.")
    )
    source = models.ForeignKey(
        Source,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="events",
        verbose_name=_("source"),
    )
    locator = models.CharField(
        _("locator"),
        max_length=200,
        blank=True,
        help_text=_("Where in the source, e.g. a section or page."),
    )
    rank_before = models.ForeignKey(
        Rank,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("rank before"),
    )
    rank_after = models.ForeignKey(
        Rank,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("rank after"),
    )
    organizations = models.ManyToManyField(
        "Organization",
        through="EventOrganization",
        related_name="events",
        verbose_name=_("organizations"),
    )

    class Meta:
        ordering = ("date", "id")
        verbose_name = _("change event")
        verbose_name_plural = _("change events")
        constraints = (
            _not_empty("id", "change_event_id_not_empty"),
            _iso("date", "change_event_date_iso"),
        )
        indexes = (models.Index(fields=("date",), name="change_event_date_idx"),)

    def __str__(self) -> str:
        when = self.date.display() if _is_date(self.date) else gettext("date unknown")
        return f"{self.get_type_display()}, {when}"

    def get_absolute_url(self) -> str:
        return reverse("registry:event", kwargs={"pk": self.pk})


@reversion.register()
class EventOrganization(models.Model):
    """An organization's part in a change event: one of those before it, or after it."""

    class Role(models.TextChoices):
        ORIGINAL = "original", _("Before the change")
        RESULT = "result", _("After the change")

    event = models.ForeignKey(
        ChangeEvent,
        on_delete=models.CASCADE,
        related_name="participants",
        verbose_name=_("event"),
    )
    organization = models.ForeignKey(
        "Organization",
        on_delete=models.PROTECT,
        related_name="event_parts",
        verbose_name=_("organization"),
    )
    role = models.CharField(_("role"), max_length=10, choices=Role)
    position = models.PositiveSmallIntegerField(_("position"), default=0)

    objects = _manager("event", "organization", "role")

    class Meta:
        ordering = ("event", "role", "position", "pk")
        verbose_name = _("organization in the change")
        verbose_name_plural = _("organizations in the change")
        constraints = (
            models.UniqueConstraint(
                fields=("event", "organization", "role"), name="event_organization_unique"
            ),
        )

    def __str__(self) -> str:
        return f"{self.organization_id} ({self.get_role_display().lower()})"

    def natural_key(self) -> tuple[str, str, str]:
        return (self.event_id, self.organization_id, self.role)


@reversion.register()
class Placement(models.Model):
    """An earlier placement of a unit: under `parent` (at the top when empty) from `start` to
    `end`. The current placement is the tree itself (`Organization.parent`), in force since the
    latest `end` here, so the tree and the open placement can never disagree."""

    organization = models.ForeignKey(
        "Organization",
        on_delete=models.CASCADE,
        related_name="placements",
        verbose_name=_("organization"),
    )
    parent = models.ForeignKey(
        "Organization",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="former_children",
        verbose_name=_("parent"),
        help_text=_("Empty when the unit was a top-level body then."),
    )
    start = PartialDateField(_("from"), help_text=_("When the placement began, if known."))
    end = PartialDateField(
        _("until"),
        blank=False,
        help_text=_("When the unit left this parent (ISO 8601, partial)."),
    )
    event = models.ForeignKey(
        ChangeEvent,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="placements",
        verbose_name=_("event"),
    )

    objects = _manager("organization", "end")

    class Meta:
        ordering = ("organization", "end")
        verbose_name = _("earlier placement")
        verbose_name_plural = _("earlier placements")
        constraints = (
            _not_empty("end", "placement_has_end"),
            _iso("start", "placement_start_iso"),
            _iso("end", "placement_end_iso"),
            models.UniqueConstraint(fields=("organization", "end"), name="placement_unique"),
            models.CheckConstraint(
                condition=~Q(parent=models.F("organization")),
                name="placement_not_own_parent",
                violation_error_message=_("An organization cannot be its own parent."),
            ),
            models.CheckConstraint(
                condition=not_before("end", "start"),
                name="placement_end_not_before_start",
                violation_error_message=_("The placement ends before it starts."),
            ),
        )

    def __str__(self) -> str:
        under = self.parent_id or gettext("the top level")
        return gettext("%(unit)s under %(parent)s until %(end)s") % {
            "unit": self.organization_id,
            "parent": under,
            "end": self.end,
        }

    def natural_key(self) -> tuple[str, str]:
        return (self.organization_id, str(self.end or ""))

    def clean(self) -> None:
        _check_period(self.start, self.end, "start", "end")
        if not (self.organization_id and _is_date_or_none(self.start, self.end)):
            return
        if self.end is not None and (
            reason := placement_conflict(self, self.organization.placements.exclude(pk=self.pk))
        ):
            raise ValidationError(reason)
        if self.parent_id:
            parent = Organization.objects.only("name", "formed", "dissolved").get(
                pk=self.parent_id
            )
            if reason := outside_existence(parent, self.start, self.end):
                raise ValidationError({"parent": reason})


def placement_conflict(placement: Placement, others: Iterable[Placement]) -> str | None:
    """Why `placement` overlaps another earlier placement of its unit, or None. Periods may
    touch (one ends on the day the next begins: the move's day belongs to the later one)."""
    for other in others:
        earlier, later = sorted((placement, other), key=lambda p: p.end.earliest)
        if later.start is None or later.start.is_before(earlier.end):
            return gettext(
                "The placement until %(later)s overlaps the one until %(earlier)s: it must "
                "start on or after %(earlier)s."
            ) % {"later": later.end.display(), "earlier": earlier.end.display()}
    return None


def outside_existence(parent: Organization, start, end) -> str | None:
    """Why a unit cannot sit under `parent` from `start` to `end` (None: unknown), or None: a
    child's placement lies within its parent's existence."""
    if _is_date(parent.formed) and _is_date(end) and end.is_before(parent.formed):
        return gettext(
            "“%(parent)s” was formed in %(formed)s, after this placement ended (%(end)s)."
        ) % {"parent": parent.name, "formed": parent.formed.display(), "end": end.display()}
    if _is_date(parent.dissolved) and _is_date(start) and parent.dissolved.is_before(start):
        return gettext(
            "“%(parent)s” was dissolved in %(dissolved)s, before this placement began (%(start)s)."
        ) % {
            "parent": parent.name,
            "dissolved": parent.dissolved.display(),
            "start": start.display(),
        }
    return None


@reversion.register()
class Succession(models.Model):
    """A lineage link: `successor` took over from `predecessor`. Both stay in the registry."""

    predecessor = models.ForeignKey(
        Organization,
        on_delete=models.PROTECT,
        related_name="successor_links",
        verbose_name=_("predecessor"),
    )
    successor = models.ForeignKey(
        Organization,
        on_delete=models.PROTECT,
        related_name="predecessor_links",
        verbose_name=_("successor"),
    )
    date = PartialDateField(_("date of succession"))
    note = models.CharField(_("note"), max_length=500, blank=True)
    event = models.ForeignKey(
        ChangeEvent,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="successions",
        verbose_name=_("event"),
        help_text=_("The change event in which the successor took over, if recorded."),
    )

    objects = _manager("predecessor", "successor")

    class Meta:
        ordering = ("successor", "predecessor")
        verbose_name = _("succession")
        verbose_name_plural = _("successions")
        constraints = (
            models.UniqueConstraint(fields=("predecessor", "successor"), name="succession_unique"),
            models.CheckConstraint(
                condition=~Q(predecessor=models.F("successor")),
                name="succession_not_self",
                violation_error_message=_("An organization cannot be its own predecessor."),
            ),
        )

    def __str__(self) -> str:
        return f"{self.predecessor} → {self.successor}"

    def natural_key(self) -> tuple[str, str]:
        return (self.predecessor_id, self.successor_id)


class PersonQuerySet(models.QuerySet):
    def matching(self, text: str) -> PersonQuerySet:
        """People whose name or Chinese name contains `text` or its simplified form, or whose
        pinyin key contains `text` folded as pinyin, case-insensitively (as organizations)."""
        texts = search_texts(text)
        table = Person._meta.db_table
        branches = [
            Person.objects.filter(search_matching(table, ("name", "name_zh"), names_text))
            .order_by()
            .values("pk")
            for names_text in filter(None, (texts.text, texts.simplified))
        ]
        if texts.pinyin:
            branches.append(
                Person.objects.filter(search_matching(table, ("pinyin_key",), texts.pinyin))
                .order_by()
                .values("pk")
            )
        if len(branches) == 1:
            return self.filter(pk__in=branches[0])
        return self.filter(pk__in=branches[0].union(*branches[1:]))


@reversion.register(follow=("identifiers",))
class Person(models.Model):
    id = _identifier_field()
    name = models.CharField(pgettext_lazy("person", "name"), max_length=200)
    name_zh = models.CharField(pgettext_lazy("person", "Chinese name"), max_length=100, blank=True)
    pinyin = models.CharField(
        _("pinyin"),
        max_length=300,
        blank=True,
        help_text=_(
            "Pinyin of the Chinese name, with tone marks (e.g. Wáng Dōngfēng). Empty: "
            "generated from the Chinese name."
        ),
    )
    pinyin_key = models.TextField(blank=True, editable=False)
    note = models.TextField(_("note"), blank=True)
    sources = models.ManyToManyField(
        Source, blank=True, related_name="people", verbose_name=_("sources")
    )

    objects = PersonQuerySet.as_manager()

    class Meta:
        ordering = ("name",)
        verbose_name = _("person")
        verbose_name_plural = _("people")
        constraints = (
            _not_empty("id", "person_id_not_empty"),
            _not_empty("name", "person_name_not_empty"),
        )
        indexes = (models.Index(fields=("name",), name="person_name_idx"),)

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        self.pinyin_key = person_pinyin_key(self.name_zh, self.pinyin)
        _save_with_key(super().save, args, kwargs, ("name_zh", "pinyin"))

    def get_absolute_url(self) -> str:
        return reverse("registry:person", kwargs={"pk": self.pk})

    @property
    def pinyin_shown(self) -> str:
        return self.pinyin or (pinyin_of(self.name_zh) if self.name_zh else "")


@reversion.register(follow=("holdings",))
class Post(models.Model):
    """A position in an organization (e.g. Secretary-General), in order of seniority."""

    organization = models.ForeignKey(
        Organization,
        on_delete=models.PROTECT,
        related_name="posts",
        verbose_name=_("organization"),
    )
    title = models.CharField(pgettext_lazy("post", "title"), max_length=200)
    plural_title = models.CharField(
        _("plural title"),
        max_length=200,
        blank=True,
        help_text=_("Shown when the post has several holders."),
    )
    position = models.PositiveSmallIntegerField(
        _("seniority"),
        default=0,
        help_text=_("Order of seniority within the organization: 1 first."),
    )
    holders = models.ManyToManyField(
        Person, through="Holding", related_name="posts", verbose_name=_("holders")
    )

    objects = _manager("organization", "title")

    class Meta:
        ordering = ("organization", "position", "pk")
        verbose_name = _("post")
        verbose_name_plural = _("posts")
        constraints = (
            _not_empty("title", "post_title_not_empty"),
            models.UniqueConstraint(fields=("organization", "title"), name="post_title_unique"),
        )

    def __str__(self) -> str:
        return f"{self.title}, {self.organization}"

    def natural_key(self) -> tuple[str, str]:
        return (self.organization_id, self.title)

    @property
    def heading(self) -> str:
        holdings = self.holdings.all()
        return self.plural_title if self.plural_title and len(holdings) > 1 else self.title


@reversion.register()
class Holding(models.Model):
    """That a person holds (or held) a post; holders of one post keep a set order."""

    post = models.ForeignKey(
        Post, on_delete=models.CASCADE, related_name="holdings", verbose_name=_("post")
    )
    person = models.ForeignKey(
        Person, on_delete=models.PROTECT, related_name="holdings", verbose_name=_("person")
    )
    position = models.PositiveSmallIntegerField(
        _("position"), default=0, help_text=_("Order among the holders.")
    )
    start = PartialDateField(_("start date"))
    end = PartialDateField(_("end date"))

    objects = _manager("post__organization", "post__title", "person", "start")

    class Meta:
        ordering = ("post", "position", "pk")
        verbose_name = _("holding")
        verbose_name_plural = _("holdings")
        constraints = (
            models.UniqueConstraint(fields=("post", "person", "start"), name="holding_unique"),
            models.CheckConstraint(
                condition=not_before("end", "start"),
                name="holding_end_not_before_start",
                violation_error_message=_("The end date is before the start date."),
            ),
        )

    def __str__(self) -> str:
        return gettext("%(person)s as %(post)s") % {"person": self.person, "post": self.post.title}

    def natural_key(self) -> tuple[str, ...]:
        return (*self.post.natural_key(), self.person_id, str(self.start or ""))

    natural_key.dependencies = ["registry.post", "registry.person"]

    def clean(self) -> None:
        _check_period(self.start, self.end, "start", "end")
        # The CSV import's rule too (docs/csv.md), so that what is saved here exports and
        # imports back: the same person again in the same post only in a later period.
        if self.post_id and self.person_id and _is_date_or_none(self.start, self.end):
            period = (str(self.start or ""), str(self.end or ""))
            others = Holding.objects.filter(post=self.post_id, person=self.person_id).exclude(
                pk=self.pk
            )
            for start, end in others.values_list("start", "end"):
                if start == period[0]:
                    continue  # the unique constraint names that one
                if reason := periods_conflict(period, (start, end)):
                    raise ValidationError(
                        gettext("%(person)s already holds this post: %(reason)s.")
                        % {"person": self.person, "reason": reason}
                    )


def scheme_validator(value: str) -> None:
    if problem := scheme_problem(value):
        raise ValidationError(problem, code="invalid_scheme")


@reversion.register()
class Identifier(models.Model):
    """An identifier of an organization or a person in an external scheme: a Wikidata item
    (`wikidata`), a unified social credit code (`uscc`), or any other scheme (a short
    lowercase name). Each names one record: the same scheme and identifier never belong to two
    records, organizations and people alike (a database constraint)."""

    organization = models.ForeignKey(
        Organization,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="identifiers",
        verbose_name=_("organization"),
    )
    person = models.ForeignKey(
        Person,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="identifiers",
        verbose_name=_("person"),
    )
    scheme = models.CharField(
        _("scheme"),
        max_length=SCHEME_MAX,
        validators=[scheme_validator],
        help_text=_(
            "wikidata (a Q-number), uscc (统一社会信用代码, the unified social credit code), or "
            "another short lowercase name, e.g. isni."
        ),
    )
    identifier = models.CharField(
        _("identifier"),
        max_length=IDENTIFIER_MAX,
        help_text=_("Exactly as the scheme writes it, e.g. Q42, or 18 characters for a uscc."),
    )

    class Meta:
        ordering = ("scheme", "identifier", "pk")
        verbose_name = _("external identifier")
        verbose_name_plural = _("external identifiers")
        constraints = (
            _not_empty("scheme", "identifier_scheme_not_empty"),
            _not_empty("identifier", "identifier_not_empty"),
            models.CheckConstraint(
                condition=Q(organization__isnull=False, person__isnull=True)
                | Q(organization__isnull=True, person__isnull=False),
                name="identifier_one_owner",
                violation_error_message=_(
                    "An identifier belongs to one organization or one person."
                ),
            ),
            # Across the whole registry, not per owner: a Q-number or a credit code names one
            # body, so one given to a second record is a mistake (or a duplicate record).
            models.UniqueConstraint(
                fields=("scheme", "identifier"),
                name="identifier_unique",
                violation_error_message=_(
                    "This identifier already belongs to another record: an identifier names "
                    "one organization or person."
                ),
            ),
        )

    def __str__(self) -> str:
        return f"{self.scheme} {self.identifier}"

    @property
    def scheme_label(self) -> str:
        """The scheme as pages name it: the known ones by name, others as stored."""
        return str(SCHEME_LABELS.get(self.scheme, self.scheme))

    @property
    def url(self) -> str:
        """Where the identifier can be followed, for the schemes that have an address."""
        if self.scheme == WIKIDATA and identifier_problem(WIKIDATA, self.identifier) is None:
            return wikidata_url(self.identifier)
        return ""

    def clean(self) -> None:
        if not self.scheme or not self.identifier or scheme_problem(self.scheme):
            return  # the fields' own checks say what is wrong
        if problem := identifier_problem(self.scheme, self.identifier):
            raise ValidationError({"identifier": problem})
        other = (
            Identifier.objects.filter(scheme=self.scheme, identifier=self.identifier)
            .exclude(pk=self.pk)
            .select_related("organization", "person")
            .first()
        )
        if other is not None:
            owner = other.organization or other.person
            raise ValidationError(
                {
                    "identifier": gettext(
                        "%(scheme)s %(identifier)s already belongs to %(owner)s “%(name)s”: "
                        "an identifier names one organization or person."
                    )
                    % {
                        "scheme": self.scheme,
                        "identifier": self.identifier,
                        "owner": owner._meta.verbose_name,
                        "name": owner,
                    }
                }
            )


class ChangeStamp(models.Model):
    """One row that moves on whenever any registry data changes, for HTTP caching.

    Public pages are rendered from many tables, so no single row's timestamp says whether a page
    is still current. Database triggers (migration 0003) bump this row in the same transaction
    as every insert, update or delete on a registry table, whatever wrote it (admin, CSV import
    by COPY, loaddata, a history restore, raw SQL, another process), so `registry.caching` can
    answer "has anything changed?" with one indexed read. Nothing in Python writes it.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    version = models.BigIntegerField(default=0, help_text="Bumped by every registry write.")
    changed = models.DateTimeField(help_text="When the last registry write's transaction ran.")

    class Meta:
        db_table = "registry_change_stamp"
        # Bookkeeping, not curated data: no admin, no permissions for the staff roles.
        default_permissions = ()
        constraints = (models.CheckConstraint(condition=Q(id=1), name="change_stamp_single_row"),)

    def __str__(self) -> str:
        return f"registry version {self.version}"


# Records whose history starts with themselves: each has an admin page with its history and a
# "Recover deleted" list. Other names, identifiers, citations, posts, holders and lineage links
# are versioned with the record that owns them (the `follow` of their owner's registration
# above).
HISTORY_ROOTS: tuple[type[models.Model], ...] = (
    Kind,
    Rank,
    Source,
    Organization,
    ChangeEvent,
    Person,
)
# Every registry model, each after the models its rows point at.
REGISTRY_MODELS: tuple[type[models.Model], ...] = (
    Kind,
    Rank,
    Source,
    Organization,
    ChangeEvent,
    EventOrganization,
    OtherName,
    Citation,
    Placement,
    Succession,
    Person,
    Identifier,
    Post,
    Holding,
)
