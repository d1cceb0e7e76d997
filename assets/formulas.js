/*
 * Formulas are typeset only when their panel is about to be seen. dcc.Markdown with
 * mathjax=True downloads Dash's MathJax bundle (2.1 MB, 0.68 MB compressed) as soon as it
 * mounts, so a view's formulas are rendered as dcc.Markdown(..., mathjax=False,
 * className="lazy-math") and this script turns MathJax on (dash_clientside.set_props) when
 * their panel comes within one screen of the viewport. A panel that is hidden (presenting
 * mode) never intersects, so it costs nothing. Only .lazy-math Markdown is touched: setting
 * mathjax on a Markdown that is already typesetting makes MathJax draw NaN-sized formulas.
 * For the same reason MathJax is turned on only once the page has been quiet (no element
 * added or removed) for QUIET_MS: a view's first callbacks replace the formulas' text, and a
 * typeset that overlaps that replacement draws NaN-sized formulas too. It also keeps MathJax
 * out of the way of the first charts.
 * A loss card (assets/cards.js) typesets its formulas with the MathJax this turns on: when a
 * card's formulas are on the page, the view's visible formulas panels are turned on wherever
 * they are (a page with no visible panel, e.g. presenting mode, leaves the card's LaTeX as text).
 */
(function () {
  "use strict";

  var PANELS = ".formulas";
  var MARKDOWN = ".lazy-math[id]";
  var CARD_FORMULAS = "loss-card-formulas";  // assets/cards.js
  var watched = new WeakSet();
  var near = new Set();          // panels within a screen of the viewport
  var turnedOn = new WeakMap();  // Markdown element -> the component id it was turned on for
  var observer = null;
  var QUIET_MS = 300;
  var quietTimer = null;

  /* React may reuse a panel's elements for the next view's panel, so what was turned on is
     remembered per element and component id. */
  function update() {
    var setProps = (window.dash_clientside || {}).set_props;
    if (typeof setProps !== "function") return;
    near.forEach(function (panel) {
      if (!panel.isConnected) near.delete(panel);
    });
    var wanted = Array.from(near);
    if (cardWantsMath()) {
      // Visible panels only: MathJax measures its container, and a hidden one gives NaN sizes.
      document.querySelectorAll(PANELS).forEach(function (panel) {
        if (panel.getClientRects().length && wanted.indexOf(panel) === -1) wanted.push(panel);
      });
    }
    wanted.forEach(function (panel) {
      var markdown = panel.querySelector(MARKDOWN);
      if (!markdown || turnedOn.get(markdown) === markdown.id) return;
      turnedOn.set(markdown, markdown.id);
      setProps(markdown.id, { mathjax: true });
    });
  }

  /* A loss card's formulas are shown and MathJax is not there yet. */
  function cardWantsMath() {
    if (window.MathJax) return false;
    var formulas = document.getElementById(CARD_FORMULAS);
    return !!(formulas && formulas.getClientRects().length);
  }

  function watch() {
    document.querySelectorAll(PANELS).forEach(function (panel) {
      if (watched.has(panel)) return;
      watched.add(panel);
      observer.observe(panel);
    });
    clearTimeout(quietTimer);
    quietTimer = setTimeout(update, QUIET_MS);
  }

  function start() {
    if (!("IntersectionObserver" in window)) return;
    observer = new IntersectionObserver(function (entries) {
      entries.forEach(function (entry) {
        if (entry.isIntersecting) near.add(entry.target);
        else near.delete(entry.target);
      });
      clearTimeout(quietTimer);
      quietTimer = setTimeout(update, QUIET_MS);
    }, { rootMargin: "100% 0px" });
    watch();
    new MutationObserver(watch).observe(document.body, { childList: true, subtree: true });
  }

  if (document.body) start();
  else document.addEventListener("DOMContentLoaded", start);
})();
