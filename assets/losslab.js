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

  function sync(sliderValue, textValue, min, max, toBox, fromBox) {
    var noUpdate = window.dash_clientside.no_update;
    var prop = triggeredProp();
    if (prop.indexOf("-slider.") !== -1) {
      if (typeof sliderValue !== "number") return [noUpdate, noUpdate];
      return [noUpdate, roundForBox(toBox(sliderValue))];
    }
    var value = Number(String(textValue).trim());
    if (String(textValue).trim() === "" || !isFinite(value)) return [noUpdate, noUpdate];
    var position = fromBox(value);
    if (!isFinite(position)) return [noUpdate, noUpdate];
    return [Math.min(Math.max(position, min), max), noUpdate];
  }

  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    losslab: {
      syncLinear: function (sliderValue, textValue, min, max) {
        return sync(sliderValue, textValue, min, max, function (v) { return v; }, function (v) { return v; });
      },
      syncLog10: function (sliderValue, textValue, min, max) {
        return sync(sliderValue, textValue, min, max,
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

  function link(plot) {
    if (plot.dataset.losslabLinked === "1" || typeof plot.on !== "function") return;
    plot.dataset.losslabLinked = "1";
    plot.on("plotly_hover", function (event) {
      if (plot.dataset.losslabEcho === "1" || !event || !event.points || !event.points.length) return;
      var x = event.points[0].x;
      partnersOf(plot).forEach(function (other) {
        other.dataset.losslabEcho = "1";
        try { window.Plotly.Fx.hover(other, { xval: x }, "xy"); } catch (e) { /* plot not drawn yet */ }
        other.dataset.losslabEcho = "0";
      });
    });
    plot.on("plotly_unhover", function () {
      if (plot.dataset.losslabEcho === "1") return;
      partnersOf(plot).forEach(function (other) { window.Plotly.Fx.unhover(other); });
    });
    plot.on("plotly_relayout", function (change) {
      if (plot.dataset.losslabEcho === "1" || !change) return;
      var update = {};
      if ("xaxis.range[0]" in change) {
        update["xaxis.range"] = [change["xaxis.range[0]"], change["xaxis.range[1]"]];
      } else if (Array.isArray(change["xaxis.range"])) {
        update["xaxis.range"] = change["xaxis.range"];
      } else if (change["xaxis.autorange"]) {
        update["xaxis.autorange"] = true;
      } else {
        return;
      }
      partnersOf(plot).forEach(function (other) {
        other.dataset.losslabEcho = "1";
        Promise.resolve(window.Plotly.relayout(other, update)).finally(function () {
          other.dataset.losslabEcho = "0";
        });
      });
    });
  }

  function linkAll() {
    document.querySelectorAll(".linked-charts .js-plotly-plot").forEach(link);
  }

  new MutationObserver(linkAll).observe(document.documentElement, { childList: true, subtree: true });
  document.addEventListener("DOMContentLoaded", linkAll);
})();
