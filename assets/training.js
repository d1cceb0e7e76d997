/*
 * The Training view's playback, in the browser alone (no server request).
 *
 * The server sends each run whole: every trace holds the exact arrays of the
 * NumPy core, and layout.meta = {run, steps} names the run. A playback bar
 * (.playback, data-graphs = the ids of the charts it drives) reveals the
 * first k steps of every curve with Plotly.animate, moves the step markers
 * to step k and shows a divergence cross once its step is reached. Its full
 * arrays are read once per run (when layout.meta.run changes); k = T shows
 * them all again. A new run from the server stops playback and shows it whole.
 *
 * Trace roles (meta): a loss key is a curve or path ("fd:<key>", the gradient
 * check's finite differences, is a curve too and is revealed with it), "step" the playback
 * markers (customdata: the index of the trace each point follows), "diverged"
 * the divergence crosses (customdata: the step of divergence); other roles
 * ("surface", "start", "minimum") are left alone.
 *
 * A click on a surface in .training-landscape writes its (w, b) into the
 * start boxes named by data-start-w / data-start-b, as if typed.
 */
(function () {
  "use strict";

  var FRAME_MS = 60;
  var FRAMES = 150;  // a whole run plays in about FRAMES frames (at least one step a frame)
  var FIXED_ROLES = { surface: true, start: true, minimum: true, marker: true };
  var ANIMATION = { mode: "immediate", transition: { duration: 0 }, frame: { duration: 0, redraw: false } };
  var bars = {};  // playback state by bar id

  function plotOf(graphId) {
    var graph = document.getElementById(graphId);
    if (!graph) return null;
    return graph.classList.contains("js-plotly-plot") ? graph : graph.querySelector(".js-plotly-plot");
  }

  function runOf(plot) {
    var meta = plot && plot.layout && plot.layout.meta;
    return meta && typeof meta === "object" ? meta : null;
  }

  function toArray(values) {
    return values ? Array.prototype.slice.call(values) : [];
  }

  /* The full arrays of a plot's playback traces, read while the figure is still as the server sent it. */
  function snapshot(plot) {
    var items = [];
    (plot._fullData || []).forEach(function (trace) {
      var role = trace.meta;
      if (typeof role !== "string" || FIXED_ROLES[role]) return;
      var y = toArray(trace.y);
      var x = trace.x ? toArray(trace.x) : y.map(function (_, i) { return trace.x0 + i * trace.dx; });
      items.push({
        index: trace.index,
        role: role === "step" || role === "diverged" ? role : "curve",
        x: x,
        y: y,
        customdata: toArray(trace.customdata),
      });
    });
    var run = runOf(plot);
    return { run: run.run, steps: Number(run.steps) || 0, items: items };
  }

  function lastFinite(y, upTo) {
    for (var i = Math.min(upTo, y.length - 1); i >= 0; i--) {
      if (typeof y[i] === "number" && isFinite(y[i])) return i;
    }
    return -1;
  }

  /* x and y of every playback trace of one plot at step k. */
  function framesAt(snap, k) {
    var byIndex = {};
    snap.items.forEach(function (item) { byIndex[item.index] = item; });
    var data = [], indices = [];
    snap.items.forEach(function (item) {
      var x = [], y = [];
      if (item.role === "curve") {
        x = item.x.slice(0, k + 1);
        y = item.y.slice(0, k + 1);
      } else if (item.role === "step") {
        item.customdata.forEach(function (followed) {
          var curve = byIndex[followed];
          var i = curve ? lastFinite(curve.y, k) : -1;
          if (i < 0) return;
          x.push(curve.x[i]);
          y.push(curve.y[i]);
        });
      } else {
        item.customdata.forEach(function (step, j) {
          if (step <= k) { x.push(item.x[j]); y.push(item.y[j]); }
        });
      }
      data.push({ x: x, y: y });
      indices.push(item.index);
    });
    return { data: data, indices: indices };
  }

  /* ---- one playback bar ---------------------------------------------------- */

  function barState(bar) {
    var state = bars[bar.id];
    if (!state) {
      state = bars[bar.id] = { k: 0, steps: 0, playing: false, timer: null, snaps: {} };
    }
    return state;
  }

  /* The drawn charts a bar drives, by graph id. */
  function graphsOf(bar) {
    return (bar.getAttribute("data-graphs") || "").split(/\s+/).filter(Boolean);
  }

  /* Read any new run from the charts; a new run stops playback and is shown whole. */
  function refresh(bar) {
    var state = barState(bar);
    var fresh = false;
    graphsOf(bar).forEach(function (id) {
      var plot = plotOf(id);
      if (!plot || !plot._fullData || !runOf(plot)) return;
      var known = state.snaps[id];
      if (!known || known.plot !== plot || known.run !== runOf(plot).run) {
        state.snaps[id] = snapshot(plot);
        state.snaps[id].plot = plot;
        fresh = true;
      }
    });
    if (fresh) {
      stop(bar);
      state.steps = 0;
      Object.keys(state.snaps).forEach(function (id) {
        state.steps = Math.max(state.steps, state.snaps[id].steps);
      });
      state.k = state.steps;
      showPosition(bar);
    }
    return state;
  }

  function showPosition(bar) {
    var state = barState(bar);
    var slider = bar.querySelector("input[type=range]");
    if (slider) {
      slider.max = String(state.steps);
      slider.value = String(state.k);
      slider.setAttribute("aria-valuetext", "step " + state.k + " of " + state.steps);
    }
    var label = bar.querySelector(".playback-label");
    if (label) label.textContent = "step " + state.k + " of " + state.steps;
    bar.classList.toggle("is-playing", state.playing);
  }

  function render(bar) {
    var state = barState(bar);
    showPosition(bar);
    var done = [];
    Object.keys(state.snaps).forEach(function (id) {
      var snap = state.snaps[id];
      if (!snap.plot.isConnected || !snap.items.length) return;
      var frame = framesAt(snap, state.k);
      // animate without a redraw recomputes only these traces and keeps the axes where they are
      // (a restyle recomputes and redraws everything). It drops the layer of any trace type that
      // cannot animate, such as contours: so the paths are drawn in their own figure.
      done.push(window.Plotly.animate(snap.plot, { data: frame.data, traces: frame.indices }, ANIMATION)
        .catch(function () { /* interrupted by a newer frame, which shows instead */ }));
    });
    return Promise.all(done);
  }

  function stop(bar) {
    var state = barState(bar);
    state.playing = false;
    clearTimeout(state.timer);
    state.timer = null;
    bar.classList.remove("is-playing");
  }

  function tick(bar) {
    var state = barState(bar);
    if (!state.playing) return;
    var stride = Math.max(1, Math.round(state.steps / FRAMES));
    state.k = Math.min(state.steps, state.k + stride);
    if (state.k >= state.steps) state.playing = false;
    render(bar).then(function () {
      if (state.playing) state.timer = setTimeout(function () { tick(bar); }, FRAME_MS);
    }, function () { stop(bar); });
  }

  var actions = {
    play: function (bar, state) {
      if (state.playing) return;
      state.playing = true;
      if (state.k < state.steps) {
        tick(bar);
        return;
      }
      state.k = 0;  // a finished run plays again from the start
      render(bar).then(function () {
        if (state.playing) state.timer = setTimeout(function () { tick(bar); }, FRAME_MS);
      });
    },
    pause: function (bar) {
      stop(bar);
      showPosition(bar);
    },
    step: function (bar, state) {
      stop(bar);
      state.k = state.k >= state.steps ? 0 : state.k + 1;
      render(bar);
    },
  };

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest(".playback [data-action]");
    if (!button) return;
    var bar = button.closest(".playback");
    var state = refresh(bar);
    var action = actions[button.getAttribute("data-action")];
    if (action && state.steps > 0) action(bar, state);
  });

  document.addEventListener("input", function (event) {
    var slider = event.target;
    if (slider.type !== "range" || !slider.closest) return;
    var bar = slider.closest(".playback");
    if (!bar) return;
    var state = refresh(bar);
    stop(bar);
    state.k = Math.max(0, Math.min(state.steps, Math.round(Number(slider.value))));
    render(bar);
  });

  /* A new figure from the server: show the new run whole, with the bar at its last step. */
  function watch(plot) {
    if (plot.dataset.trainingWatched === "1" || typeof plot.on !== "function") return;
    plot.dataset.trainingWatched = "1";
    plot.on("plotly_afterplot", function () {
      document.querySelectorAll(".playback").forEach(function (bar) {
        if (graphsOf(bar).some(function (id) { return plotOf(id) === plot; })) refresh(bar);
      });
    });
    if (plot.closest(".training-landscape")) plot.on("plotly_click", function (event) { setStart(plot, event); });
  }

  /* ---- a click on a surface sets the start point --------------------------- */

  function pressEnter(box) {
    var enter = new KeyboardEvent("keypress", { key: "Enter", code: "Enter", bubbles: true });
    // Chromium ignores keyCode/charCode in the constructor; React needs them to see a keypress.
    ["keyCode", "charCode", "which"].forEach(function (name) {
      Object.defineProperty(enter, name, { get: function () { return 13; } });
    });
    box.dispatchEvent(enter);
  }

  function typeInto(box, text) {
    var setter = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, "value").set;
    setter.call(box, text);
    box.dispatchEvent(new Event("input", { bubbles: true }));
  }

  function setStart(plot, event) {
    var section = plot.closest(".training-landscape");
    var mouse = event && event.event;
    var layout = plot._fullLayout;
    var area = plot.querySelector(".nsewdrag");
    if (!section || !mouse || !layout || !area) return;
    var rect = area.getBoundingClientRect();
    var point = [
      [layout.xaxis, mouse.clientX - rect.left, section.getAttribute("data-start-w")],
      [layout.yaxis, mouse.clientY - rect.top, section.getAttribute("data-start-b")],
    ];
    var values = point.map(function (p) {
      var value = p[0].p2l(p[1]);
      var range = p[0].range;
      var low = Math.min(range[0], range[1]), high = Math.max(range[0], range[1]);
      return Math.round(Math.min(Math.max(value, low), high) * 100) / 100;
    });
    if (!values.every(isFinite)) return;
    var boxes = point.map(function (p) { return document.getElementById(p[2]); });
    if (!boxes.every(Boolean)) return;
    boxes.forEach(function (box, i) { typeInto(box, String(values[i])); });
    boxes.forEach(pressEnter);  // both in one tick: one request with the new (w, b)
  }

  function watchAll() {
    document.querySelectorAll(".view-training .js-plotly-plot").forEach(watch);
  }

  new MutationObserver(watchAll).observe(document.documentElement, { childList: true, subtree: true });
  document.addEventListener("DOMContentLoaded", watchAll);
})();
