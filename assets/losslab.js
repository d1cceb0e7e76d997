/*
 * losslab's browser side: everything that must not cost a server round trip.
 *  - slider <-> text box mirroring (clientside callbacks below);
 *  - the URL query string follows the controls (history.replaceState);
 *  - linked charts: hovering one shows the crosshair and values on the others,
 *    and zooming or panning one moves the others' x axis.
 */
(function () {
  "use strict";

  function roundForBox(value) {
    return String(Number(value.toPrecision(4)));
  }

  function triggeredProp() {
    var triggered = (window.dash_clientside.callback_context || {}).triggered || [];
    return triggered.length ? triggered[0].prop_id : "";
  }

  /* The slider follows the text box only for a value the control accepts (validMin/validMax are
     the control's bounds, set on the box; null is unbounded): a rejected value leaves it alone. */
  function sync(sliderValue, textValue, min, max, validMin, validMax, toBox, fromBox) {
    var noUpdate = window.dash_clientside.no_update;
    var prop = triggeredProp();
    if (prop.indexOf("-slider.") !== -1) {
      if (typeof sliderValue !== "number") return [noUpdate, noUpdate];
      return [noUpdate, roundForBox(toBox(sliderValue))];
    }
    var value = Number(String(textValue).trim().replace("\u2212", "-"));
    if (String(textValue).trim() === "" || !isFinite(value)) return [noUpdate, noUpdate];
    if ((validMin !== null && validMin !== undefined && value < validMin) ||
        (validMax !== null && validMax !== undefined && value > validMax)) return [noUpdate, noUpdate];
    var position = fromBox(value);
    if (!isFinite(position)) return [noUpdate, noUpdate];
    return [Math.min(Math.max(position, min), max), noUpdate];
  }

  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    losslab: {
      syncLinear: function (sliderValue, textValue, min, max, validMin, validMax) {
        return sync(sliderValue, textValue, min, max, validMin, validMax,
          function (v) { return v; }, function (v) { return v; });
      },
      syncLog10: function (sliderValue, textValue, min, max, validMin, validMax) {
        return sync(sliderValue, textValue, min, max, validMin, validMax,
          function (v) { return Math.pow(10, v); },
          function (v) { return v > 0 ? Math.log10(v) : NaN; });
      },
      replaceQuery: function (query) {
        if (typeof query === "string" && query.charAt(0) === "?" && window.location.search !== query) {
          window.history.replaceState(window.history.state, "", window.location.pathname + query);
        }
      },
    },
  });

  /* ---- text boxes: Enter applies at once, a pause in typing applies too ----
     The boxes use debounce=True (Dash applies them on Enter or blur). Dash 4's timed
     debounce would ignore Enter, so the pause is handled here: after IDLE_MS without
     typing, the box gets the same Enter a user would press. */
  var IDLE_MS = 350;
  var pending = new WeakMap();

  function pressEnter(box) {
    if (!box.isConnected) return;
    var enter = new KeyboardEvent("keypress", { key: "Enter", code: "Enter", bubbles: true });
    // Chromium ignores keyCode/charCode in the constructor; React needs them to see a keypress.
    ["keyCode", "charCode", "which"].forEach(function (name) {
      Object.defineProperty(enter, name, { get: function () { return 13; } });
    });
    box.dispatchEvent(enter);
  }

  document.addEventListener("input", function (event) {
    var box = event.target;
    if (!box.closest || !box.closest(".number-box, .logits-box")) return;  // the class is on the wrapper
    clearTimeout(pending.get(box));
    pending.set(box, setTimeout(function () { pressEnter(box); }, IDLE_MS));
  }, true);

  document.addEventListener("keypress", function (event) {
    if (event.key === "Enter" && event.isTrusted) clearTimeout(pending.get(event.target));
  }, true);

  /* ---- linked charts ---------------------------------------------------- */

  function plotOf(graph) {
    return graph.classList.contains("js-plotly-plot") ? graph : graph.querySelector(".js-plotly-plot");
  }

  function partnersOf(plot) {
    var group = plot.closest(".linked-charts");
    if (!group) return [];
    return Array.prototype.filter.call(group.querySelectorAll(".js-plotly-plot"), function (other) {
      return other !== plot;
    });
  }

  function subplotsOf(plot) {
    var layout = plot._fullLayout || {};
    var cartesian = (layout._subplots || {}).cartesian;
    return cartesian && cartesian.length ? cartesian : ["xy"];
  }

  /* A zoom or pan of any x axis (xaxis, xaxis2, ... all match in one-panel-per-loss
     figures) as the relayout that moves a partner's main x axis, or null. */
  function xRangeUpdate(change) {
    var keys = Object.keys(change);
    for (var i = 0; i < keys.length; i++) {
      var match = /^(xaxis\d*)\.(range\[0\]|range|autorange)$/.exec(keys[i]);
      if (!match) continue;
      var axis = match[1];
      if (match[2] === "range[0]") return { "xaxis.range": [change[axis + ".range[0]"], change[axis + ".range[1]"]] };
      if (match[2] === "range" && Array.isArray(change[keys[i]])) return { "xaxis.range": change[keys[i]] };
      if (match[2] === "autorange" && change[keys[i]]) return { "xaxis.autorange": true };
    }
    return null;
  }

  function sameRange(plot, update) {
    var axis = (plot._fullLayout || {}).xaxis;
    if (!axis) return false;
    if (update["xaxis.autorange"]) return axis.autorange === true;
    var wanted = update["xaxis.range"];
    return !axis.autorange && Array.isArray(axis.range) &&
      Math.abs(axis.range[0] - wanted[0]) < 1e-12 && Math.abs(axis.range[1] - wanted[1]) < 1e-12;
  }

  /* A click moves the current prediction, but the two clicks of a double-click (which resets the
     zoom) must not: a click is reported to the server (via the view's click store) only once
     DOUBLE_CLICK_MS have passed without a double-click. Plotly fires plotly_doubleclick just
     before the second plotly_click, so clicks right after a double-click are ignored too. */
  var DOUBLE_CLICK_MS = 320;
  var pendingClick = null;
  var ignoreClicksUntil = 0;

  function reportClick(plot, x) {
    var group = plot.closest("[data-click-store]");
    var setProps = (window.dash_clientside || {}).set_props;
    if (!group || typeof setProps !== "function") return;
    setProps(group.getAttribute("data-click-store"), { data: { points: [{ x: x }], at: Date.now() } });
  }

  function watchClicks(plot) {
    plot.on("plotly_click", function (event) {
      if (Date.now() < ignoreClicksUntil || !event || !event.points || !event.points.length) return;
      var x = event.points[0].x;
      clearTimeout(pendingClick);
      pendingClick = setTimeout(function () { reportClick(plot, x); }, DOUBLE_CLICK_MS);
    });
    plot.on("plotly_doubleclick", function () {
      clearTimeout(pendingClick);
      ignoreClicksUntil = Date.now() + DOUBLE_CLICK_MS;
    });
  }

  function link(plot) {
    if (plot.dataset.losslabLinked === "1" || typeof plot.on !== "function") return;
    plot.dataset.losslabLinked = "1";
    watchClicks(plot);
    plot.on("plotly_hover", function (event) {
      if (plot.dataset.losslabEcho === "1" || !event || !event.points || !event.points.length) return;
      var x = event.points[0].x;
      partnersOf(plot).forEach(function (other) {
        other.dataset.losslabEcho = "1";
        try { window.Plotly.Fx.hover(other, { xval: x }, subplotsOf(other)); } catch (e) { /* not drawn yet */ }
        other.dataset.losslabEcho = "0";
      });
    });
    plot.on("plotly_unhover", function () {
      if (plot.dataset.losslabEcho === "1") return;
      partnersOf(plot).forEach(function (other) { window.Plotly.Fx.unhover(other); });
    });
    plot.on("plotly_relayout", function (change) {
      if (plot.dataset.losslabEcho === "1" || !change) return;
      var update = xRangeUpdate(change);
      if (!update) return;
      // A GUI-style relayout: Plotly then keeps the partner's zoom across figure updates
      // (uirevision), as it does for the chart the user dragged.
      var relayout = window.Plotly._guiRelayout || window.Plotly.relayout;
      partnersOf(plot).forEach(function (other) {
        if (sameRange(other, update)) return;  // already there: this breaks the echo loop
        other.dataset.losslabEcho = "1";
        Promise.resolve(relayout(other, update)).finally(function () {
          other.dataset.losslabEcho = "0";
        });
      });
    });
  }

  function linkAll() {
    document.querySelectorAll(".linked-charts .js-plotly-plot").forEach(link);
    nameSliders();
  }

  /* dcc.Slider takes no ARIA props: give each slider handle its control's label as its
     accessible name, so screen readers announce "Huber delta δ" rather than "slider". */
  function nameSliders() {
    document.querySelectorAll(".control [role=slider]:not([aria-label])").forEach(function (handle) {
      var label = handle.closest(".control").querySelector(".control-label");
      if (label) handle.setAttribute("aria-label", label.textContent);
    });
  }

  new MutationObserver(linkAll).observe(document.documentElement, { childList: true, subtree: true });
  document.addEventListener("DOMContentLoaded", linkAll);
})();
