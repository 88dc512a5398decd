"""An organization chart as SVG, drawn on the server from the detail page's one query.

`organization_chart()` takes the unit and the `children_by_parent()` dict of its descendants (the
rows the detail view already fetched) and returns SVG text: the unit on top, its internal
departments below it in columns (each with its sub-departments stacked under it), and, in a
separate labelled group further down, its directly affiliated institutions. Every box is a link
to that unit's page.

Big trees stay readable rather than shrinking: boxes have a fixed width and names wrap onto up
to four lines; at most two levels below the unit are drawn, at most `MAX_COLUMNS` columns per
row, `MAX_TOPS` units per group and `MAX_STACK` sub-units per column; whatever is left out is
counted in a "+N more" box that links to the page listing it. The SVG is built with
ElementTree, so names are always escaped, and it uses presentation attributes only (no <style>
element: the site's Content-Security-Policy forbids them inline), so the same text works inline
in the page (site.css adds focus styles) and as a standalone file.
"""

from __future__ import annotations

import unicodedata
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext, ngettext

from .templatetags.registry_names import ordered
from .text import xml_text
from .trees import descendant_count

SVG_NS = "http://www.w3.org/2000/svg"

BOX_W = 176
BOX_H = 78
MORE_H = 26
INDENT = 16
COL_GAP = 18
ROW_GAP = 28
STACK_GAP = 10
MARGIN = 16
LABEL_H = 30
FONT_SIZE = 12
LINE_H = 15
MAX_LINES = 4
# Width budget per line in "narrow character" units: a CJK character counts as two.
LINE_UNITS = 24

MAX_COLUMNS = 5
MAX_TOPS = 20
MAX_STACK = 6

COLOURS = {
    "unit": ("#fdf3f3", "#8a1c1c"),
    "department": ("#ffffff", "#4a5360"),
    "sub": ("#f4f6f8", "#8a94a3"),
    "affiliated": ("#f3f7fd", "#0b57a4"),
    "more": ("#ffffff", "#8a94a3"),
}


def _units(char: str) -> int:
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def wrap(name: str, width: int = LINE_UNITS, max_lines: int = MAX_LINES) -> list[str]:
    """`name` in lines of at most `width` units, breaking at spaces (CJK anywhere)."""
    lines: list[str] = []
    line = ""
    line_units = 0
    for word in name.split():
        word_units = sum(_units(c) for c in word)
        sep = 1 if line else 0
        if line_units + sep + word_units <= width:
            line += (" " if line else "") + word
            line_units += sep + word_units
            continue
        if line:
            lines.append(line)
            line, line_units = "", 0
        # A word longer than a line (or a run of CJK) is cut where it must be.
        for char in word:
            if line_units + _units(char) > width:
                lines.append(line)
                line, line_units = "", 0
            line += char
            line_units += _units(char)
    if line:
        lines.append(line)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        last = lines[-1]
        while last and sum(_units(c) for c in last) + 1 > width:
            last = last[:-1]
        lines[-1] = last.rstrip() + "…"
    return lines or [""]


@dataclass
class _Canvas:
    root: ET.Element
    url_for: Callable[[Any], str]

    def link(self, parent: ET.Element, href: str, label: str) -> ET.Element:
        return ET.SubElement(parent, "a", {"href": href, "aria-label": label})

    def box(
        self, parent: ET.Element, node: Any, x: float, y: float, style: str, wide: bool = False
    ) -> None:
        fill, stroke = COLOURS[style]
        box_w = BOX_W * 2 if wide else BOX_W
        (first, _), second = ordered(node.name, getattr(node, "name_zh", ""))
        label = f"{first} {second[0]}" if second else first
        link = self.link(parent, self.url_for(node), label)
        link.set("class", f"chart-box chart-{style}")
        ET.SubElement(link, "title").text = label
        ET.SubElement(
            link,
            "rect",
            {
                "x": _n(x),
                "y": _n(y),
                "width": _n(box_w),
                "height": _n(BOX_H),
                "rx": "4",
                "fill": fill,
                "stroke": stroke,
                "stroke-width": "2" if style == "unit" else "1",
            },
        )
        width = LINE_UNITS * 2 + 4 if wide else LINE_UNITS
        # The name in the page's language, then the other language's on the last line.
        lines = wrap(first, width, MAX_LINES - 1 if second else MAX_LINES)
        if second:
            lines += wrap(second[0], width, 1)
        top = y + (BOX_H - len(lines) * LINE_H) / 2 + LINE_H - 3
        text = ET.SubElement(
            link,
            "text",
            {
                "x": _n(x + box_w / 2),
                "y": _n(top),
                "text-anchor": "middle",
                "font-size": str(FONT_SIZE),
                "fill": "#1b1f24",
                "aria-hidden": "true",
            },
        )
        for index, line in enumerate(lines):
            tspan = ET.SubElement(
                text, "tspan", {"x": _n(x + box_w / 2), "y": _n(top + index * LINE_H)}
            )
            tspan.text = line

    def more(self, parent: ET.Element, href: str, count: int, x: float, y: float, what: str):
        fill, stroke = COLOURS["more"]
        label = gettext("+%(count)s more") % {"count": count}
        link = self.link(
            parent, href, gettext("%(more)s %(what)s") % {"more": label, "what": what}
        )
        link.set("class", "chart-box chart-more")
        ET.SubElement(
            link,
            "rect",
            {
                "x": _n(x),
                "y": _n(y),
                "width": _n(BOX_W - INDENT),
                "height": _n(MORE_H),
                "rx": "4",
                "fill": fill,
                "stroke": stroke,
                "stroke-dasharray": "4 3",
            },
        )
        text = ET.SubElement(
            link,
            "text",
            {
                "x": _n(x + 8),
                "y": _n(y + MORE_H / 2 + 4),
                "font-size": str(FONT_SIZE),
                "fill": "#0b57a4",
                "aria-hidden": "true",
            },
        )
        text.text = label

    def line(self, parent: ET.Element, x1: float, y1: float, x2: float, y2: float) -> None:
        ET.SubElement(
            parent,
            "path",
            {
                "d": f"M{_n(x1)} {_n(y1)}H{_n(x2)}" if y1 == y2 else _path(x1, y1, x2, y2),
                "fill": "none",
                "stroke": "#8a94a3",
                "stroke-width": "1",
            },
        )


def _n(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _path(x1: float, y1: float, x2: float, y2: float) -> str:
    return f"M{_n(x1)} {_n(y1)}V{_n(y2)}H{_n(x2)}"


def _column_height(top: Any, children: dict[Any, list[Any]]) -> float:
    height = BOX_H
    kids = children.get(top.pk, [])
    for kid in kids[:MAX_STACK]:
        height += STACK_GAP + BOX_H
        if descendant_count(kid):
            height += STACK_GAP + MORE_H
    if len(kids) > MAX_STACK:
        height += STACK_GAP + MORE_H
    return height


def _section(
    canvas: _Canvas,
    parent: ET.Element,
    *,
    label: str,
    tops: Sequence[Any],
    children: dict[Any, list[Any]],
    more_href: str,
    style: str,
    y: float,
    width: float,
) -> float:
    """Draw one labelled group of columns from `y`; return the y below it."""
    group = ET.SubElement(parent, "g", {"role": "group", "aria-label": label})
    ET.SubElement(
        group,
        "text",
        {
            "x": _n(MARGIN),
            "y": _n(y + 18),
            "font-size": "13",
            "font-weight": "bold",
            "fill": "#4a5360",
        },
    ).text = label
    shown = list(tops[:MAX_TOPS])
    hidden = len(tops) - len(shown)
    y += LABEL_H
    frame_top = y - LABEL_H - 4
    entries: list[Any] = [*shown, None] if hidden else shown
    for row_start in range(0, len(entries), MAX_COLUMNS):
        row = entries[row_start : row_start + MAX_COLUMNS]
        row_height = 0.0
        for column, top in enumerate(row):
            x = MARGIN + column * (BOX_W + INDENT + COL_GAP)
            if top is None:
                canvas.more(group, more_href, hidden, x, y, label.lower())
                row_height = max(row_height, MORE_H)
                continue
            canvas.box(group, top, x, y, style)
            cy = y + BOX_H
            kids = children.get(top.pk, [])
            for kid in kids[:MAX_STACK]:
                cy += STACK_GAP
                canvas.line(group, x + INDENT / 2, y + BOX_H, x + INDENT, cy + BOX_H / 2)
                canvas.box(group, kid, x + INDENT, cy, "sub")
                cy += BOX_H
                deeper = descendant_count(kid)
                if deeper:
                    cy += STACK_GAP
                    canvas.more(
                        group,
                        canvas.url_for(kid),
                        deeper,
                        x + INDENT * 2,
                        cy,
                        gettext("under %(name)s") % {"name": kid.name},
                    )
                    cy += MORE_H
            if len(kids) > MAX_STACK:
                cy += STACK_GAP
                canvas.line(group, x + INDENT / 2, y + BOX_H, x + INDENT, cy + MORE_H / 2)
                canvas.more(
                    group,
                    canvas.url_for(top),
                    len(kids) - MAX_STACK,
                    x + INDENT,
                    cy,
                    gettext("under %(name)s") % {"name": top.name},
                )
                cy += MORE_H
            row_height = max(row_height, cy - y)
        y += row_height + ROW_GAP
    # A thin frame sets the group apart; it goes first so the boxes paint over it.
    frame = ET.Element(
        "rect",
        {
            "x": _n(MARGIN / 2),
            "y": _n(frame_top),
            "width": _n(width - MARGIN),
            "height": _n(y - frame_top - ROW_GAP / 2),
            "rx": "6",
            "fill": "none",
            "stroke": "#d5dae1",
            "stroke-dasharray": "6 4" if style == "affiliated" else "none",
        },
    )
    group.insert(0, frame)
    return y


def organization_chart(
    organization: Any,
    children: dict[Any, list[Any]],
    *,
    url_for: Callable[[Any], str] | None = None,
    title_id: str = "org-chart-title",
) -> str:
    """The chart of `organization` as SVG text (see the module's docstring)."""
    url_for = url_for or (lambda node: node.get_absolute_url())
    direct = children.get(organization.pk, [])
    departments = [node for node in direct if not node.kind.is_affiliated]
    affiliated = [node for node in direct if node.kind.is_affiliated]
    columns = max(1, min(MAX_COLUMNS, max(len(departments), len(affiliated), 1)))
    width = MARGIN * 2 + columns * (BOX_W + INDENT) + (columns - 1) * COL_GAP

    root = ET.Element(
        "svg",
        {
            "xmlns": SVG_NS,
            "class": "org-chart",
            "role": "group",
            "aria-labelledby": title_id,
            "aria-describedby": f"{title_id}-desc",
            "font-family": "system-ui, 'Noto Sans', 'Noto Sans CJK SC', sans-serif",
        },
    )
    ET.SubElement(root, "title", {"id": title_id}).text = gettext(
        "Organization chart of %(name)s"
    ) % {"name": organization.name}
    shown_total = descendant_count(organization)
    counts = {
        "departments": ngettext(
            "%(count)s internal department", "%(count)s internal departments", len(departments)
        )
        % {"count": len(departments)},
        "affiliated": ngettext(
            "%(count)s directly affiliated institution",
            "%(count)s directly affiliated institutions",
            len(affiliated),
        )
        % {"count": len(affiliated)},
        "units": ngettext(
            "%(count)s unit below it in all", "%(count)s units below it in all", shown_total
        )
        % {"count": shown_total},
    }
    ET.SubElement(root, "desc", {"id": f"{title_id}-desc"}).text = gettext(
        "%(name)s with %(departments)s and %(affiliated)s (%(units)s). Each box links to that "
        "unit's page; the same units are listed on the page as text."
    ) % {"name": organization.name, **counts}
    canvas = _Canvas(root, url_for)
    wide = columns > 1
    # At the left, above the first column: a phone shows the chart at its own size in a frame
    # that scrolls sideways from the left edge, and a centred unit would start out of view.
    unit_x = MARGIN
    canvas.box(root, organization, unit_x, MARGIN, "unit", wide=wide)
    y = MARGIN + BOX_H + ROW_GAP
    page = url_for(organization)
    if departments or affiliated:
        middle = unit_x + BOX_W * (2 if wide else 1) / 2
        canvas.line(root, middle, MARGIN + BOX_H, middle, y - 6)
    if departments:
        y = _section(
            canvas,
            root,
            label=gettext("Internal departments"),
            tops=departments,
            children=children,
            more_href=f"{page}#departments",
            style="department",
            y=y,
            width=width,
        )
    if affiliated:
        y = _section(
            canvas,
            root,
            label=gettext("Directly affiliated institutions"),
            tops=affiliated,
            children=children,
            more_href=f"{page}#affiliated",
            style="affiliated",
            y=y + (ROW_GAP if departments else 0),
            width=width,
        )
    height = y + MARGIN - ROW_GAP / 2 if (departments or affiliated) else MARGIN * 2 + BOX_H
    root.set("viewBox", f"0 0 {_n(width)} {_n(height)}")
    root.set("width", _n(width))
    root.set("height", _n(height))
    # A name may hold characters XML cannot carry: the chart stays a well-formed document.
    return xml_text(ET.tostring(root, encoding="unicode"))
