"""Atom feeds of structural changes in the world (valid time), newest first: the whole
registry at /changes.atom and one organization's subtree at /organizations/<id>/changes.atom,
so readers can subscribe to reforms. An entry is a change of /changes/ (established, abolished,
renamed, moved, merged, split, functions transferred, rank changed), dated as the registry
knows it; appointments are left to the pages."""

from __future__ import annotations

import copy
import datetime

from django.contrib.syndication.views import Feed
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.feedgenerator import Atom1Feed
from django.utils.http import urlencode
from django.utils.translation import gettext, gettext_lazy

from .changes import KINDS, Change, recent_changes
from .models import Organization
from .text import xml_text

FEED_ENTRIES = 50
_LABELS = {kind.code: kind.label for kind in KINDS}


class ChangesFeed(Feed):
    feed_type = Atom1Feed
    title = gettext_lazy("Changes in the Registry of Government Organizations")
    subtitle = gettext_lazy(
        "Units established, abolished, renamed, moved, merged or split, newest first, dated "
        "as they happened in the world."
    )

    def __call__(self, request, *args, **kwargs):
        # A copy per request, which knows the request: entry ids are absolute IRIs (Atom
        # requires it), and the one feed object serves every thread.
        feed = copy.copy(self)
        feed.request = request
        return Feed.__call__(feed, request, *args, **kwargs)

    def link(self, root: Organization | None = None) -> str:
        return reverse("registry:changes")

    def items(self, root: Organization | None = None) -> list[Change]:
        return recent_changes(root, by=datetime.date.today(), limit=FEED_ENTRIES)

    # Names may hold characters XML cannot carry (they are kept as curators gave them): the
    # feed shows those as U+FFFD rather than failing.
    def item_title(self, change: Change) -> str:
        return xml_text(
            gettext("%(kind)s: %(name)s")
            % {"kind": gettext(_LABELS[change.kind]), "name": change.unit.name}
        )

    def item_description(self, change: Change) -> str:
        parts = [gettext("%(date)s.") % {"date": change.date.display()}, change.detail]
        if change.related:
            names = ", ".join(unit.name for unit in change.related)
            parts.append(gettext("With: %(names)s.") % {"names": names})
        if change.source:
            parts.append(gettext("Source: %(source)s.") % {"source": change.source})
        return xml_text(" ".join(part for part in parts if part))

    def item_link(self, change: Change) -> str:
        # The unit as it stood in the period of the change (an abolished one still exists then).
        page = reverse("registry:organization", kwargs={"pk": change.unit.id})
        return f"{page}?{urlencode({'on': str(change.date)})}"

    def item_guid(self, change: Change) -> str:
        return self.request.build_absolute_uri(f"{self.item_link(change)}#{change.kind}")

    item_guid_is_permalink = False

    def item_updateddate(self, change: Change) -> datetime.datetime:
        return datetime.datetime.combine(change.date.earliest, datetime.time(), datetime.UTC)

    item_pubdate = item_updateddate


class OrganizationChangesFeed(ChangesFeed):
    def get_object(self, request, pk: str) -> Organization:
        return get_object_or_404(Organization, pk=pk)

    def title(self, root: Organization) -> str:
        return xml_text(gettext("Changes in %(name)s and its units") % {"name": root.name})

    def link(self, root: Organization) -> str:
        return f"{reverse('registry:changes')}?{urlencode({'root': root.pk})}"
