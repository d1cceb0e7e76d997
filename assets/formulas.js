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
 * MathJax's chunk (dcc's async-mathjax.js) is downloaded first, by a script element of ours, and
 * the Markdown is turned on only once it is there and the page is quiet again: Dash's Markdown
 * then runs MathJax and typesets each formula in the same task as it mounts. Turned on while
 * the chunk was still downloading, a formula replaced by a control change in between (the
 * span MathJax was asked to typeset no longer in the page) was drawn NaN-sized.
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
  var chunk = null;              // MathJax's chunk: null, "loading" or "ready"

  /* dcc's MathJax chunk, next to its main bundle (assets/bundles.js adds the fingerprint). */
  function chunkUrl() {
    var scripts = document.querySelectorAll("script[src]");
    for (var i = 0; i < scripts.length; i++) {
      var src = scripts[i].getAttribute("src");
      if (/\/dcc\/dash_core_components\.[^/]*$/.test(src.split(/[?#]/)[0])) {
        return src.replace(/\/dash_core_components\.([^/]*)$/, "/async-mathjax.$1");
      }
    }
    return null;
  }

  /* True once MathJax's chunk is in the page (or cannot be fetched here: then Dash fetches it). */
  function chunkReady() {
    if (chunk === "ready" || window.MathJax) return true;
    if (chunk === "loading") return false;
    var url = chunkUrl();
    if (!url) return true;
    chunk = "loading";
    var script = document.createElement("script");
    script.src = url;
    script.async = true;
    script.onload = script.onerror = function () {
      chunk = "ready";
      clearTimeout(quietTimer);
      quietTimer = setTimeout(update, QUIET_MS);
    };
    document.head.appendChild(script);
    return false;
  }

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
    wanted = wanted.filter(function (panel) {
      var markdown = panel.querySelector(MARKDOWN);
      return markdown && turnedOn.get(markdown) !== markdown.id;
    });
    if (!wanted.length || !chunkReady()) return;
    wanted.forEach(function (panel) {
      var markdown = panel.querySelector(MARKDOWN);
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
