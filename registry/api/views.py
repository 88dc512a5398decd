"""The read-only JSON API (`/api/v1/`): organizations, persons, posts and memberships.

Every endpoint is a public page as far as HTTP goes (registry/caching.py): the registry's ETag
and 304, the render cache, a CDN's `s-maxage`, GET/HEAD/OPTIONS only. Before any of that, each
client (by address) is held to `API_RATE_LIMIT` requests: a cached answer costs little, but an
unlimited client still costs the server its work.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db.models import Prefetch, Q
from django.http import JsonResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import generics, serializers
from rest_framework.request import Request as DRFRequest
from rest_framework.response import Response
from rest_framework.throttling import SimpleRateThrottle
from reversion.models import Version

from .. import validtime
from ..caching import public_page
from ..models import Citation, Holding, Kind, Organization, Person, Post, Rank, Succession
from ..views import _clean_query
from . import linked
from .pagination import (
    MAX_LIMIT,
    IdCursorPagination,
    decode_after,
    limit_of,
    next_page_response,
)
from .parameters import PAGING, TEXT_MAX_LENGTH, BadParameter, Parameters
from .serializers import (
    BadParameterSerializer,
    MembershipSerializer,
    NotFoundSerializer,
    OrganizationSerializer,
    PersonSerializer,
    PostSerializer,
    RateLimitedSerializer,
    SubtreeOrganizationSerializer,
)


def documented(serializer, parameters=(), *, record: bool = False):
    """The OpenAPI operation of an endpoint: its documents, parameters and every error it
    answers with (a list's 200 is its page of documents)."""
    responses = {200: serializer, 400: BadParameterSerializer, 429: RateLimitedSerializer}
    if record:
        responses[404] = NotFoundSerializer
    return extend_schema(parameters=list(parameters), responses=responses)


LINKED_DATA = "application/ld+json"
UNICODE = {"ensure_ascii": False}


class ClientRateThrottle(SimpleRateThrottle):
    """`API_RATE_LIMIT` requests per client address (behind the proxies of `PROXY_COUNT`), kept
    in the default cache: in production the shared Redis, so every worker counts together."""

    scope = "api"

    def get_rate(self) -> str:
        return settings.API_RATE_LIMIT

    def get_cache_key(self, request, view) -> str:
        # Not by user: reading the user would read the session, and a response that did so
        # could no longer be kept by a shared cache.
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


def api_endpoint(view: Callable, *, subject=None) -> Callable:
    """`view` as a public page, behind the per-client rate limit."""
    served = public_page(view, subject=subject)

    @wraps(served)
    def limited(request, *args, **kwargs):
        throttle = ClientRateThrottle()
        if not throttle.allow_request(request, None):
            wait = throttle.wait()
            response = JsonResponse(
                {
                    "error": "rate_limited",
                    "message": f"More than {settings.API_RATE_LIMIT} requests; "
                    "wait and try again, or fetch the bulk downloads.",
                },
                status=429,
            )
            if wait is not None:
                response["Retry-After"] = str(max(1, round(wait)))
            return response
        return served(request, *args, **kwargs)

    return limited


def organization_linked_data(request, pk: str) -> JsonResponse:
    """The organization as JSON-LD (api.linked)."""
    if refused := _refused_parameters(request):
        return refused
    organization = _organizations().filter(pk=pk).first()
    if organization is None:
        return not_found(request, message=f"No organization has the id {pk!r}.")
    document = linked.organization_document(
        request,
        organization,
        predecessors=[link.predecessor_id for link in organization.prefetched_predecessors],
        successors=[link.successor_id for link in organization.prefetched_successors],
        identifiers=_identifiers_of(organization),
    )
    return JsonResponse(document, content_type=LINKED_DATA, json_dumps_params=UNICODE)


def person_linked_data(request, pk: str) -> JsonResponse:
    """The person as JSON-LD (api.linked)."""
    if refused := _refused_parameters(request):
        return refused
    person = _persons().filter(pk=pk).first()
    if person is None:
        return not_found(request, message=f"No person has the id {pk!r}.")
    document = linked.person_document(request, person, identifiers=_identifiers_of(person))
    return JsonResponse(document, content_type=LINKED_DATA, json_dumps_params=UNICODE)


def _refused_parameters(request) -> JsonResponse | None:
    """A JSON-LD document takes no parameter: the 400 of any given, as the API's views give."""
    try:
        Parameters(DRFRequest(request), ())
    except BadParameter as error:
        return JsonResponse(error.detail, status=error.status_code)
    return None


def _identifiers_of(record) -> list:
    return record.prefetched_identifiers


def not_found(request, *args, message: str = "No such address in this API.", **kwargs):
    return JsonResponse({"detail": message}, status=404)


def _organizations():
    """Everything an organization document shows, in a fixed number of queries a page."""
    # Lists (to_attr), not related managers: a manager per organization and relation costs
    # more than the rows.
    return Organization.objects.with_labels().prefetch_related(
        Prefetch(
            "citations",
            queryset=Citation.objects.select_related("source"),
            to_attr="prefetched_citations",
        ),
        Prefetch(
            "predecessor_links",
            queryset=Succession.objects.order_by("pk"),
            to_attr="prefetched_predecessors",
        ),
        Prefetch(
            "successor_links",
            queryset=Succession.objects.order_by("pk"),
            to_attr="prefetched_successors",
        ),
        Prefetch("identifiers", to_attr="prefetched_identifiers"),
    )


def _persons():
    """Everything a person document shows, in a fixed number of queries a page."""
    return Person.objects.prefetch_related(
        "sources", Prefetch("identifiers", to_attr="prefetched_identifiers")
    )


def _updated_since(model, moment) -> Q:
    """Records saved (with what they own) at or after `moment`, from the change history: every
    write path records a version of what it changed."""
    versions = Version.objects.filter(
        content_type=ContentType.objects.get_for_model(model),
        revision__date_created__gte=moment,
    ).values("object_id")
    return Q(pk__in=versions)


def _organization_subject(request, pk):
    return Organization.objects.filter(pk=pk)


class DatedListMixin:
    """Organization documents as on `?on=`: names, parents and ranks of that time."""

    on = None

    def get_serializer_context(self):
        context = super().get_serializer_context()
        context["on"] = self.on
        return context

    def dated_context(self, organizations: list[Organization]) -> dict:
        if self.on is None:
            return {}
        ids = [o.pk for o in organizations]
        ranks = validtime.ranks_on(self.on, among=ids)
        by_code = Rank.objects.in_bulk([code for code in ranks.values() if code])
        return {
            "parents_then": validtime.parents_on(self.on, among=ids),
            "ranks_then": {pk: by_code.get(code) for pk, code in ranks.items()},
        }

    def get_serializer(self, *args, **kwargs):
        if args and isinstance(args[0], list):
            kwargs.setdefault("context", self.get_serializer_context())
            kwargs["context"].update(self.dated_context(args[0]))
        return super().get_serializer(*args, **kwargs)


ON = OpenApiParameter(
    "on",
    str,
    description="The registry as on this date (YYYY, YYYY-MM or YYYY-MM-DD): only units "
    "that existed then, with their names, parents and ranks of then.",
    pattern=r"^[0-9]{4}(-[0-9]{2}){0,2}$",
)
# A text parameter as `Parameters.text` takes it.
TEXT = {"type": "string", "minLength": 1, "maxLength": TEXT_MAX_LENGTH}
ORGANIZATION_FILTERS = [
    OpenApiParameter("kind", TEXT, description="Only units of this kind (its code)."),
    OpenApiParameter("rank", TEXT, description="Only units of this rank (its code)."),
    OpenApiParameter("parent", TEXT, description="Only the units directly under this one."),
    OpenApiParameter(
        "root",
        TEXT,
        description="Only this unit and the units below it (not with `on`: use the subtree).",
    ),
    OpenApiParameter(
        "q",
        TEXT,
        description="Units with a name (English, Chinese, other names) containing this text, "
        "or its pinyin (with or without tones and spaces, or initials).",
    ),
    ON,
    OpenApiParameter(
        "updated_since",
        TEXT,
        description="Only units saved (with what they own) at or after this ISO 8601 date "
        "or time.",
    ),
]


class OrganizationList(DatedListMixin, generics.ListAPIView):
    """Organizations, in the order of their ids."""

    serializer_class = OrganizationSerializer
    pagination_class = IdCursorPagination

    @documented(OrganizationSerializer, ORGANIZATION_FILTERS)
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        names = ("kind", "rank", "parent", "root", "q", "on", "updated_since", *PAGING)
        given = Parameters(self.request, names)
        self.on = on = given.on()
        organizations = _organizations()
        if kind := given.record("kind", Kind.objects.all(), "kind"):
            organizations = organizations.filter(kind=kind)
        if rank := given.record("rank", Rank.objects.all(), "rank"):
            organizations = organizations.filter(_ranked(rank, on))
        if parent := given.record("parent", Organization.objects.all(), "organization"):
            organizations = organizations.filter(_children(parent, on))
        if root := given.record("root", Organization.objects.all(), "organization"):
            if on is not None:
                raise BadParameter(
                    "root",
                    "Not with `on`: the units under a unit on a date are its subtree "
                    f"(/api/v1/organizations/{root.pk}/subtree/?on={on}).",
                )
            organizations = organizations.subtree(root)
        if (text := given.text("q")) is not None:
            organizations = organizations.matching(_clean_query(text))
        if on is not None:
            organizations = organizations.filter(on.existing())
        if since := given.moment("updated_since"):
            organizations = organizations.filter(_updated_since(Organization, since))
        limit_of(self.request)
        return organizations


def _ranked(rank: Rank, on) -> Q:
    """Units of `rank` (on `on`: the rank they had then)."""
    if on is None:
        return Q(rank=rank)
    then = validtime.ranks_on(on)
    return (Q(rank=rank) & ~Q(pk__in=list(then))) | Q(
        pk__in=[pk for pk, code in then.items() if code == rank.pk]
    )


def _children(parent: Organization, on) -> Q:
    """The units directly under `parent` (on `on`: those under it then)."""
    if on is None:
        return Q(parent=parent)
    moved = validtime.parents_on(on)
    return (Q(parent=parent) & ~Q(pk__in=list(moved))) | Q(
        pk__in=[pk for pk, then in moved.items() if then == parent.pk]
    )


class OrganizationDetail(DatedListMixin, generics.RetrieveAPIView):
    serializer_class = OrganizationSerializer

    @documented(OrganizationSerializer, [ON], record=True)
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        self.on = Parameters(self.request, ("on",)).on()
        return _organizations()

    def retrieve(self, request, *args, **kwargs):
        organization = self.get_object()
        context = self.get_serializer_context()
        context.update(self.dated_context([organization]))
        return Response(OrganizationSerializer(organization, context=context).data)


class OrganizationSubtree(DatedListMixin, generics.GenericAPIView):
    """An organization and every unit below it, in tree order (depth first, siblings in their
    order); on `?on=`, the structure as it stood then."""

    serializer_class = SubtreeOrganizationSerializer

    @extend_schema(
        parameters=[
            ON,
            OpenApiParameter("cursor", str, description="The `next` address's cursor."),
            OpenApiParameter(
                "limit",
                {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
                description="Units per page (1 to 1000; 100).",
            ),
        ],
        responses={
            200: inline_serializer(
                "SubtreePage",
                {
                    "next": serializers.URLField(allow_null=True),
                    "previous": serializers.URLField(allow_null=True),
                    "results": SubtreeOrganizationSerializer(many=True),
                },
            ),
            400: BadParameterSerializer,
            404: NotFoundSerializer,
            429: RateLimitedSerializer,
        },
    )
    def get(self, request, pk: str):
        given = Parameters(request, ("on", *PAGING))
        self.on = on = given.on()
        limit = limit_of(request)
        after = decode_after(request)
        root = generics.get_object_or_404(Organization.objects.all(), pk=pk)
        if on is None:
            rows, depths = self._today(root, after, limit + 1)
        else:
            rows, depths = self._then(root, after, limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        context = self.get_serializer_context()
        context.update(self.dated_context(rows), depths=depths)
        results = SubtreeOrganizationSerializer(rows, many=True, context=context).data
        return next_page_response(request, results, rows[-1].pk if more else None)

    def _after(self, root, after):
        if after is None:
            return None
        unit = Organization.objects.subtree(root).filter(pk=after).first()
        if unit is None:
            raise BadParameter(
                "cursor",
                "The unit this cursor continues after is no longer in this subtree "
                "(moved or deleted since): start again without a cursor.",
            )
        return unit

    def _today(self, root, after, count):
        start = self._after(root, after)
        units = _organizations().subtree(root).in_tree_order()
        if start is not None:
            units = units.filter(lft__gt=start.lft)
        rows = list(units[:count])
        return rows, {unit.pk: unit.level - root.level for unit in rows}

    def _then(self, root, after, count):
        if not validtime.exists_on(root, self.on):
            raise BadParameter("on", f"{root.pk} did not exist on {self.on}.")
        structure = validtime.structure_on(root, self.on, lambda units: units)
        depths = _depths(structure)
        order = [root.pk, *(node.pk for node in structure.nodes)]
        if after is not None:
            if after not in order:
                raise BadParameter(
                    "cursor",
                    "The unit this cursor continues after is not in this subtree on that date: "
                    "start again without a cursor.",
                )
            order = order[order.index(after) + 1 :]
        chosen = order[:count]
        found = _organizations().in_bulk(chosen)
        return [found[pk] for pk in chosen if pk in found], depths


def _depths(structure) -> dict[str, int]:
    """Each unit's levels below the structure's root (the root: 0)."""
    depths, stack = {}, [(structure.root.pk, 0)]
    while stack:
        pk, depth = stack.pop()
        depths[pk] = depth
        stack.extend((child.pk, depth + 1) for child in structure.children.get(pk, ()))
    return depths


# --- People, posts, memberships ----------------------------------------------------------


class PersonList(generics.ListAPIView):
    """People, in the order of their ids."""

    serializer_class = PersonSerializer
    pagination_class = IdCursorPagination

    @documented(
        PersonSerializer,
        [
            OpenApiParameter(
                "q", TEXT, description="People whose name (English, Chinese or pinyin) matches."
            ),
            OpenApiParameter(
                "updated_since",
                TEXT,
                description="Only people saved at or after this ISO 8601 date or time.",
            ),
        ],
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        given = Parameters(self.request, ("q", "updated_since", *PAGING))
        people = _persons()
        if (text := given.text("q")) is not None:
            people = people.matching(_clean_query(text))
        if since := given.moment("updated_since"):
            people = people.filter(_updated_since(Person, since))
        limit_of(self.request)
        return people


class PersonDetail(generics.RetrieveAPIView):
    serializer_class = PersonSerializer

    @documented(PersonSerializer, record=True)
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        Parameters(self.request, ())
        return _persons()


def _posts():
    return Post.objects.all()


class PostList(generics.ListAPIView):
    """Posts, in the order of their ids."""

    serializer_class = PostSerializer
    pagination_class = IdCursorPagination

    @documented(
        PostSerializer,
        [OpenApiParameter("organization", TEXT, description="Only this organization's posts.")],
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        given = Parameters(self.request, ("organization", *PAGING))
        posts = _posts()
        if organization := given.record(
            "organization", Organization.objects.all(), "organization"
        ):
            posts = posts.filter(organization=organization)
        limit_of(self.request)
        return posts


class PostDetail(generics.RetrieveAPIView):
    serializer_class = PostSerializer

    @documented(PostSerializer, record=True)
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        Parameters(self.request, ())
        return _posts()


def _memberships():
    return Holding.objects.select_related("post__organization")


class MembershipList(generics.ListAPIView):
    """Memberships (who holds which post), in the order of their ids."""

    serializer_class = MembershipSerializer
    pagination_class = IdCursorPagination

    @documented(
        MembershipSerializer,
        [
            OpenApiParameter("person", TEXT, description="Only this person's memberships."),
            OpenApiParameter("post", int, description="Only the memberships of this post."),
            OpenApiParameter(
                "organization", TEXT, description="Only memberships of this organization's posts."
            ),
            OpenApiParameter(
                "on",
                str,
                description="Only memberships that may have run on this date (undated ones "
                "included).",
                pattern=r"^[0-9]{4}(-[0-9]{2}){0,2}$",
            ),
        ],
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        given = Parameters(self.request, ("person", "post", "organization", "on", *PAGING))
        holdings = _memberships()
        if person := given.record("person", Person.objects.all(), "person"):
            holdings = holdings.filter(person=person)
        if (post := given.number("post")) is not None:
            if not Post.objects.filter(pk=post).exists():
                raise BadParameter("post", f"No post has the id {post}.")
            holdings = holdings.filter(post=post)
        if organization := given.record(
            "organization", Organization.objects.all(), "organization"
        ):
            holdings = holdings.filter(post__organization=organization)
        if (on := given.on()) is not None:
            holdings = holdings.filter(
                (Q(start="") | Q(start__lte=on.last.isoformat()))
                & (Q(end="") | Q(end__gte=str(on.date)[:4]))
            )
            self.on = on
        limit_of(self.request)
        return holdings

    def paginate_queryset(self, queryset):
        page = super().paginate_queryset(queryset)
        on = getattr(self, "on", None)
        # The database narrows by text; the exact rule (partial dates' whole periods) is here.
        return page if on is None else [h for h in page if on.overlaps(h.start, h.end)]


class MembershipDetail(generics.RetrieveAPIView):
    serializer_class = MembershipSerializer

    @documented(MembershipSerializer, record=True)
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        Parameters(self.request, ())
        return _memberships()


# What reads each kind of document, for whoever serves the API's documents in bulk (the
# downloads, registry/downloads.py): the same querysets and serializers as the endpoints.
DOCUMENTS = {
    "organizations": (_organizations, OrganizationSerializer),
    "persons": (_persons, PersonSerializer),
    "posts": (_posts, PostSerializer),
    "memberships": (_memberships, MembershipSerializer),
}
