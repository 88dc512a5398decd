"""Admin forms that keep what curators typed: no trimming of spaces or line breaks."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _


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
        formfield = super().formfield_for_dbfield(db_field, request, **kwargs)
        if hasattr(formfield, "strip"):
            formfield.strip = False
            if formfield.required:  # stripping was what refused a name of only spaces
                formfield.validators.append(_not_only_spaces)
        return formfield

    # Browsers send every line break of a text area as CRLF, whatever the text held: a text
    # imported with LF line breaks would change on every save of an unchanged form.

    def get_form(self, request, obj=None, **kwargs):
        return _keeping_line_breaks(super().get_form(request, obj, **kwargs))

    def get_formset(self, request, obj=None, **kwargs):  # inlines
        formset = super().get_formset(request, obj, **kwargs)
        formset.form = _keeping_line_breaks(formset.form)
        return formset


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
