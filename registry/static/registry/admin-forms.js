// Add forms: the identifier field (data-suggest-url) is filled with a suggestion built from the
// name (English, else the Chinese name in pinyin) and the parent, as the curator types, until
// the curator edits the identifier by hand. The server builds it (registry/admin/forms.py), so
// the rule and the pinyin are the registry's own.
"use strict";

// select2 names its combobox by the chosen value only (aria-labelledby its text), so an empty
// picker, or one in an inline's table cell, has no name for screen readers: give each the
// label of the <select> it stands for, and the chosen value as its description.
const labelPickers = () => {
  for (const box of document.querySelectorAll(".select2-selection[role=combobox]")) {
    const select = box.closest(".select2")?.previousElementSibling;
    if (!select || select.tagName !== "SELECT") continue;
    const rendered = box.querySelector(".select2-selection__rendered");
    const label = select.labels?.[0]?.textContent.replace(/:\s*$/, "").trim()
      || select.getAttribute("aria-label");
    if (!label) continue;
    box.setAttribute("aria-label", label);
    box.removeAttribute("aria-labelledby");
    if (rendered?.id) box.setAttribute("aria-describedby", rendered.id);
    // The chosen value's box is a read-only textbox too: empty, it would have no name.
    rendered?.setAttribute("aria-label", label);
  }
};
document.addEventListener("DOMContentLoaded", () => setTimeout(labelPickers));
document.addEventListener("formset:added", () => setTimeout(labelPickers));

document.addEventListener("DOMContentLoaded", () => {
  const id = document.querySelector("input[data-suggest-url]");
  if (!id) return;
  const form = id.form;
  const field = (name) => form.querySelector(`[name="${name}"]`);
  let suggested = id.value;  // what we last put there: anything else was typed by hand
  let asked = 0;
  const suggest = async () => {
    if (id.value !== suggested) return;
    const params = new URLSearchParams();
    for (const name of ["name", "name_zh", "parent"]) {
      if (field(name)) params.set(name, field(name).value);
    }
    const number = ++asked;
    const response = await fetch(`${id.dataset.suggestUrl}?${params}`, {
      credentials: "same-origin", headers: {Accept: "application/json"},
    });
    // An older answer arriving late, or a hand edit meanwhile, must not overwrite.
    if (!response.ok || number !== asked || id.value !== suggested) return;
    id.value = suggested = (await response.json()).id;
  };
  let timer;
  const later = () => { clearTimeout(timer); timer = setTimeout(suggest, 250); };
  for (const name of ["name", "name_zh"]) field(name)?.addEventListener("input", later);
  // The parent is a select2 box: it tells its <select> through jQuery's change event.
  const parent = field("parent");
  if (parent) {
    parent.addEventListener("change", later);
    if (window.django?.jQuery) window.django.jQuery(parent).on("change", later);
  }
});
