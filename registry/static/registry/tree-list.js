/* The organizations list (admin): keys for the move controls, focus and announcements after a
   move, and drop zones that say what a drop does. */
"use strict";
(function () {
  // After a move the page reloads with "#move-<id>-<up|down|under>": put the focus back on
  // that control, or on another of the same row when that one is gone (a unit moved to the
  // top has no "up").
  function restoreFocus() {
    const match = /^#move-(.+)-(up|down|under)$/.exec(window.location.hash);
    if (!match) return;
    const id = decodeURIComponent(match[1]);
    for (const side of [match[2], "up", "down", "under"]) {
      const control = document.getElementById(`move-${id}-${side}`);
      if (control && control.offsetParent !== null) {
        control.focus();
        return;
      }
    }
  }

  // The message about the move, said again in the live region once the page has settled
  // (text already there when a page loads is not announced).
  function announce() {
    const status = document.getElementById("tree-move-status");
    if (!status) return;
    const said = [...document.querySelectorAll(".messagelist li")]
      .map((item) => item.textContent.trim())
      .filter(Boolean)
      .join(" ");
    if (said) window.setTimeout(() => { status.textContent = said; }, 300);
  }

  // django-mptt's drag line says only "Move before"; name the row, and mark the zone so
  // that the stylesheet shows before, inside and after differently.
  let dragged = null;
  let pointerY = 0;
  function rowAt(y) {
    if (!dragged) return null;
    const height = dragged.getBoundingClientRect().height;
    let found = null;
    for (const row of dragged.parentElement.children) {
      const top = row.getBoundingClientRect().top + window.scrollY;
      if (y >= top && y < top + height) found = row;
    }
    return found;
  }
  function labelDragLine(line) {
    const span = line.querySelector("span");
    if (!span) return;
    const text = span.textContent;
    const context = JSON.parse(
      document.getElementById("draggable-admin-context").dataset.context);
    const zone = Object.keys(context.messages).find(
      (key) => ["before", "child", "after"].includes(key)
        && text.startsWith(context.messages[key]));
    document.querySelectorAll("tr.tree-drop-inside").forEach(
      (row) => row.classList.remove("tree-drop-inside"));
    line.classList.remove("tree-zone-before", "tree-zone-child", "tree-zone-after");
    if (!zone) return;
    line.classList.add(`tree-zone-${zone}`);
    const row = rowAt(pointerY);
    const title = row && row.querySelector("th .tree-title");
    if (zone === "child" && row) row.classList.add("tree-drop-inside");
    // The title's own text, without the identifier shown under it.
    const name = title && title.firstChild ? title.firstChild.textContent.trim() : "";
    const wanted = name ? `${context.messages[zone]} “${name}”` : text;
    if (text !== wanted) span.textContent = wanted;
  }

  document.addEventListener("DOMContentLoaded", () => {
    // django-mptt's rows take Enter (open the row's first link) and the arrow keys (move
    // between rows, fold): keys pressed on a move control are the control's own.
    document.querySelectorAll(".tree-move").forEach((controls) => {
      controls.addEventListener("keydown", (event) => event.stopPropagation());
    });
    // After django-mptt's script, which focuses the list's first row when it starts.
    window.setTimeout(restoreFocus, 0);
    announce();
    document.addEventListener("mousedown", (event) => {
      const handle = event.target.closest && event.target.closest("div.drag-handle");
      dragged = handle ? handle.closest("tr") : null;
    }, true);
    document.addEventListener("mousemove", (event) => { pointerY = event.pageY; }, true);
    document.addEventListener("mouseup", () => {
      document.querySelectorAll("tr.tree-drop-inside").forEach(
        (row) => row.classList.remove("tree-drop-inside"));
    }, true);
    new MutationObserver(() => {
      const line = document.getElementById("drag-line");
      if (line) labelDragLine(line);
    }).observe(document.body, { childList: true, subtree: true, characterData: true });
  });
})();
