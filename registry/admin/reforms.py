"""“Record a change” in the admin: one form per kind of reform, written by registry/reforms.py.

The form asks for what the curator knows (which unit, what happened, when, from which source)
and the service writes every dated record with the current tree, or refuses: the refusal is
shown on the field it names and nothing is written. Organizations are picked with the admin's
autocomplete (OrganizationAdmin's search), never a list of every unit.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import quote
from django.contrib.admin.widgets import AutocompleteSelect
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from .. import reforms
from ..dates import PartialDateFormField
from ..models import ChangeEvent, Kind, Organization, Rank, Source, identifier_validator
from .autocomplete import OrganizationPicker, OrganizationsPicker
from .forms import _not_only_spaces

KINDS = {
    "move": _("Move a unit under another parent"),
    "rename": _("Rename a unit"),
    "merge": _("Merge units into one"),
    "split": _("Split a unit"),
    "abolish": _("Abolish a unit"),
    "rank": _("Change a unit's rank"),
}
# The fields each kind asks for, in order, after which every kind asks for the event's own.
KIND_FIELDS = {
    "move": ("organization", "parent"),
    "rename": ("organization", "name"),
    "merge": (
        "organizations",
        "result",
        "new_id",
        "new_name",
        "new_parent",
        "new_kind",
        "new_rank",
        "sub_units",
    ),
    "split": (
        "organization",
        "results",
        "new_results",
        "new_parent",
        "new_kind",
        "continues",
        "sub_units_to",
    ),
    "abolish": ("organization", "successor", "sub_units"),
    "rank": ("organization", "rank"),
}
EVENT_FIELDS = ("date", "source", "locator", "note", "event_id")
SUB_UNIT_CHOICES = {
    "merge": (
        (reforms.SUB_UNITS_MOVE, _("Move under the result (their placements are recorded)")),
        (reforms.SUB_UNITS_STAY, _("Stay where they are")),
    ),
    "abolish": (
        ("", _("None may remain: refuse if it still has current sub-units")),
        (reforms.SUB_UNITS_MOVE, _("Move under the successor (their placements are recorded)")),
        (reforms.SUB_UNITS_END, _("End on the same date, with everything under them")),
    ),
}


def _organization_widget(multiple: bool = False):
    # Any foreign key to Organization serves as the autocomplete's source field: the view
    # searches with OrganizationAdmin's search_fields and checks the user may view units.
    field = Organization._meta.get_field("parent")
    widget = OrganizationsPicker if multiple else OrganizationPicker
    return widget(field, admin.site)


def _organization(label: str, help_text: str = "", required: bool = False):
    return forms.ModelChoiceField(
        Organization.objects.all(),
        label=label,
        help_text=help_text,
        required=required,
        widget=_organization_widget(),
    )


def _organizations(label: str, help_text: str = ""):
    return forms.ModelMultipleChoiceField(
        Organization.objects.all(),
        label=label,
        help_text=help_text,
        required=False,
        widget=_organization_widget(multiple=True),
    )


def _text(label: str, max_length: int, help_text: str = "", **kwargs):
    # What the curator typed, kept as typed (KeepWhitespaceMixin's rule for admin forms).
    return forms.CharField(
        label=label, max_length=max_length, help_text=help_text, strip=False, **kwargs
    )


class ReformForm(forms.Form):
    kind = forms.ChoiceField(choices=tuple(KINDS.items()), widget=forms.HiddenInput)
    shown = forms.CharField(required=False, widget=forms.HiddenInput)
    organization = _organization(_("Organization"), required=True)
    organizations = _organizations(
        _("Organizations that merge"), _("Two or more; the first names the event.")
    )
    parent = _organization(
        _("New parent"), _("The unit goes last among the new parent's sub-units."), required=True
    )
    name = _text(_("New name"), 300, validators=[_not_only_spaces])
    result = _organization(_("Into an existing organization"), _("Or describe a new one below."))
    results = _organizations(_("Into existing organizations"), _("And/or new ones below."))
    new_id = _text(
        _("New organization's identifier"),
        100,
        _("Lowercase letters, digits and single hyphens."),
        required=False,
        validators=[identifier_validator],
    )
    new_name = _text(_("New organization's name"), 300, required=False)
    new_results = forms.CharField(
        label=_("New organizations"),
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("One per line: identifier | name, e.g. npcsc-go-press-bureau | Press Bureau."),
    )
    new_parent = _organization(_("New organizations' parent"), _("Empty: a top-level body."))
    new_kind = forms.ModelChoiceField(Kind.objects.all(), label=_("New organizations' kind"))
    new_rank = forms.ModelChoiceField(
        Rank.objects.all(), label=_("New organization's rank"), required=False
    )
    continues = forms.BooleanField(
        label=_("The unit continues"),
        required=False,
        help_text=_("It keeps existing beside the new units (no dissolution, no successors)."),
    )
    sub_units_to = _text(
        _("Its sub-units move under"),
        100,
        _("The identifier of one of the results; empty: they stay where they are."),
        required=False,
    )
    successor = _organization(_("Functions to"), _("The unit that takes over, if any."))
    sub_units = forms.ChoiceField(label=_("Its current sub-units"), required=False)
    rank = forms.ModelChoiceField(Rank.objects.all(), label=_("New rank"))
    date = PartialDateFormField(label=_("Date of the change"))
    source = forms.ModelChoiceField(
        Source.objects.all(),
        required=False,
        widget=AutocompleteSelect(ChangeEvent._meta.get_field("source"), admin.site),
    )
    locator = _text(_("Where in the source"), 200, _("A section or page."), required=False)
    note = forms.CharField(required=False, strip=False, widget=forms.Textarea(attrs={"rows": 3}))
    event_id = _text(
        _("Event identifier"),
        100,
        _(
            "Empty: suggested from the first organization, the kind and the date, e.g. "
            "cppcc-go-research-office-moved-2000-03."
        ),
        required=False,
        validators=[identifier_validator],
    )

    def __init__(self, kind: str, *args, **kwargs):
        super().__init__(*args, **kwargs)
        wanted = ("kind", "shown", *KIND_FIELDS[kind], *EVENT_FIELDS)
        self.fields = {name: self.fields[name] for name in wanted}
        self.kind = kind
        if "sub_units" in self.fields:
            self.fields["sub_units"].choices = SUB_UNIT_CHOICES[kind]
            self.fields["sub_units"].initial = SUB_UNIT_CHOICES[kind][0][0]
        if kind == "split":
            self.fields["new_kind"].required = False
        if kind == "merge":
            self.fields["new_kind"].required = False
            self.fields["new_parent"].label = _("New organization's parent")
            self.fields["new_kind"].label = _("New organization's kind")

    def clean_organizations(self):
        chosen = self.cleaned_data["organizations"]
        # In the order picked: the first names the event.
        order = {pk: index for index, pk in enumerate(self.data.getlist("organizations"))}
        return sorted(chosen, key=lambda unit: order.get(unit.pk, len(order)))

    def clean_new_results(self):
        units = []
        for number, line in enumerate(self.cleaned_data["new_results"].splitlines(), 1):
            if not line.strip():
                continue
            pk, bar, name = line.partition("|")
            pk, name = pk.strip(), name.strip()
            if not bar or not pk or not name:
                raise ValidationError(
                    gettext("Line %(number)s: write “identifier | name”.") % {"number": number}
                )
            try:
                identifier_validator(pk)
            except ValidationError as error:
                raise ValidationError(
                    gettext("Line %(number)s: %(problem)s")
                    % {"number": number, "problem": error.messages[0]}
                ) from None
            units.append((pk, name))
        return units

    def clean(self):
        cleaned = super().clean()
        if self.kind == "merge" and not self.errors:
            new = bool(cleaned.get("new_id") or cleaned.get("new_name"))
            if new and cleaned.get("result"):
                self.add_error(
                    "result", _("Choose an existing organization or a new one, not both.")
                )
            elif not new and not cleaned.get("result"):
                self.add_error("result", _("Choose the organization they merge into."))
            elif new and not (cleaned.get("new_id") and cleaned.get("new_name")):
                self.add_error("new_name", _("A new organization needs an identifier and a name."))
            elif new and not cleaned.get("new_kind"):
                self.add_error("new_kind", _("A new organization needs a kind."))
            if len(cleaned.get("organizations", ())) < (2 if new else 1):
                self.add_error("organizations", _("Choose the organizations that merge."))
        if self.kind == "split" and cleaned.get("new_results") and not cleaned.get("new_kind"):
            self.add_error("new_kind", _("New organizations need a kind."))
        return cleaned

    def shown_states(self) -> dict[str, str]:
        """The state of each organization when the form was first shown (kept through
        re-shows), for the stale-form check."""
        states = {}
        for entry in (self.data.get("shown") or self.initial.get("shown") or "").split(";"):
            pk, _, digest = entry.partition("=")
            if pk and digest:
                states[pk] = digest
        return states

    def states_to_send(self) -> str:
        """`shown` for the page about to be rendered: the present state of each organization
        it shows (of those it was first shown with, when it is shown for the first time)."""
        # A form shown again (after a refusal) is a new showing: its organizations as they are
        # now, so that a form refused as stale can be checked and sent again.
        states = {} if self.is_bound else self.shown_states()
        pks = set()
        for name in (
            "organization",
            "organizations",
            "parent",
            "result",
            "results",
            "successor",
            "new_parent",
        ):
            if name not in self.fields:
                continue
            value = self[name].value()
            values = value if isinstance(value, list | tuple) else [value]
            pks |= {str(v) for v in values if v}
        fresh = reforms.organization_states(
            Organization.objects.filter(pk__in=pks - set(states)).only("pk")
        )
        return ";".join(f"{pk}={digest}" for pk, digest in (states | fresh).items())

    def record(self, user) -> ChangeEvent:
        """Write the reform through its service; a refusal raises ValidationError."""
        data = self.cleaned_data
        common = {
            "date": data["date"],
            "source": data.get("source"),
            "locator": data.get("locator", ""),
            "note": data.get("note", ""),
            "event_id": data.get("event_id") or None,
            "shown": self.shown_states(),
            "user": user,
        }
        unit = data.get("organization")
        if self.kind == "move":
            return reforms.reform_move(organization=unit, parent=data["parent"], **common)
        if self.kind == "rename":
            return reforms.reform_rename(organization=unit, name=data["name"], **common)
        if self.kind == "rank":
            return reforms.reform_rank_change(organization=unit, rank=data["rank"], **common)
        if self.kind == "abolish":
            return reforms.reform_abolish(
                organization=unit,
                successor=data.get("successor"),
                sub_units=data.get("sub_units") or None,
                **common,
            )
        if self.kind == "merge":
            new = None
            if data.get("new_id"):
                new = reforms.NewUnit(
                    id=data["new_id"],
                    name=data["new_name"],
                    parent=data.get("new_parent"),
                    kind=data["new_kind"],
                    rank=data.get("new_rank"),
                )
            return reforms.reform_merge(
                organizations=data["organizations"],
                result=data.get("result"),
                new_result=new,
                sub_units=data.get("sub_units") or reforms.SUB_UNITS_MOVE,
                **common,
            )
        return reforms.reform_split(
            organization=unit,
            results=list(data.get("results") or ()),
            new_results=[
                reforms.NewUnit(
                    id=pk, name=name, parent=data.get("new_parent"), kind=data["new_kind"]
                )
                for pk, name in data.get("new_results") or ()
            ],
            continues=data.get("continues", False),
            sub_units_to=data.get("sub_units_to", ""),
            **common,
        )

    def add_refusal(self, refusal: ValidationError) -> None:
        """Show a service's refusal on the fields it names (on the form when it names none
        of them)."""
        if not hasattr(refusal, "error_dict"):
            self.add_error(None, refusal)
            return
        for field, errors in refusal.error_dict.items():
            self.add_error(field if field in self.fields else None, errors)


def _event_link(event: ChangeEvent) -> str:
    admin_url = reverse("admin:registry_changeevent_change", args=[quote(event.pk)])
    return format_html('<a href="{}">{}</a>', admin_url, event.pk)


def _check_permissions(request: HttpRequest, *perms: str) -> None:
    if not request.user.has_perms(perms):
        raise PermissionDenied


def record_view(model_admin, request: HttpRequest) -> HttpResponse:
    """admin/registry/changeevent/record/: choose a kind, then fill in its form."""
    _check_permissions(request, "registry.add_changeevent", "registry.change_organization")
    kind = request.POST.get("kind") or request.GET.get("kind")
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": ChangeEvent._meta,
        "title": _("Record a change"),
        "kinds": KINDS,
        "prefill": request.GET.get("organization", ""),
    }
    if kind not in KINDS:
        return TemplateResponse(request, "admin/registry/changeevent/record.html", context)
    if request.method == "POST":
        form = ReformForm(kind, request.POST)
        if form.is_valid():
            try:
                event = form.record(request.user)
            except ValidationError as refusal:
                form.add_refusal(refusal)
            else:
                model_admin.log_addition(request, event, [{"added": {}}])
                messages.success(
                    request,
                    format_html(
                        gettext(
                            "Recorded the change {} ({}): every dated record it implies was "
                            'written. <a href="{}">See it on the public site</a>.'
                        ),
                        _event_link(event),
                        event,
                        event.get_absolute_url(),
                    ),
                )
                return redirect("admin:registry_changeevent_change", quote(event.pk))
    else:
        initial = {"kind": kind}
        prefill = Organization.objects.filter(pk=request.GET.get("organization", "")).first()
        if prefill is not None:
            initial["organizations" if kind == "merge" else "organization"] = (
                [prefill.pk] if kind == "merge" else prefill.pk
            )
        form = ReformForm(kind, initial=initial)
    form.fields["shown"].initial = form.states_to_send()
    if form.is_bound:
        form.data = form.data.copy()
        form.data["shown"] = form.fields["shown"].initial
    context |= {
        "form": form,
        "kind": kind,
        "kind_label": KINDS[kind],
        "media": model_admin.media + form.media,
        "title": KINDS[kind],
    }
    return TemplateResponse(request, "admin/registry/changeevent/record.html", context)


class DateCorrectionForm(forms.Form):
    date = PartialDateFormField(label=_("Correct date"))
    shown_date = forms.CharField(required=False, widget=forms.HiddenInput)


def correct_date_view(model_admin, request: HttpRequest, object_id: str) -> HttpResponse:
    """admin/registry/changeevent/<id>/date/: give an event a corrected date, moving every date
    it wrote with it (`reforms.event_date_correct`)."""
    _check_permissions(request, "registry.change_changeevent", "registry.change_organization")
    event = get_object_or_404(ChangeEvent, pk=object_id)
    if request.method == "POST":
        form = DateCorrectionForm(request.POST)
        if form.is_valid():
            try:
                changes = reforms.event_date_correct(
                    event=event,
                    date=form.cleaned_data["date"],
                    shown_date=form.cleaned_data["shown_date"],
                    user=request.user,
                )
            except ValidationError as refusal:
                for field, errors in getattr(refusal, "error_dict", {None: [refusal]}).items():
                    form.add_error(field if field in form.fields else None, errors)
            else:
                model_admin.log_change(request, event, [{"changed": {"fields": ["date"]}}])
                event.refresh_from_db()
                messages.success(
                    request,
                    format_html(
                        gettext("The date of {} is now {}{}"),
                        _event_link(event),
                        event.date,
                        gettext("; also changed: %(changes)s.") % {"changes": ", ".join(changes)}
                        if changes
                        else ".",
                    ),
                )
                return redirect("admin:registry_changeevent_change", quote(event.pk))
    else:
        shown = str(event.date or "")
        form = DateCorrectionForm(initial={"date": event.date, "shown_date": shown})
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": ChangeEvent._meta,
        "original": event,
        "title": gettext("Correct the date of %(event)s") % {"event": event.pk},
        "form": form,
        "written": {
            "placements": event.placements.select_related("organization", "parent"),
            "successions": event.successions.select_related("predecessor", "successor"),
        },
    }
    return TemplateResponse(request, "admin/registry/changeevent/correct_date.html", context)
