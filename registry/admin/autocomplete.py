"""The organization picker: every autocomplete that chooses an organization (a unit's parent, a
placement's parent, lineage, change events, a post's organization, the reform forms).

Names repeat across bodies ("General Office", "Research Office"), so each candidate is shown
with its path and rank ("Standing Committee of the NPC > General Office > Research Office,
deputy ministerial-level"), and candidates are ranked: exact matches of any name first, then
names that start with what was typed, then the rest. Django's `AutocompleteJsonView` does the
rest as for any autocomplete: the source field and the user's view permission are checked, the
search is `OrganizationAdmin.get_search_results`, the page is the admin's paginator.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import reduce
from operator import or_

from django.contrib.admin.views.autocomplete import AutocompleteJsonView
from django.contrib.admin.widgets import AutocompleteSelect, AutocompleteSelectMultiple
from django.db.models import Case, Exists, IntegerField, OuterRef, Q, QuerySet, Value, When

from ..models import Organization, OtherName
from ..trees import tree_order

URL_NAME = "registry_organization_autocomplete"
PATH_SEPARATOR = " \N{SINGLE RIGHT-POINTING ANGLE QUOTATION MARK} "
RANK_SEPARATOR = " \N{MIDDLE DOT} "
# The names an exact or prefix match is looked for in: everything a curator may type.
_NAME_FIELDS = ("name", "name_zh", "short_name_zh", "id")


def is_autocomplete(request) -> bool:
    """Whether `request` is the picker's (or Django's own autocomplete) search request."""
    match = getattr(request, "resolver_match", None)
    return match is not None and match.url_name in (URL_NAME, "autocomplete")


def ranked(queryset: QuerySet, term: str) -> QuerySet:
    """`queryset` with exact matches of `term` (any name, the id, any other name) first, then
    names that start with it, then the rest; alphabetical within each, then in tree order, so
    that units of the same name stand together and their paths tell them apart."""
    term = term.strip()
    if not term:
        return queryset

    def any_name(lookup: str) -> Q:
        own = reduce(or_, (Q(**{f"{field}__{lookup}": term}) for field in _NAME_FIELDS))
        other = Exists(
            OtherName.objects.filter(organization=OuterRef("pk"), **{f"name__{lookup}": term})
        )
        return own | Q(other)

    match = Case(
        When(any_name("iexact"), then=Value(0)),
        When(any_name("istartswith"), then=Value(1)),
        default=Value(2),
        output_field=IntegerField(),
    )
    return queryset.annotate(picker_match=match).order_by("picker_match", "name", *tree_order())


def labels(organizations: Iterable[Organization]) -> dict[str, str]:
    """Each organization's picker label by id: the names of the units above it, its name (and
    Chinese name) and its rank. The ancestors of all of them come from one query."""
    organizations = list(organizations)
    if not organizations:
        return {}
    above = Organization.objects.only_with_place("name").ancestors_of(organizations)
    result = {}
    for o in organizations:
        path = [unit.name for unit in above.get(o.pk, ())]
        own = f"{o.name} {o.name_zh}" if o.name_zh and o.name_zh != o.name else o.name
        label = PATH_SEPARATOR.join([*path, own])
        if o.rank_id is not None:
            label += RANK_SEPARATOR + o.rank.name
        result[o.pk] = label
    return result


class OrganizationAutocompleteJsonView(AutocompleteJsonView):
    """Django's autocomplete with each organization's path and rank as its text."""

    def get_queryset(self):
        queryset = super().get_queryset()
        if self.model_admin.model is Organization:
            queryset = queryset.select_related("rank")
        return queryset

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        page = context["object_list"]
        self.labels = labels(page) if self.model_admin.model is Organization else {}
        return context

    def serialize_result(self, obj, to_field_name):
        result = super().serialize_result(obj, to_field_name)
        if obj.pk in self.labels:
            result["text"] = self.labels[obj.pk]
        return result


class _PathLabels:
    """The chosen organizations shown with their paths, as the picker shows its candidates."""

    url_name = "%s:" + URL_NAME

    def optgroups(self, name, value, attr=None):
        groups = super().optgroups(name, value, attr)
        chosen = [
            option["value"] for _, options, _ in groups for option in options if option["value"]
        ]
        if chosen:
            found = labels(
                Organization.objects.filter(pk__in=[str(pk) for pk in chosen]).select_related(
                    "rank"
                )
            )
            for _, options, _ in groups:
                for option in options:
                    option["label"] = found.get(str(option["value"]), option["label"])
        return groups


class OrganizationPicker(_PathLabels, AutocompleteSelect):
    pass


class OrganizationsPicker(_PathLabels, AutocompleteSelectMultiple):
    pass


class OrganizationPickerMixin:
    """ModelAdmin (and inline) hook: autocomplete fields that choose organizations use the
    picker."""

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if (
            "widget" not in kwargs
            and db_field.related_model is Organization
            and db_field.name in self.get_autocomplete_fields(request)
        ):
            kwargs["widget"] = OrganizationPicker(
                db_field, self.admin_site, using=kwargs.get("using")
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)
