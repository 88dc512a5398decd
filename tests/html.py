"""Reading the structure of rendered pages, so tests check nesting rather than substrings."""

from __future__ import annotations

from html.parser import HTMLParser


class _Outline(HTMLParser):
    """Collects the nested <ul>/<li> list inside the element with a given id, as
    [(link text, [children...]), ...]."""

    def __init__(self, section_id: str):
        super().__init__()
        self.section_id = section_id
        self.depth_in_section = 0
        self.root: list = []
        self.stack: list[list] = []
        self.current_item: list | None = None
        self.in_link = False

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if self.depth_in_section == 0:
            if attributes.get("aria-labelledby") == self.section_id:
                self.depth_in_section = 1
            return
        if tag == "section":
            self.depth_in_section += 1
        if tag == "ul":
            children = self.root if not self.stack else self.stack[-1][-1][1]
            self.stack.append(children)
        elif tag == "li":
            self.stack[-1].append(["", []])
        elif tag == "a" and self.stack and self.stack[-1] and not self.stack[-1][-1][0]:
            self.in_link = True

    def handle_endtag(self, tag):
        if not self.depth_in_section:
            return
        if tag == "section":
            self.depth_in_section -= 1
        elif tag == "ul":
            self.stack.pop()
        elif tag == "a":
            self.in_link = False

    def handle_data(self, data):
        if self.in_link:
            self.stack[-1][-1][0] += data


def outline(html: str, section_id: str) -> list:
    parser = _Outline(section_id)
    parser.feed(html)
    assert not parser.stack, "unbalanced lists"

    def freeze(items):
        return [(name, freeze(children)) for name, children in items]

    return freeze(parser.root)
