/*
 * Accessible names and roles that Dash 4.4.1's components do not let us set as props
 * (docs/ACCESSIBILITY.md lists each finding, the component and the axe rule):
 *  - dcc.Checklist and dcc.RadioItems render role="listbox" with role="option" labels around
 *    native checkboxes and radio buttons, and no accessible name. A listbox needs arrow-key
 *    handling they do not have, and an option must not contain a focusable input (axe:
 *    aria-input-field-name, nested-interactive, aria-allowed-role). The native inputs already
 *    work with Tab, Space and the arrow keys, so the wrong roles are removed: the list becomes
 *    a group (checkboxes) or radiogroup (radio buttons) named by its control label, and each
 *    option a plain label. React sets aria-selected again on every change of selection; the
 *    observer removes it as it comes.
 *  - the loss chooser table's section gets its heading as its name, which makes it a region
 *    landmark (axe: region).
 *  - a form field with no name of its own inside a named group (dcc.Input takes no aria-label;
 *    e.g. a playback bar's step slider) is named after the group (axe: label).
 */
(function () {
  "use strict";

  var LISTS = ".dash-options-list[role=listbox]";
  var OPTIONS = ".dash-options-list label[role=option], .dash-options-list label[aria-selected]";
  var counter = 0;

  function idOf(element, stem) {
    if (!element.id) element.id = "a11y-" + stem + "-" + (++counter);
    return element.id;
  }

  /* The text that names a control group: its .control-label (a span or label before it). */
  function labelFor(list) {
    var control = list.closest(".control") || list.parentElement;
    return control ? control.querySelector(".control-label") : null;
  }

  function fixList(list) {
    list.setAttribute("role", list.classList.contains("dash-radioitems") ? "radiogroup" : "group");
    if (!list.hasAttribute("aria-label") && !list.hasAttribute("aria-labelledby")) {
      var label = labelFor(list);
      if (label) list.setAttribute("aria-labelledby", idOf(label, "label"));
    }
  }

  function fixOption(option) {
    option.removeAttribute("role");
    option.removeAttribute("aria-selected");
  }

  function fixChooser() {
    var chooser = document.querySelector("section.chooser:not([aria-labelledby])");
    var heading = chooser && chooser.querySelector("h2");
    if (heading) chooser.setAttribute("aria-labelledby", idOf(heading, "heading"));
  }

  var GROUP = "[role=group][aria-label]";
  var FIELDS = ["input:not([type=hidden])", "select", "textarea"].map(function (f) {
    return GROUP + " " + f;
  }).join(", ");

  function fixField(field) {
    if ((field.labels && field.labels.length) || field.hasAttribute("aria-label") ||
        field.hasAttribute("aria-labelledby") || field.title) return;
    field.setAttribute("aria-label", field.closest(GROUP).getAttribute("aria-label"));
  }

  /* Every fix applies only to elements that still need it, so the observer's own changes
     end in a pass that changes nothing (no loop). One pass per batch of mutations. */
  function fixAll() {
    Array.prototype.forEach.call(document.querySelectorAll(LISTS), fixList);
    Array.prototype.forEach.call(document.querySelectorAll(OPTIONS), fixOption);
    Array.prototype.forEach.call(document.querySelectorAll(FIELDS), fixField);
    fixChooser();
  }

  /* Plotly redraws add thousands of chart nodes; batches that touch only charts are skipped. */
  function concernsUs(records) {
    for (var i = 0; i < records.length; i++) {
      var target = records[i].target;
      if (records[i].type === "attributes" || !(target.closest && target.closest(".js-plotly-plot"))) return true;
    }
    return false;
  }

  function start() {
    fixAll();
    new MutationObserver(function (records) {
      if (concernsUs(records)) fixAll();
    }).observe(document.body, {
      childList: true, subtree: true, attributes: true, attributeFilter: ["role", "aria-selected"],
    });
  }

  if (document.body) start();
  else document.addEventListener("DOMContentLoaded", start);
})();
