"""Admin forms that keep what curators typed (no trimming of spaces or line breaks), with one
rule for identifiers, and identifiers suggested from the name."""

from __future__ import annotations

import re
import unicodedata

from django import forms
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models
from django.http import JsonResponse
from django.utils.translation import gettext_lazy as _
from pypinyin import lazy_pinyin

from ..models import Organization, OtherName, Post, identifier_validator


class KeepWhitespaceMixin:
    """Form fields keep what the curator typed, leading and trailing spaces included.

    Django's form CharField strips them by default, so saving an unchanged form changed
    imported names and summaries, and two other names `X` and `X ` could not be saved.
    Identifiers, codes and dates with spaces are then refused by their validators."""

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if isinstance(db_field, models.URLField):
            # forms.URLField would prefix an address typed without a scheme with "http://"
            # (and warns about that default changing); the model's validators refuse it instead.
            kwargs.setdefault("form_class", forms.CharField)
        if identifier_validator in db_field.validators:
            # A SlugField's form field refuses with Django's own rule ("letters, numbers,
            # underscores or hyphens"), which contradicts ours: only ours is checked and said.
            kwargs.setdefault("form_class", IdentifierFormField)
        formfield = super().formfield_for_dbfield(db_field, request, **kwargs)
        if hasattr(formfield, "strip"):
            formfield.strip = False
            if formfield.required:  # stripping was what refused a name of only spaces
                formfield.validators.append(_not_only_spaces)
        return formfield

    # Browsers send every line break of a text area as CRLF, whatever the text held: a text
    # imported with LF line breaks would change on every save of an unchanged form.

    def get_form(self, request, obj=None, **kwargs):
        return _appending_positions(_keeping_line_breaks(super().get_form(request, obj, **kwargs)))

    def get_formset(self, request, obj=None, **kwargs):  # inlines
        formset = super().get_formset(request, obj, **kwargs)
        formset.form = _appending_positions(_keeping_line_breaks(formset.form))
        return _labelled_cells(_positions_in_formset(formset))


class IdentifierFormField(forms.CharField):
    """A registry identifier, checked by the one rule (`identifier_validator`) alone."""

    default_validators = [identifier_validator]

    def __init__(self, *, allow_unicode: bool = False, **kwargs):  # a SlugField's option
        super().__init__(**kwargs)


def _not_only_spaces(value) -> None:
    if isinstance(value, str) and value and not value.strip():
        raise ValidationError(_("This field cannot be only spaces."), code="blank")


def _keeping_line_breaks(form: type[forms.BaseForm]) -> type[forms.BaseForm]:
    """`form`, keeping a text area's stored value when what came back differs from it only in
    how line breaks are written."""

    class LineBreaksKeptForm(form):
        def clean(self):
            cleaned = super().clean()
            for name, field in self.fields.items():
                value = cleaned.get(name)
                if not isinstance(field.widget, forms.Textarea) or not isinstance(value, str):
                    continue
                stored = self.get_initial_for_field(field, name)
                if isinstance(stored, str) and stored != value and _lines(stored) == _lines(value):
                    cleaned[name] = stored
            return cleaned

    LineBreaksKeptForm.__name__ = form.__name__
    return LineBreaksKeptForm


def _lines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


# --- Positions appended by default -----------------------------------------------------------

# Rows whose `position` says their order within their owner (1 first), by the owner's field. A
# row added without a position goes after its owner's others; a typed position is kept as typed.
APPENDED_POSITIONS = {OtherName: "organization", Post: "organization"}


def _appending_positions(form: type[forms.BaseForm]) -> type[forms.BaseForm]:
    model = getattr(getattr(form, "_meta", None), "model", None)
    owner = APPENDED_POSITIONS.get(model)
    if owner is None or "position" not in form.base_fields:
        return form

    class PositionAppendedForm(form):
        position_formset = None  # set by the inline's formset: the sibling forms
        position_index = 0

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.fields["position"].required = False
            if self.instance._state.adding:  # not the model's 0, which would go first
                self.initial["position"] = None

        def clean(self):
            cleaned = super().clean()
            if cleaned.get("position") is None and "position" not in self.errors:
                cleaned["position"] = self._next_position(cleaned)
                self.instance.position = cleaned["position"]
            return cleaned

        def _next_position(self, cleaned) -> int:
            """After the owner's rows in the database and the positions typed on this page;
            blank rows in the order they were added."""
            owner_id = getattr(cleaned.get(owner), "pk", None) or getattr(
                self.instance, f"{owner}_id", None
            )
            siblings = [self] if self.position_formset is None else self.position_formset.forms
            on_page = {f.instance.pk for f in siblings if not f.instance._state.adding}
            stored = (
                model._default_manager.filter(**{f"{owner}_id": owner_id})
                .exclude(pk__in=on_page)
                .values_list("position", flat=True)
                if owner_id is not None
                else []
            )
            typed, blanks_before = [], 0
            for sibling in siblings:
                raw = sibling.data.get(sibling.add_prefix("position"), "")
                if str(raw).isdigit():
                    typed.append(int(raw))
                elif sibling.position_index < self.position_index and sibling.has_changed():
                    blanks_before += 1
            return max([0, *stored, *typed]) + 1 + blanks_before

    PositionAppendedForm.__name__ = form.__name__
    return PositionAppendedForm


def _labelled_cells(formset: type[forms.BaseFormSet]) -> type[forms.BaseFormSet]:
    """A tabular inline's fields named for screen readers: its column headings are not labels
    of the inputs under them, so each input says which column (and row) it is in."""

    class LabelledFormSet(formset):
        def add_fields(self, form, index):
            super().add_fields(form, index)
            row = _("new row") if index is None else index + 1
            for field in form.fields.values():
                label = field.label or ""
                # A related field's wrapper (add, change links) renders the widget inside it.
                widget = getattr(field.widget, "widget", field.widget)
                widget.attrs.setdefault("aria-label", f"{label} ({row})")

    LabelledFormSet.__name__ = formset.__name__
    return LabelledFormSet


def _positions_in_formset(formset: type[forms.BaseFormSet]) -> type[forms.BaseFormSet]:
    if not hasattr(formset.form, "position_formset"):
        return formset

    class PositionsFormSet(formset):
        def _construct_form(self, i, **kwargs):
            form = super()._construct_form(i, **kwargs)
            form.position_formset, form.position_index = self, i
            return form

    PositionsFormSet.__name__ = formset.__name__
    return PositionsFormSet


# --- Identifiers suggested from the name ---------------------------------------------------

# The seed writes a unit's id as its parent's id, the General Office shortened to "go", then
# the unit's name: cppcc-general-office > Research Office is cppcc-go-research-office.
_SHORTENED = (("-general-office", "-go"),)


def identifier_prefix(parent_id: str) -> str:
    for long, short in _SHORTENED:
        if parent_id.endswith(long):
            return parent_id[: -len(long)] + short
    return parent_id


def identifier_suggestion(*, name: str, name_zh: str = "", parent_id: str = "") -> str:
    """An identifier for a new organization named `name` (or, without an English name, `name_zh`
    in pinyin) under `parent_id`, built the way the seed's are and following the one rule
    (`identifier_validator`); "" when nothing in the names can make one. An identifier already
    taken gets a number: research-office-2."""
    words = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    if not _WORD.search(words) and name_zh:
        words = " ".join(lazy_pinyin(name_zh, v_to_u=False, errors="ignore"))
    slug = _NOT_WORD.sub("-", _APOSTROPHE.sub("", words.lower())).strip("-")
    if not slug:
        return ""
    prefix = identifier_prefix(parent_id) if identifier_validator.regex.match(parent_id) else ""
    limit = Organization._meta.get_field("id").max_length
    suggestion = f"{prefix}-{slug}" if prefix else slug
    suggestion = suggestion[: limit - 4].rstrip("-")  # room for a number
    taken = set(
        Organization.objects.filter(pk__startswith=suggestion).values_list("pk", flat=True)
    )
    candidate, number = suggestion, 1
    while candidate in taken:
        number += 1
        candidate = f"{suggestion}-{number}"
    return candidate


_WORD = re.compile(r"[A-Za-z0-9]")
_NOT_WORD = re.compile(r"[^a-z0-9]+")
_APOSTROPHE = re.compile("['\N{RIGHT SINGLE QUOTATION MARK}]")


def identifier_suggestion_view(request):
    """The add form's suggestion as JSON (`{"id": …}`), for staff who may add organizations."""
    if not request.user.has_perm("registry.add_organization"):
        raise PermissionDenied
    return JsonResponse(
        {
            "id": identifier_suggestion(
                name=request.GET.get("name", "")[:300],
                name_zh=request.GET.get("name_zh", "")[:300],
                parent_id=request.GET.get("parent", "")[:100],
            )
        }
    )
