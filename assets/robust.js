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
 * Moving points: see "moving points" below.
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
    var value = state.values[parameter];
    var ends = [sweep.values[0], sweep.values[sweep.values.length - 1]];
    if (value < Math.min(ends[0], ends[1]) || value > Math.max(ends[0], ends[1])) {
      // a typed value past the slider's ends: the handle rests on the nearest stop, which is not the value
      setPreviewing(false);
      return;
    }
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

  /* ---- moving points: drag on the data chart, or index + x + y typed --------
   *
   * A pointer pressed within a few pixels of a point (the data trace, meta "data") drags it: the point
   * follows the pointer (Plotly.restyle on a copy of the trace's x and y; Dash's figure is untouched)
   * and Plotly's own zoom drag is not started (pointerdown's default prevented: no mouse events follow).
   * On release the moves, as index:x:y;..., go to the "Moved points" box (set_props): the server
   * refits every loss with the core and redraws, and the URL keeps the moves. */

  var MOVED_INPUT = "robust-moved-input";
  var GRAB_PIXELS = 12;

  function dataTrace(plot) {
    var index = traceIndex(plot, "data");
    return index >= 0 && plot._fullData ? { index: index, full: plot._fullData[index] } : null;
  }

  function plotArea(plot) {
    var drag = plot.querySelector(".nsewdrag");
    return drag ? drag.getBoundingClientRect() : null;
  }

  function nearestPoint(plot, clientX, clientY) {
    var trace = dataTrace(plot), area = plotArea(plot);
    if (!trace || !area || !plot._fullLayout) return -1;
    var xa = plot._fullLayout.xaxis, ya = plot._fullLayout.yaxis, best = -1, bestDistance = GRAB_PIXELS;
    for (var i = 0; i < trace.full.x.length; i++) {
      var dx = area.left + xa.l2p(trace.full.x[i]) - clientX, dy = area.top + ya.l2p(trace.full.y[i]) - clientY;
      var distance = Math.sqrt(dx * dx + dy * dy);
      if (distance <= bestDistance) { best = i; bestDistance = distance; }
    }
    return best;
  }

  function shortNumber(value) {
    return String(Number(value.toPrecision(6)));
  }

  /* The moves the charts show (from the server), with point i at (x, y). */
  function movesWith(i, x, y) {
    var state = readJSON(STATE) || {};
    var moves = (state.moved || []).filter(function (m) { return m[0] !== i; });
    if (i !== null) moves.push([i, x, y]);
    moves.sort(function (a, b) { return a[0] - b[0]; });
    return moves.map(function (m) { return m.join(":"); }).join(";");
  }

  function sendMoves(text) {
    var setProps = (window.dash_clientside || {}).set_props;
    if (typeof setProps === "function") setProps(MOVED_INPUT, { value: text });
  }

  function startDrag(plot, event) {
    if (event.button !== 0 || !plot._fullLayout) return;
    var i = nearestPoint(plot, event.clientX, event.clientY);
    if (i < 0) return;
    event.preventDefault();
    event.stopPropagation();
    var trace = dataTrace(plot), area = plotArea(plot);
    var xa = plot._fullLayout.xaxis, ya = plot._fullLayout.yaxis;
    var xs = Array.prototype.slice.call(trace.full.x), ys = Array.prototype.slice.call(trace.full.y);
    var moved = false;
    plot.classList.add("robust-dragging");
    function place(e) {
      xs[i] = xa.p2l(e.clientX - area.left);
      ys[i] = ya.p2l(e.clientY - area.top);
      moved = true;
      window.Plotly.restyle(plot, { x: [xs.slice()], y: [ys.slice()] }, [trace.index]);
    }
    function move(e) { if (e.pointerId === event.pointerId) { e.preventDefault(); place(e); } }
    function release(e) {
      if (e.pointerId !== event.pointerId) return;
      window.removeEventListener("pointermove", move, true);
      window.removeEventListener("pointerup", release, true);
      window.removeEventListener("pointercancel", release, true);
      plot.classList.remove("robust-dragging");
      if (e.type === "pointerup") place(e);
      if (!moved) return;
      window.__robustDrops = (window.__robustDrops || 0) + 1;  // read by the tests
      sendMoves(movesWith(i, shortNumber(xs[i]), shortNumber(ys[i])));
    }
    window.addEventListener("pointermove", move, true);
    window.addEventListener("pointerup", release, true);
    window.addEventListener("pointercancel", release, true);
  }

  function setBox(id, value) {
    var box = document.getElementById(id);
    if (!box) return;
    var setter = Object.getOwnPropertyDescriptor(window.HTMLInputElement.prototype, "value").set;
    setter.call(box, value);
    box.dispatchEvent(new Event("input", { bubbles: true }));
  }

  function boxValue(id) {
    var box = document.getElementById(id);
    return box ? box.value.trim() : "";
  }

  /* A point index in plain digits, the only form moved at once in the browser (Number() alone also reads
     0x3); the server decides on any other text it accepts (1e1, 3.0) and the point follows its answer. */
  function wholeNumber(text) {
    return /^\+?\d+$/.test(text) ? Number(text) : NaN;
  }

  /* Keyboard: a point's index fills its current x and y; Move (or Enter in a box) sends them. */
  function pointChosen() {
    var i = wholeNumber(boxValue("robust-move-point"));
    var plot = plotOf(DATA), trace = plot && dataTrace(plot);
    if (!trace || !isFinite(i) || i < 0 || i >= trace.full.x.length || i !== Math.floor(i)) return;
    setBox("robust-move-x", shortNumber(trace.full.x[i]));
    setBox("robust-move-y", shortNumber(trace.full.y[i]));
  }

  function movePointTyped() {
    var index = boxValue("robust-move-point"), x = boxValue("robust-move-x"), y = boxValue("robust-move-y");
    var i = wholeNumber(index);
    // a bad value (an empty index too) goes to the server as typed, which answers with a message under the box
    sendMoves(isFinite(i) && i === Math.floor(i) && i >= 0 ? movesWith(i, x, y) : movesWith(null) + ";" +
              index + ":" + x + ":" + y);
  }

  document.addEventListener("click", function (event) {
    var target = event.target && event.target.closest ? event.target.closest("button") : null;
    if (!target) return;
    if (target.id === "robust-move-button") movePointTyped();
    if (target.id === "robust-reset-points") sendMoves("");
  });
  document.addEventListener("change", function (event) {
    if (event.target && event.target.id === "robust-move-point") pointChosen();
  });
  document.addEventListener("keydown", function (event) {
    var id = event.target && event.target.id;
    if (event.key === "Enter" && (id === "robust-move-point" || id === "robust-move-x" || id === "robust-move-y")) {
      if (id === "robust-move-point") pointChosen();
      else movePointTyped();
    }
  });

  /* ---- wiring ------------------------------------------------------------ */

  function watch() {
    [DATA, INFLUENCE, RESIDUALS, CURVE].forEach(function (graphId) {
      var plot = plotOf(graphId);
      if (!plot || plot.dataset.robustWatched === "1" || typeof plot.on !== "function") return;
      plot.dataset.robustWatched = "1";
      watchHover(graphId, plot);
      if (graphId === DATA) {
        plot.addEventListener("pointerdown", function (event) { startDrag(plot, event); }, true);
      }
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
