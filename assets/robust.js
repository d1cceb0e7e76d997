/*
 * The Robust regression view in the browser: a loss parameter's slider moves the fits with no
 * round trip, and a hovered point is shown on every chart.
 *
 * Motion. When δ, τ, c or α changes, the server also sends (#robust-sweep, JSON) the exact core
 * fits of the losses that parameter shapes at every stop of its slider: slopes, intercepts and
 * each point's influence per stop, under a token naming everything else they depend on (data,
 * other parameters, losses). #robust-fit-state says what the charts show (each parameter's
 * value and current token). While the slider's handle (aria-valuenow) sits on a stop and the
 * tokens match, that stop's lines (ŷ = a·x + b), residuals (ŷ − y) and influence bars replace
 * the drawn ones (Plotly.react on copies: Dash's own figure is untouched). A reply from the
 * server redraws the charts; if the handle has moved on since, its stop is shown again, so a
 * late reply never pulls the lines back. Off the stops (a typed value) the server draws alone.
 *
 * Hover. Hovering a point, its line values or its bars (data and influence charts, which
 * losslab.js links by x) also shows its residuals and marks it on the loss-curve chart; hovering
 * those shows it on the others. Programmatic hovers set data-losslab-echo, as losslab.js does,
 * so no chart answers its own echo.
 */
(function () {
  "use strict";

  var DATA = "robust-loss-graph";
  var INFLUENCE = "robust-grad-graph";
  var RESIDUALS = "robust-residual-graph";
  var CURVE = "robust-curve-graph";
  var SWEEP = "robust-sweep";
  var STATE = "robust-fit-state";
  var MOVING = [DATA, INFLUENCE, RESIDUALS];  // the charts a frame redraws
  var parsed = {};   // element id -> {text, value}: JSON parsed once per text
  var shown = "server";  // what the charts show: "server", or the frame key last applied
  var pending = false;

  function plotOf(graphId) {
    return document.querySelector("#" + graphId + " .js-plotly-plot");
  }

  function decode(typed) {
    var binary = window.atob(typed.bdata);
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return new Float64Array(bytes.buffer);
  }

  function prepareSweep(sweep) {
    if (!sweep || !sweep.parameter || !sweep.x) return null;
    sweep.xs = decode(sweep.x);
    sweep.ys = decode(sweep.y);
    Object.keys(sweep.losses || {}).forEach(function (key) {
      sweep.losses[key].pull = decode(sweep.losses[key].influence);
    });
    return sweep;
  }

  function readJSON(elementId, prepare) {
    var element = document.getElementById(elementId);
    var text = element ? element.textContent : "";
    var slot = parsed[elementId];
    if (slot && slot.text === text) return slot.value;
    var value = null;
    try { value = text ? JSON.parse(text) : null; } catch (e) { value = null; }
    if (value && prepare) value = prepare(value);
    parsed[elementId] = { text: text, value: value };
    return value;
  }

  function sliderPosition(parameter) {
    var handle = document.querySelector("#robust-" + parameter + "-slider [role=slider]");
    var position = handle ? Number(handle.getAttribute("aria-valuenow")) : NaN;
    return isFinite(position) ? position : NaN;
  }

  /* The stop the handle sits on, or -1 (between stops: a typed value). */
  function stopAt(sweep, position) {
    if (!isFinite(position)) return -1;
    var k = Math.round((position - sweep.positions[0]) / sweep.step);
    if (k < 0 || k >= sweep.positions.length) return -1;
    return Math.abs(sweep.positions[k] - position) <= 1e-6 * sweep.step ? k : -1;
  }

  /* The y of a loss's trace on one chart at stop k, or null. */
  function frameY(graphId, sweep, loss, k) {
    var slope = loss.slope[k], intercept = loss.intercept[k];
    if (typeof slope !== "number" || typeof intercept !== "number") return null;
    var n = sweep.xs.length, y = new Array(n);
    if (graphId === INFLUENCE) return Array.prototype.slice.call(loss.pull.subarray(k * n, (k + 1) * n));
    for (var i = 0; i < n; i++) {
      var fitted = slope * sweep.xs[i] + intercept;  // as NumPy computes it: same operations, same order
      y[i] = graphId === RESIDUALS ? fitted - sweep.ys[i] : fitted;
    }
    return y;
  }

  function applyFrame(sweep, k) {
    MOVING.forEach(function (graphId) {
      var plot = plotOf(graphId);
      if (!plot || !plot.data || !plot.layout) return;
      var changed = false;
      var data = plot.data.map(function (trace) {
        var loss = sweep.losses[trace.meta];
        var y = loss ? frameY(graphId, sweep, loss, k) : null;
        if (!y) return trace;
        changed = true;
        return Object.assign({}, trace, { y: y });
      });
      if (!changed) return;
      plot._robustFrame = data;  // afterplot with this data is ours, not a reply from the server
      Promise.resolve(window.Plotly.react(plot, data, plot.layout)).catch(function () { /* a newer draw won */ });
    });
    window.__robustFrames = (window.__robustFrames || 0) + 1;  // read by the tests
  }

  function setPreviewing(on) {
    var view = document.querySelector(".view-robust");
    if (view) view.classList.toggle("robust-previewing", on);
  }

  /* Show the stop under the slider handle when the charts show anything else. */
  function reconcile() {
    pending = false;
    var sweep = readJSON(SWEEP, prepareSweep);
    var state = readJSON(STATE);
    if (!sweep || !state || !state.tokens) return;
    var parameter = sweep.parameter;
    if (!sweep.token || sweep.token !== state.tokens[parameter]) { setPreviewing(false); return; }
    var k = stopAt(sweep, sliderPosition(parameter));
    if (k < 0) { setPreviewing(false); return; }
    var confirmed = sweep.values[k] === state.values[parameter];
    var key = parameter + "|" + sweep.token + "|" + k;
    if ((shown === "server" && confirmed) || shown === key) { setPreviewing(!confirmed); return; }
    applyFrame(sweep, k);
    shown = key;
    setPreviewing(!confirmed);
  }

  function schedule() {
    if (pending) return;
    pending = true;
    window.requestAnimationFrame(reconcile);
  }

  /* ---- hover: one point on every chart ---------------------------------- */

  function traceIndex(plot, meta) {
    var data = (plot && plot.data) || [];
    for (var i = 0; i < data.length; i++) if (data[i].meta === meta) return i;
    return -1;
  }

  function echoHover(plot, target) {
    if (!plot || !plot._fullLayout) return;
    plot.dataset.losslabEcho = "1";
    try { window.Plotly.Fx.hover(plot, target); } catch (e) { /* not drawn yet */ }
    plot.dataset.losslabEcho = "0";
  }

  function echoUnhover(plot) {
    if (!plot || !plot._fullLayout) return;
    plot.dataset.losslabEcho = "1";
    try { window.Plotly.Fx.unhover(plot); } catch (e) { /* not drawn yet */ }
    plot.dataset.losslabEcho = "0";
  }

  /* Point i's x, from the data chart's points. */
  function pointX(i) {
    var plot = plotOf(DATA);
    var trace = plot && plot._fullData && plot._fullData[traceIndex(plot, "data")];
    return trace && trace.x && i < trace.x.length ? trace.x[i] : null;
  }

  function hoverPoint(source, i) {
    var curve = plotOf(CURVE);
    if (source !== CURVE) {
      var marks = traceIndex(curve, "residuals");
      if (marks >= 0) echoHover(curve, [{ curveNumber: marks, pointNumber: i }]);
    }
    var x = pointX(i);
    if (x === null) return;
    if (source !== RESIDUALS) echoHover(plotOf(RESIDUALS), { xval: x });
    if (source === RESIDUALS || source === CURVE) {
      var data = plotOf(DATA);
      var points = traceIndex(data, "data");
      if (points >= 0) echoHover(data, [{ curveNumber: points, pointNumber: i }]);
      echoHover(plotOf(INFLUENCE), { xval: x });
    }
  }

  function watchHover(graphId, plot) {
    plot.on("plotly_hover", function (event) {
      if (plot.dataset.losslabEcho === "1" || !event || !event.points || !event.points.length) return;
      // A point's own marker, line value or bar: on the curve chart only the residual marks are points.
      var point = event.points.find(function (p) {
        var meta = p.data && p.data.meta;
        return graphId === CURVE ? meta === "residuals" : meta !== "true";
      });
      if (point && typeof point.pointNumber === "number") hoverPoint(graphId, point.pointNumber);
    });
    plot.on("plotly_unhover", function () {
      if (plot.dataset.losslabEcho === "1") return;
      [DATA, INFLUENCE, RESIDUALS, CURVE].forEach(function (other) {
        if (other !== graphId) echoUnhover(plotOf(other));
      });
    });
  }

  /* ---- wiring ------------------------------------------------------------ */

  function watch() {
    [DATA, INFLUENCE, RESIDUALS, CURVE].forEach(function (graphId) {
      var plot = plotOf(graphId);
      if (!plot || plot.dataset.robustWatched === "1" || typeof plot.on !== "function") return;
      plot.dataset.robustWatched = "1";
      watchHover(graphId, plot);
      if (MOVING.indexOf(graphId) === -1) return;
      plot.on("plotly_afterplot", function () {
        if (plot._robustFrame && plot.data === plot._robustFrame) return;  // our own frame
        shown = "server";
        schedule();
      });
    });
  }

  function inside(node, id) {
    var element = node && (node.nodeType === 1 ? node : node.parentElement);
    return Boolean(element && element.closest && element.closest("#" + id));
  }

  new MutationObserver(function (mutations) {
    if (!document.querySelector(".view-robust")) return;
    watch();
    for (var i = 0; i < mutations.length; i++) {
      var target = mutations[i].target;
      if (mutations[i].type === "attributes" || inside(target, SWEEP) || inside(target, STATE)) {
        schedule();
        return;
      }
    }
  }).observe(document.documentElement, {
    childList: true, subtree: true, characterData: true, attributes: true, attributeFilter: ["aria-valuenow"],
  });
})();
