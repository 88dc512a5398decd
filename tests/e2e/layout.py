"""Layout checks in the browser: nothing wider than the window, nothing cut, nothing on top of
anything else.

Each check returns a list of readable findings (empty when the page is right), so a failing
assertion names the elements: `assert not layout_problems(page), ...`.
"""

from __future__ import annotations

# The page's visible "leaves": elements that show text of their own, or are controls or
# images. Containers are left out (a row contains its cells; that is no overlap).
_LEAVES = r"""
() => {
  const vw = document.documentElement.clientWidth;
  const describe = (el) => {
    const id = el.id ? '#' + el.id : '';
    const cls = typeof el.className === 'string' && el.className.trim()
      ? '.' + el.className.trim().split(/\s+/).join('.') : '';
    const text = (el.innerText || el.value || el.getAttribute('aria-label') || '')
      .trim().replace(/\s+/g, ' ').slice(0, 40);
    return `${el.tagName.toLowerCase()}${id}${cls} "${text}"`;
  };
  const shown = (el) => {
    // In a closed <details> (content-visibility: hidden), or under display: none.
    if (el.checkVisibility && !el.checkVisibility()) return false;
    const style = getComputedStyle(el);
    if (style.visibility === 'hidden' || style.display === 'none' || +style.opacity === 0) {
      return false;
    }
    const r = el.getBoundingClientRect();
    // Hidden for the eye but not for screen readers: a 1px clipped box, or a skip link
    // parked left of the page until it takes focus.
    return r.width > 1 && r.height > 1 && r.right > 0;
  };
  // An ancestor that scrolls or clips horizontally keeps what is inside it off the page edge.
  const scroller = (el) => {
    for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
      const x = getComputedStyle(p).overflowX;
      if (x === 'auto' || x === 'scroll' || x === 'hidden' || x === 'clip') return p;
    }
    return null;
  };
  const ownText = (el) => [...el.childNodes].some(
    (n) => n.nodeType === Node.TEXT_NODE && n.textContent.trim());
  const controls = 'input:not([type=hidden]),select,textarea,button,img,svg';
  const leaves = [...document.body.querySelectorAll('*')].filter(
    (el) => !el.closest('svg *') && (el.matches(controls) || ownText(el)) && shown(el)
      && !el.closest('[aria-hidden=true],.select2-hidden-accessible,.sr-only,.visually-hidden'));
  return {vw, leaves, describe, scroller};
}
"""

_OVERFLOW = (
    "(() => { const {vw, leaves, describe, scroller} = ("
    + _LEAVES
    + r""")();
  const found = [];
  const doc = document.documentElement;
  if (doc.scrollWidth > doc.clientWidth + 1) {
    found.push(`the page is ${doc.scrollWidth - doc.clientWidth}px wider than the window`);
  }
  for (const el of leaves) {
    const r = el.getBoundingClientRect();
    if (!scroller(el) && (r.right > vw + 1 || r.left < -1)) {
      found.push(`${describe(el)} reaches ${Math.round(r.left)}..${Math.round(r.right)}px` +
                 ` in a ${vw}px window`);
    }
    // Text cut off by its own box (overflow hidden, ellipsis): the reader cannot see it all.
    const style = getComputedStyle(el);
    if (style.overflowX !== 'visible' && !el.matches('input,select,textarea')
        && el.scrollWidth > el.clientWidth + 1) {
      found.push(`${describe(el)} is cut: ${el.scrollWidth}px of text in ${el.clientWidth}px`);
    }
  }
  return found;
})()"""
)

_OVERLAP = (
    "(() => { const {leaves, describe} = ("
    + _LEAVES
    + r""")();
  const found = [];
  // One box per line for text that wraps: the bounding box of a wrapped link would cover
  // the start of the line after it.
  const boxes = [];
  for (const el of leaves) {
    for (const r of el.getClientRects()) {
      if (r.width > 1 && r.height > 1) boxes.push([el, r]);
    }
  }
  const seen = new Set();
  for (let i = 0; i < boxes.length; i++) {
    const [a, ra] = boxes[i];
    for (let j = i + 1; j < boxes.length; j++) {
      const [b, rb] = boxes[j];
      if (a === b || a.contains(b) || b.contains(a)) continue;
      const w = Math.min(ra.right, rb.right) - Math.max(ra.left, rb.left);
      const h = Math.min(ra.bottom, rb.bottom) - Math.max(ra.top, rb.top);
      const pair = describe(a) + ' and ' + describe(b);
      if (w > 2 && h > 2 && !seen.has(pair)) {
        seen.add(pair);
        found.push(`${pair} overlap by ${Math.round(w)}x${Math.round(h)}px`);
      }
    }
  }
  return found;
})()"""
)


def overflowing(page) -> list[str]:
    """Elements reaching past the window's sides (outside any scrolling box), and texts cut off
    by their own boxes."""
    return page.evaluate(_OVERFLOW)


def overlapping(page) -> list[str]:
    """Pairs of visible texts or controls drawn over one another."""
    return page.evaluate(_OVERLAP)


def layout_problems(page) -> list[str]:
    """Everything wrong with the layout of the page as shown now."""
    return overflowing(page) + overlapping(page)
