"""Bulk downloads: the whole registry in a few files at stable addresses under /downloads/.

- `registry.popolo.json.gz`: one JSON object, `{"meta": ..., "organizations": [...],
  "persons": [...], "posts": [...], "memberships": [...]}`, whose documents are the JSON API's
  own (the same querysets and serializers, registry/api/), organizations in tree order, the
  others in id order;
- `registry.csv.zip`: `organizations.csv`, `posts.csv`, `placements.csv` and `events.csv`, each
  byte for byte the site's CSV download of the whole registry;
- `manifest.json`: the registry's version (the change stamp's) and when it changed, when the
  files were built, the count of each kind of record, and each file's name, size and SHA-256;
- `SHA256SUMS`: the checksums of the three others, as `sha256sum -c` reads them.

A build is a directory of these four files under `DOWNLOADS_ROOT`, named by the registry's
edition (the change stamp's version and time, and the deployed code: a deploy that changes a
document's shape is a new edition) and by the origin its absolute addresses name. A request
serves the build of the registry as it is now: when there is none yet, it builds it, one
builder at a time (an exclusive `flock` on a file beside the builds; the others wait and then
serve what it built). A build reads one snapshot of the database (so its counts, files and
version agree while curators write), is written under a temporary name and renamed when whole
(no one ever reads a half file), and then removes every build of an older edition. Files
already opened by a request stay readable after their build is removed (POSIX unlink).

Memory stays flat at any size: documents are read, serialized and compressed a page at a time,
and each CSV file is written into the zip line by line as the export streams it.
"""

from __future__ import annotations

import datetime
import fcntl
import gc
import gzip
import hashlib
import json
import os
import shutil
import threading
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings
from django.db.models import QuerySet
from django.http import FileResponse, Http404, HttpRequest, HttpResponseBase
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.cache import get_conditional_response
from django.utils.encoding import iri_to_uri

from .caching import Stamp, code_fingerprint, public_resource, registry_stamp
from .csvcodec import csv_lines
from .database import change_stamp_read, read_only_snapshot
from .exports import event_rows, organization_rows, placement_rows, post_rows
from .models import Organization

POPOLO = "registry.popolo.json.gz"
CSV_ZIP = "registry.csv.zip"
MANIFEST = "manifest.json"
SHA256SUMS = "SHA256SUMS"
# Each file, with its media type and whether a browser should save it rather than show it.
FILES = {
    POPOLO: ("application/gzip", True),
    CSV_ZIP: ("application/zip", True),
    MANIFEST: ("application/json", False),
    SHA256SUMS: ("text/plain; charset=utf-8", False),
}
# The zip's entries, each the whole registry's CSV download of that name.
CSV_FILES: dict[str, Callable[[], Iterator[list[str]]]] = {
    "organizations.csv": organization_rows,
    "posts.csv": post_rows,
    "placements.csv": placement_rows,
    "events.csv": event_rows,
}
# The record types a manifest counts: the Popolo documents', then the CSV-only ones'.
COUNTED_IN_CSV = {"placements": "placements.csv", "events": "events.csv"}

# Documents per page: each page is read with its prefetches, serialized and compressed before
# the next is read.
CHUNK = 2000
# CSV lines per write into the zip.
_LINES_PER_WRITE = 1000
_LOCK_FILE = ".lock"
_TEMPORARY = ".building-"
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False)


def downloads_root() -> Path:
    return Path(settings.DOWNLOADS_ROOT)


def origin_of(request: HttpRequest) -> str:
    """The scheme and host a request's absolute addresses start with."""
    return f"{request.scheme}://{request.get_host()}"


class Addresses:
    """What the API's serializers ask of a request: absolute addresses, here on `origin`
    (`https://host[:port]`), as `HttpRequest.build_absolute_uri` makes them for an absolute
    path. A build made by `build_downloads` is then the same as one made by a request."""

    def __init__(self, origin: str):
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path.strip("/"):
            raise ValueError(f"Not an origin (scheme and host only): {origin!r}")
        self.origin = f"{parts.scheme}://{parts.netloc}"

    def build_absolute_uri(self, location: str) -> str:
        return iri_to_uri(self.origin + location)


def _edition(stamp: Stamp) -> str:
    """The registry's state and the code's, as the start of a build's name: a recreated stamp
    counting from 1 again, or a deploy, is a new edition."""
    changed = stamp.changed.astimezone(datetime.UTC).isoformat()
    token = hashlib.sha256(f"{stamp.version}|{changed}|{code_fingerprint()}".encode())
    return f"{stamp.version}-{token.hexdigest()[:12]}"


def _build_name(stamp: Stamp, origin: str) -> str:
    return f"{_edition(stamp)}-{hashlib.sha256(origin.encode()).hexdigest()[:12]}"


@dataclass(frozen=True)
class Build:
    """One finished build: a directory holding every file of `FILES`."""

    path: Path
    version: int

    def file(self, name: str) -> Path:
        return self.path / name

    def sha256(self, name: str) -> str:
        """A file's SHA-256, from SHA256SUMS (which is hashed itself: it is small)."""
        sums = self.file(SHA256SUMS).read_bytes()
        if name == SHA256SUMS:
            return hashlib.sha256(sums).hexdigest()
        for line in sums.decode().splitlines():
            digest, listed = line.split("  ", 1)
            if listed == name:
                return digest
        raise KeyError(name)


def _stamp_now() -> Stamp:
    version, changed, *_ = change_stamp_read()
    if version is None:  # no stamp row (after a flush) until the next write recreates it
        return Stamp(0, datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC))
    return Stamp.read(version, changed)


def existing_build(stamp: Stamp, origin: str) -> Build | None:
    path = downloads_root() / _build_name(stamp, origin)
    return Build(path, stamp.version) if path.is_dir() else None


@contextmanager
def builder_lock(root: Path) -> Iterator[None]:
    """Hold the one builder's place for `root`'s builds: other processes and threads wait."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / _LOCK_FILE, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def build(origin: str) -> Build:
    """The build of the registry as it is now, with addresses on `origin`: the one already
    made, or one made now. One builder at a time; the snapshot starts once this one holds the
    lock, so it sees every build and every write committed before."""
    root = downloads_root()
    with (
        builder_lock(root),
        translation.override(settings.LANGUAGE_CODE),  # unprefixed page addresses
        read_only_snapshot(),
    ):
        stamp = _stamp_now()
        path = root / _build_name(stamp, origin)
        if not path.is_dir():
            _write_build(path, stamp, origin)
        _remove_older(root, keep=_edition(stamp))
    return Build(path, stamp.version)


def current_build(origin: str, stamp: Stamp | None) -> Build:
    """The build for a request that read `stamp`: found without a lock when it exists."""
    found = existing_build(stamp, origin) if stamp is not None else None
    return found or build(origin)


def _remove_older(root: Path, *, keep: str) -> None:
    """Remove every build of another edition than `keep`, and what a crashed builder left
    (only one builder runs, and it holds the lock)."""
    for entry in root.iterdir():
        if entry.is_dir() and not entry.name.startswith(f"{keep}-"):
            shutil.rmtree(entry, ignore_errors=True)


def _write_build(path: Path, stamp: Stamp, origin: str) -> None:
    temporary = path.parent / f"{_TEMPORARY}{path.name}-{os.getpid()}-{threading.get_ident()}"
    temporary.mkdir()
    try:
        built = timezone.now().replace(microsecond=0)
        registry = {
            "version": stamp.version,
            "changed": stamp.changed.astimezone(datetime.UTC).isoformat(),
        }
        meta = {"registry": registry, "built": built.isoformat(), "origin": origin}
        counts = _write_popolo(temporary / POPOLO, meta, Addresses(origin))
        rows = _write_csv_zip(temporary / CSV_ZIP, built)
        for record, name in COUNTED_IN_CSV.items():
            counts[record] = rows[name]
        described = [
            _described(temporary / POPOLO, origin),
            _described(temporary / CSV_ZIP, origin)
            | {"entries": [{"name": name, "rows": rows[name]} for name in CSV_FILES]},
        ]
        manifest = {
            "registry": registry,
            "built": built.isoformat(),
            "counts": counts,
            "files": described,
        }
        (temporary / MANIFEST).write_text(
            json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
        )
        sums = [(f["sha256"], f["name"]) for f in described]
        sums.append((_sha256(temporary / MANIFEST), MANIFEST))
        (temporary / SHA256SUMS).write_text(
            "".join(f"{digest}  {name}\n" for digest, name in sums), encoding="utf-8"
        )
        os.rename(temporary, path)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while block := stream.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _described(path: Path, origin: str) -> dict:
    return {
        "name": path.name,
        "url": Addresses(origin).build_absolute_uri(reverse("download", args=[path.name])),
        "media_type": FILES[path.name][0],
        "size": path.stat().st_size,
        "sha256": _sha256(path),
    }


# --- The Popolo dump ----------------------------------------------------------------------


def _organization_pages(read: Callable[[], QuerySet]) -> Iterator[list]:
    """Every organization, in tree order, a page at a time."""
    for page in Organization.objects.pages(size=CHUNK):
        units = list(read().filter(**page.lookups()).in_tree_order())
        if units:
            yield units


def _pages_by_id(read: Callable[[], QuerySet]) -> Iterator[list]:
    """Every record `read()` gives, in id order (the API's lists' order), a page at a time."""
    last = None
    while True:
        records = read().order_by("pk")
        if last is not None:
            records = records.filter(pk__gt=last)
        page = list(records[:CHUNK])
        if not page:
            return
        last = page[-1].pk
        yield page


def _documents(request: Addresses) -> Iterator[tuple[str, Iterator[list[dict]]]]:
    """(key, pages of documents) for each kind of document of the API."""
    from .api.views import DOCUMENTS  # the API's module reads the site's views

    for key, (read, serializer) in DOCUMENTS.items():
        pages = _organization_pages(read) if key == "organizations" else _pages_by_id(read)
        yield key, _serialized(pages, serializer(context={"request": request}))


def _serialized(pages: Iterator[list], serializer) -> Iterator[list[dict]]:
    """Each page's documents, as the API's lists make them (`ListSerializer` calls its child's
    `to_representation` for each record). One serializer serves every page: a list
    serializer per page, its child and the list it returns refer to each other, and so do
    records and what was prefetched for them. Such cycles outlive their page until the cycle
    collector's rare full collection, and memory then grew with the registry (1.6 times the
    peak for 4 times the organizations); collecting after each page keeps it flat, and costs
    little as `_young_objects_collected` leaves the rest of the process out of it."""
    for page in pages:
        yield [serializer.to_representation(record) for record in page]
        del page
        gc.collect()


@contextmanager
def _young_objects_collected() -> Iterator[None]:
    """Leave every object that exists now out of the cycle collector's work until the end: a
    full collection then reads only what the build made since (one page's worth), not the
    whole process (0.2 s each, measured, most of a dump's time at 2,000 organizations)."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _write_popolo(path: Path, meta: dict, request: Addresses) -> dict[str, int]:
    """Write the dump, a page of documents at a time; return the count of each kind."""
    counts = {}
    # mtime 0: the same documents give the same bytes, whenever they are compressed. Level 6
    # (zlib's default; gzip's is 9): twice as fast, and 2% larger for these documents.
    with (
        _young_objects_collected(),
        open(path, "wb") as raw,
        gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, compresslevel=6) as stream,
    ):
        stream.write(_ENCODER.encode({"meta": meta})[:-1].encode())
        for key, pages in _documents(request):
            stream.write(f',"{key}":['.encode())
            count = 0
            for documents in pages:
                if not documents:
                    continue
                text = ",".join(_ENCODER.encode(document) for document in documents)
                stream.write(((count and ",") or "").encode() + text.encode())
                count += len(documents)
            stream.write(b"]")
            counts[key] = count
        stream.write(b"}\n")
    return counts


# --- The CSV files --------------------------------------------------------------------------


def _write_csv_zip(path: Path, built: datetime.datetime) -> dict[str, int]:
    """Write the zip, each entry as its export streams; return each entry's count of rows."""
    rows = {}
    moment = timezone.localtime(built).timetuple()[:6]
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, rows_for in CSV_FILES.items():
            entry = zipfile.ZipInfo(name, date_time=moment)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            cells = rows_for()
            lines = csv_lines(next(cells), cells)
            count = -1  # the header is not a row
            with archive.open(entry, "w", force_zip64=True) as stream:
                batch = []
                for line in lines:
                    batch.append(line)
                    if len(batch) == _LINES_PER_WRITE:
                        stream.write("".join(batch).encode())
                        count += len(batch)
                        batch = []
                stream.write("".join(batch).encode())
                count += len(batch)
            rows[name] = count
    return rows


# --- Serving --------------------------------------------------------------------------------


def _serve(request: HttpRequest, name: str) -> HttpResponseBase:
    """A file of the build of the registry as it is now (built first if need be), with an
    ETag of the registry's version and the file's SHA-256 (a 304 when it still matches)."""
    if name not in FILES:
        raise Http404("No such download.")
    origin = origin_of(request)
    stamp = registry_stamp(request)
    for _ in range(3):
        current = current_build(origin, stamp)
        try:
            digest = current.sha256(name)
            handle = open(current.file(name), "rb")  # noqa: SIM115 (the response closes it)
            break
        except FileNotFoundError:
            # A newer build removed this one between finding and opening it: serve that.
            stamp = None
    else:
        raise RuntimeError("The downloads were removed again and again while being opened.")
    etag = f'"{current.version}-{digest[:32]}"'
    not_modified = get_conditional_response(request, etag=etag)
    if not_modified is not None:
        handle.close()
        not_modified["ETag"] = etag
        return not_modified
    media_type, attachment = FILES[name]
    response = FileResponse(
        handle, content_type=media_type, as_attachment=attachment, filename=name
    )
    response["ETag"] = etag
    return response


download = public_resource(_serve)
