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
    var text = String(textValue).trim().replace(/\u2212/g, "-");
    // The server's grammar (controls.DECIMAL_NUMBER): Number() alone also reads 0x1f, 0b11 and 0o7,
    // which the server rejects, so the slider would follow a value the charts never show.
    if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text)) return [noUpdate, noUpdate];
    var value = Number(text);
    if (!isFinite(value)) return [noUpdate, noUpdate];
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
      receiveFamily: receiveFamily,
      replaceQuery: replaceQuery,
      /* A link with settings the page left out (the notice names them) is replaced by the state shown,
         so a link copied from the address bar right away does not pass the bad values on. */
      fixLink: function (query) {
        replaceQuery(query);
        return window.dash_clientside.no_update;
      },
    },
  });


  /* ---- motion: a dragged slider and the ▶ sweep move the charts with no round trip ----
     The server sends, once per slider and state, the charts at every slider position
     (views.base.family: exact core values). A drag (the handle's position) or the sweep's clock
     picks a frame, drawn at the next display refresh (showFrame below); the released value then
     goes to the server as usual, which draws the same numbers and updates the readout. */
  var families = {};      // "view|control" -> the last family received for that slider
  var requested = {};     // "view|control" -> the state last asked for
  var playback = null;    // {view, name, button, k, family, waiting}
  var FRAME_MS = 25;

  function stateKey(query, name) {
    var params = new URLSearchParams(query || "");
    params.delete(name);
    params.delete("present");
    return params.toString();
  }

  /* The view's state as the server last drew it (its URL store), which a family must match
     in every control but the one it moves. */
  function shownQuery(view) {
    try {
      return ((window.dash_component_api.getLayout(view + "-url-sync") || {}).props || {}).data || "";
    } catch (e) { return ""; }
  }

  /* Why the shown state has no frames for this slider (the server said so for this very state), or null. */
  function unsupportedNow(view, name) {
    var family = families[view + "|" + name];
    if (!family || !family.unsupported) return null;
    return requested[view + "|" + name] === stateKey(shownQuery(view), name) ? family.unsupported : null;
  }

  function familyFor(view, name) {
    var family = families[view + "|" + name];
    if (!family || family.unsupported) return null;
    return stateKey(family.query, name) === stateKey(shownQuery(view), name) ? family : null;
  }

  function requestFamily(view, name) {
    var key = stateKey(shownQuery(view), name);
    if (requested[view + "|" + name] === key) return;
    // The view has one family store: an answer still pending for another slider is superseded
    // (Dash keeps only the latest), so that slider may ask again.
    Object.keys(requested).forEach(function (other) {
      var control = other.slice(view.length + 1);
      if (other.indexOf(view + "|") === 0 && control !== name && !familyFor(view, control)) delete requested[other];
    });
    requested[view + "|" + name] = key;
    window.dash_clientside.set_props(view + "-family-request", { data: { control: name, at: Date.now() } });
  }

  function decodeRows(typed) {
    var binary = window.atob(typed.bdata);
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return new Float32Array(bytes.buffer);
  }

  function frameIndex(family, position) {
    var k = Math.round((position - family.positions[0]) / family.step);
    return Math.min(Math.max(k, 0), family.positions.length - 1);
  }

  /* Drawing a frame. Plotly.react would redo the whole figure (defaults, autorange, axes, legend:
     40 to 60 ms for two charts here); Plotly.animate with redraw off re-plots only the traces that
     change, on axes that stay where they are. So for the length of a motion the autoranged axes
     are held at the union of every frame's extent, and handed back to autorange when it ends.
     Frames are drawn at most once per display refresh, each replacing any frame still in
     progress ("immediate"): a hand faster than the charts skips positions instead of queueing them. */
  var ANIMATE = { transition: { duration: 0 }, frame: { duration: 0, redraw: false }, mode: "immediate" };
  var wanted = null;      // {family, k}: the frame the hand or the sweep asks for now
  var drawn = {};         // graphId -> {k, done}: the frame last sent to the chart, settled when drawn
  var held = {};          // graphId -> the axes ("xaxis", "yaxis") held for the current motion
  var refreshPending = false;
  var serverTraces = {};  // graphId -> the server's drawing of the traces a motion replaces (frameData's shape)
  var lastFrame = null;   // {family, k}: the frame the current motion last asked for

  function plotById(graphId) { return document.querySelector("#" + graphId + " .js-plotly-plot"); }

  function showFrame(family, k) {
    wanted = { family: family, k: k };
    lastFrame = wanted;
    if (!refreshPending) {
      refreshPending = true;
      window.requestAnimationFrame(drawWanted);
    }
  }

  function extent(range, values) {
    for (var i = 0; i < values.length; i++) {
      var v = values[i];
      if (v === null || !isFinite(v)) continue;
      if (v < range[0]) range[0] = v;
      if (v > range[1]) range[1] = v;
    }
    return range;
  }

  /* Every frame's x and y extent for one chart (computed once per family), so held axes show
     every frame whole. */
  function familyExtent(graph) {
    if (graph.extent) return graph.extent;
    var x = [Infinity, -Infinity], y = [Infinity, -Infinity];
    graph.curves.forEach(function (curve) {
      extent(y, curve.rows);
      curve.x0.forEach(function (x0, k) { extent(x, [x0, x0 + curve.dx[k] * (curve.points - 1)]); });
    });
    graph.markers.forEach(function (marker) {
      marker.x.forEach(function (xs) { extent(x, [].concat(xs)); });
      marker.y.forEach(function (ys) { extent(y, [].concat(ys)); });
    });
    graph.extent = { xaxis: x, yaxis: y };
    return graph.extent;
  }

  function echoFree(plot, call) {  // a relayout of ours, not the user's: the linked charts must not copy it
    plot.dataset.losslabEcho = "1";
    return Promise.resolve(call()).finally(function () { plot.dataset.losslabEcho = "0"; });
  }

  function holdAxes(plot, graphId, graph) {
    if (held[graphId]) return;
    cancelHandBack(plot);  // this motion holds the axes now; its own end hands them back
    var full = plot._fullLayout, wide = familyExtent(graph), update = {}, axes = [];
    ["xaxis", "yaxis"].forEach(function (name) {
      var axis = full[name];
      if (!axis || axis.autorange === false || axis.type === "log" || !(wide[name][0] <= wide[name][1])) return;
      var now = axis.range, low = Math.min(now[0], wide[name][0]), high = Math.max(now[1], wide[name][1]);
      var pad = name === "yaxis" ? 0.05 * (high - low) : 0;
      update[name + ".range"] = [low < now[0] ? low - pad : now[0], high > now[1] ? high + pad : now[1]];
      axes.push(name);
    });
    held[graphId] = axes;
    heldRanges[graphId] = update;
    if (axes.length) echoFree(plot, function () { return window.Plotly.relayout(plot, update); });
  }

  /* The server's figure for a released value is on its way, and will be drawn whole: the held axes
     go back to autorange in that same draw (see skipRepeatedFigures' react), instead of a relayout
     now and the answer's redraw after it (two full redraws of each chart, the first one delaying
     the request itself). Should no answer come for a chart within HAND_BACK_MS, it is relayouted. */
  var HAND_BACK_MS = 1500;
  var heldRanges = {};  // graphId -> {"xaxis.range": [...], ...}: the ranges a motion set

  function cancelHandBack(plot) {
    var pending = plot.__losslabHandBack;
    if (!pending) return;
    clearTimeout(pending.timer);
    plot.__losslabHandBack = null;
  }

  /* In the figure dcc.Graph is about to draw (the one the server's answer patched: it still carries the
     held ranges, which the motion's relayout wrote into it), the held axes autorange again, unless the
     answer set a range of its own (figures.scalable_y). */
  function handBackIn(plot, figure) {
    var pending = plot.__losslabHandBack, changed = false;
    if (!pending || !figure || !figure.layout) return false;
    cancelHandBack(plot);
    pending.axes.forEach(function (name) {
      var axis = figure.layout[name], mine = pending.ranges[name + ".range"];
      if (!axis || !mine || axis.autorange !== false || !Array.isArray(axis.range) ||
          axis.range[0] !== mine[0] || axis.range[1] !== mine[1]) return;
      axis.autorange = true;
      delete axis.range;
      changed = true;
    });
    return changed;
  }

  function releaseAxes(graphId, answerComing) {
    var axes = held[graphId], plot = plotById(graphId), last = drawn[graphId], ranges = heldRanges[graphId];
    delete held[graphId];
    delete drawn[graphId];
    delete heldRanges[graphId];
    if (!plot || !axes || !axes.length) return;
    if (answerComing) {
      var pending = { axes: axes, ranges: ranges || {} };
      cancelHandBack(plot);
      plot.__losslabHandBack = pending;
      pending.timer = setTimeout(function () {
        if (plot.__losslabHandBack !== pending) return;
        plot.__losslabHandBack = null;
        relayoutAutorange(plot, graphId, axes, last);
      }, HAND_BACK_MS);
      return;
    }
    relayoutAutorange(plot, graphId, axes, last);
  }

  function relayoutAutorange(plot, graphId, axes, last) {
    var update = {};
    axes.forEach(function (name) { update[name + ".autorange"] = true; });
    // After the last frame has settled: autorange is off while a transition runs.
    Promise.resolve(last && last.done).then(function () {
      if (held[graphId]) return;  // a new motion holds them again
      echoFree(plot, function () { return window.Plotly.relayout(plot, update); });
    });
  }

  function frameData(graph, k) {
    var traces = [], data = [];
    graph.curves.forEach(function (curve) {
      var row = curve.row[k];
      traces.push(curve.index);
      data.push({ y: curve.rows.subarray(row * curve.points, (row + 1) * curve.points), x0: curve.x0[k], dx: curve.dx[k] });
    });
    graph.markers.forEach(function (marker) {
      traces.push(marker.index);
      data.push({ x: marker.x[k], y: marker.y[k] });
    });
    return { data: data, traces: traces };
  }

  /* A frame is on the chart when Plotly starts its transition ("plotly_transitioning"): the traces
     are re-plotted in the same task. The chart then carries the frame's value (read by the tests
     beside its data), and the first chart counts the frame. */
  function watchFrames(plot) {
    if (plot.dataset.losslabFrames === "1") return;
    plot.dataset.losslabFrames = "1";
    plot.on("plotly_transitioning", function () {
      var frame = plot.__losslabFrame;
      if (!frame) return;
      plot.__losslabFrame = null;
      plot.setAttribute("data-frame-value", String(frame.value));
      if (!frame.first) return;
      window.__losslabFrames = (window.__losslabFrames || 0) + 1;  // read by the benchmark and the tests
      if (playback && playback.button) playback.button.setAttribute("data-value", String(frame.value));
    });
  }

  function drawWanted() {
    refreshPending = false;
    if (!wanted) return;
    var family = wanted.family, k = wanted.k;
    Object.keys(family.graphs).forEach(function (graphId, i) {
      var plot = plotById(graphId);
      if (!plot || !plot.data || (drawn[graphId] && drawn[graphId].k === k)) return;
      var graph = family.graphs[graphId];
      watchFrames(plot);
      holdAxes(plot, graphId, graph);
      if (!serverTraces[graphId]) serverTraces[graphId] = drawnTraces(plot, graph);
      plot.__losslabFrame = { value: family.values[k], first: i === 0 };
      var done = window.Plotly.animate(plot, frameData(graph, k), ANIMATE).catch(function () { /* replaced */ });
      drawn[graphId] = { k: k, done: done };
    });
  }

  /* The motion is over (released, or the sweep stopped): no more frames; the held axes autorange
     again (also when the server's figure for the final value follows: dcc.Graph keeps the held
     range in its figure prop, so only a relayout hands the axes back). */
  function endMotion() {
    var last = lastFrame, saved = serverTraces;
    wanted = null;
    lastFrame = null;
    serverTraces = {};
    // Ended on the value the server last drew (a sweep stopped, or a slider let go, where it started):
    // no new value goes out, so no answer will replace the frame's float32 curves. Put the server's back.
    var unchanged = !!last && sameNumber(last.family.values[last.k], shownValue(last.family.view, last.family.control));
    if (unchanged) {
      Object.keys(saved).forEach(function (graphId) {
        var plot = plotById(graphId);
        if (!plot || !plot.data) return;
        var done = window.Plotly.animate(plot, saved[graphId], ANIMATE).catch(function () { /* replaced */ });
        drawn[graphId] = { k: -1, done: done };  // the axes autorange after it (releaseAxes)
      });
    }
    Object.keys(held).forEach(function (graphId) { releaseAxes(graphId, !!last && !unchanged); });
  }

  function drawnTraces(plot, graph) {
    var traces = [], data = [];
    graph.curves.forEach(function (curve) {
      var trace = plot.data[curve.index];
      traces.push(curve.index);
      data.push({ y: trace.y, x0: trace.x0, dx: trace.dx });
    });
    graph.markers.forEach(function (marker) {
      var trace = plot.data[marker.index];
      traces.push(marker.index);
      data.push({ x: trace.x, y: trace.y });
    });
    return { data: data, traces: traces };
  }

  function shownValue(view, name) {
    return new URLSearchParams(shownQuery(view)).get(name);
  }

  function sameNumber(value, text) {
    return text !== null && text !== "" && Number(value) === Number(text);
  }

  function parseSliderId(id) {
    var parts = String(id).split("-");
    return { view: parts[0], name: parts.slice(1, -1).join("-") };
  }

  function sameInEveryFrame(values) {
    var first = JSON.stringify(values[0]);
    return values.every(function (value) { return JSON.stringify(value) === first; });
  }

  function receiveFamily(family) {
    if (!family || !family.view) return;
    Object.keys(family.graphs || {}).forEach(function (graphId) {
      var graph = family.graphs[graphId];
      // A chart the slider does not move (its marker in the same place in every frame, e.g. the CTC
      // charts under ε on /sequences) gets no frames: re-plotting it cost as much as a moving chart,
      // and the server's answer after release, the same figure again, then need not be drawn either.
      if (!graph.curves.length && graph.markers.every(function (m) { return sameInEveryFrame(m.x) && sameInEveryFrame(m.y); })) {
        delete family.graphs[graphId];
        return;
      }
      graph.curves.forEach(function (curve) { curve.rows = decodeRows(curve.y); });
    });
    var view = family.view;
    families[view + "|" + family.control] = family;  // an unsupported family is kept too: the slider then works through the server
    if (playback && playback.waiting && playback.view === view && playback.name === family.control) startPlayback();
    // Frames that arrive while the hand holds the handle still are drawn at once, not at its next move.
    if (sliderHeld && heldHandle && heldHandle.isConnected) dragTo(heldHandle);
  }

  // Only a held pointer or a key on a slider is a drag (a slider also moves when its box is typed in).
  var sliderHeld = false;
  var heldHandle = null;  // the handle the held pointer last moved
  document.addEventListener("pointerdown", function (event) {
    sliderHeld = !!(event.target.closest && event.target.closest(".control-slider"));
    heldHandle = null;
  }, true);
  function letGo() {
    if (!sliderHeld) return;
    sliderHeld = false;
    heldHandle = null;
    if (!playback) endMotion();
  }
  document.addEventListener("pointerup", letGo, true);
  document.addEventListener("keydown", function (event) {
    if (event.target.closest && event.target.closest(".control-slider")) sliderHeld = true;
  }, true);
  document.addEventListener("keyup", letGo, true);

  /* Only a slider with a ▶ beside it has precomputed frames; the others go through the server. */
  function hasFrames(slider) {
    return !!document.querySelector(".play-button[data-view='" + slider.view + "'][data-play='" + slider.name + "']");
  }

  /* The drag is read from the handle (its aria-valuenow, the slider's position) as it moves, not
     from a Dash callback on the slider's drag_value: a clientside callback per pointer move cost
     the Dash renderer about 25 ms a move, more than the frame itself. */
  function dragTo(handle) {
    var host = handle.closest(".control-slider");
    var position = Number(handle.getAttribute("aria-valuenow"));
    if (!host || !host.id || !isFinite(position)) return;
    var slider = parseSliderId(host.id);
    if (!hasFrames(slider)) return;
    if (playback) stopPlayback(false);
    var family = familyFor(slider.view, slider.name);
    if (!family) { requestFamily(slider.view, slider.name); return; }
    showFrame(family, frameIndex(family, position));
  }

  /* A pointer over a motion slider asks for its frames already, so a drag that follows has them from
     its first move: a family takes 0.1 to 1.3 s on the server. (Not on keyboard focus: tabbing through
     a page would compute every slider's family; a key press asks for them, as a first drag move does.) */
  function prefetch(event) {
    var host = event.target.closest && event.target.closest(".control-slider");
    if (!host || !host.id) return;
    var slider = parseSliderId(host.id);
    if (!hasFrames(slider)) return;
    if (!playback && !familyFor(slider.view, slider.name)) requestFamily(slider.view, slider.name);
  }
  document.addEventListener("pointerover", prefetch, true);

  new MutationObserver(function (records) {
    if (!sliderHeld) return;
    var moved = null;
    records.forEach(function (record) {
      if (record.target.getAttribute && record.target.getAttribute("role") === "slider") moved = record.target;
    });
    if (moved) { heldHandle = moved; dragTo(moved); }
  }).observe(document.documentElement, { attributes: true, attributeFilter: ["aria-valuenow"], subtree: true });

  function boxOf(view, name) { return document.getElementById(view + "-" + name + "-input"); }

  function startPlayback() {
    var family = familyFor(playback.view, playback.name);
    var reason = unsupportedNow(playback.view, playback.name);
    if (!family && reason) {
      // No frames for this state (a log axis, traces that change across the slider): say so, ▶ again.
      var run = playback;
      stopPlayback(false);
      window.dash_clientside.set_props(run.view + "-" + run.name + "-message",
                                       { children: "No sweep here: " + reason + ". The slider and box still work." });
      return;
    }
    if (!family) return;
    playback.waiting = false;
    var box = boxOf(playback.view, playback.name);
    var current = box ? Number(box.value) : NaN;
    var k = family.values.indexOf(current);
    playback.k = k >= 0 ? k : 0;
    playback.family = family;
    // The sweep runs on the clock (one position per FRAME_MS); the charts show the latest position
    // at each display refresh they can keep up with.
    var began = performance.now(), start = playback.k, run = playback;
    var tick = function (now) {
      if (playback !== run) return;
      var last = family.positions.length - 1, steps = Math.floor((now - began) / FRAME_MS);
      var phase = last > 0 ? (start + steps) % (2 * last) : 0;
      playback.k = phase <= last ? phase : 2 * last - phase;  // there and back
      showFrame(family, playback.k);
      window.requestAnimationFrame(tick);
    };
    window.requestAnimationFrame(tick);
  }

  function stopPlayback(commit) {
    if (!playback) return;
    var stopped = playback;
    playback = null;
    endMotion();
    stopped.button.textContent = "▶";
    stopped.button.setAttribute("aria-pressed", "false");
    stopped.button.removeAttribute("data-value");
    if (commit && stopped.family && stopped.k !== undefined) {
      // The value shown goes to the server like a typed one: the slider, readout and URL follow.
      window.dash_clientside.set_props(stopped.view + "-" + stopped.name + "-input",
                                       { value: String(stopped.family.values[stopped.k]) });
    }
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest(".play-button");
    if (!button) return;
    if (playback && playback.button === button) { stopPlayback(true); return; }
    stopPlayback(true);
    playback = { view: button.getAttribute("data-view"), name: button.getAttribute("data-play"), button: button,
                 waiting: true };
    button.textContent = "■";
    button.setAttribute("aria-pressed", "true");
    if (familyFor(playback.view, playback.name) || unsupportedNow(playback.view, playback.name)) startPlayback();
    else requestFamily(playback.view, playback.name);
  });

  // Any other input stops the sweep where it is (and keeps that value).
  ["pointerdown", "keydown"].forEach(function (type) {
    document.addEventListener(type, function (event) {
      if (!playback || (event.target.closest && event.target.closest(".play-button"))) return;
      stopPlayback(true);
    }, true);
  });

  /* ---- getting results out: the link (chart images: assets/image_export.js) ---- */
  function exportStatus(button, text) {
    var status = button.closest(".export-bar").querySelector(".export-status");
    if (status) status.textContent = text;
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest(".copy-link");
    if (!button) return;
    var link = window.location.href;
    var done = function () { exportStatus(button, "Link copied: " + link); };
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(link).then(done, function () { exportStatus(button, "Copy this link: " + link); });
    } else {
      exportStatus(button, "Copy this link: " + link);
    }
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
  var DOUBLE_CLICK_MS = 450;  // above Plotly's 300 ms double-click window, with room for a busy page
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

  /* ---- one panel per loss on a narrow screen ---------------------------
     The server lays the panels side by side; where they would be narrower than
     PANEL_MIN_WIDTH, they are re-gridded here into rows (2 per row on a phone), and the
     chart grows to fit the rows. Re-applied after every redraw; a no-op when nothing changes. */
  var PANEL_MIN_WIDTH = 170;
  var ROW_HEIGHT = 320;
  var ROW_GAP_PX = 96;  // tick labels and x title of the row above, the panel title of the row below

  function panelAxes(plot) {
    return Object.keys(plot.layout || {}).filter(function (k) { return /^xaxis\d*$/.test(k); }).sort(function (a, b) {
      return (Number(a.slice(5)) || 1) - (Number(b.slice(5)) || 1);
    });
  }

  function gridPanels(plot) {
    var axes = panelAxes(plot);
    var width = plot.getBoundingClientRect().width;
    if (axes.length < 2 || !width) return;
    var perRow = Math.max(1, Math.min(axes.length, Math.floor(width / PANEL_MIN_WIDTH)));
    var rows = Math.ceil(axes.length / perRow);
    var margin = (plot.layout.margin || {});
    var plotHeight = ROW_HEIGHT * rows - (margin.t || 0) - (margin.b || 0);
    var gapX = perRow > 1 ? 0.06 : 0;
    var gapY = rows > 1 ? ROW_GAP_PX / plotHeight : 0;
    var update = {};
    axes.forEach(function (xName, i) {
      var col = i % perRow, row = Math.floor(i / perRow);
      var yName = "y" + xName.slice(1);
      update[xName + ".domain"] = [col / perRow + (col ? gapX / 2 : 0), (col + 1) / perRow - (col < perRow - 1 ? gapX / 2 : 0)];
      update[yName + ".domain"] = [1 - (row + 1) / rows + (row < rows - 1 ? gapY / 2 : 0), 1 - row / rows - (row ? gapY / 2 : 0)];
    });
    var frame = plot.closest(".chart");
    var height = rows > 1 ? ROW_HEIGHT * rows + "px" : "";
    var same = Object.keys(update).every(function (key) {
      var have = key.split(".").reduce(function (o, k) { return o === undefined || o === null ? o : o[k]; }, plot.layout);
      return Array.isArray(have) && Math.abs(have[0] - update[key][0]) < 1e-9 && Math.abs(have[1] - update[key][1]) < 1e-9;
    });
    if (same && (!frame || frame.style.height === height)) return;
    if (frame) {
      frame.style.height = height;
      plot.style.height = height;
    }
    window.Plotly.relayout(plot, update);
  }

  /* A horizontal legend at the figure's bottom edge (figures.curve_layout) that wraps into more
     rows than the bottom margin holds would cover the x tick labels and the x-axis title; Plotly's
     own push for such a legend makes room for the legend alone. The margin becomes AXIS_ROOM (the
     tick labels and the title: figures.AXIS_ROOM) plus the drawn legend's height. */
  var AXIS_ROOM = 70;

  function fitLegend(plot) {
    var full = plot._fullLayout;
    if (!full || !full.showlegend || !full.legend || !plot.layout || !plot.layout.margin) return;
    var legend = full.legend;
    if (legend.orientation !== "h" || legend.yref !== "container" || !(legend._height > 0)) return;
    var need = Math.ceil(AXIS_ROOM + legend._height);
    if (need > (plot.layout.margin.b || 0) + 1) window.Plotly.relayout(plot, { "margin.b": need });
    else growForLegend(plot, need);
  }

  /* On a phone a legend of many rows (precision's five forms, robust's data and fits) left the plot
     area a strip a few pixels tall: the chart grows, beyond the stylesheet's height, until its plot
     area is MIN_PLOT_HEIGHT tall (PHONE_PLOT_HEIGHT on a phone, which scrolls anyway: room for a long
     y-axis title). Not for a chart gridPanels sized into rows of panels. */
  var MIN_PLOT_HEIGHT = 100, PHONE_PLOT_HEIGHT = 160, PHONE_WIDTH = 600;

  function growForLegend(plot, bottom) {
    var frame = plot.closest(".chart"), container = plot.querySelector(".plot-container"), full = plot._fullLayout;
    if (!frame || !container || /px$/.test(frame.style.height)) return;  // gridPanels sized it
    var key = [bottom, full.margin.t, window.innerWidth, window.innerHeight,
               document.documentElement.className].join("|");
    if (plot.__legendKey === key) return;
    plot.__legendKey = key;
    var had = container.style.height;
    container.style.height = "";  // the stylesheet's height
    var base = plot.getBoundingClientRect().height;
    var least = window.innerWidth < PHONE_WIDTH ? PHONE_PLOT_HEIGHT : MIN_PLOT_HEIGHT;
    var extra = Math.ceil(least - (base - full.margin.t - bottom));
    var height = extra > 0 ? base + extra + "px" : "";
    container.style.height = height;
    if (height !== had) window.Plotly.Plots.resize(plot);
  }

  function link(plot) {
    if (plot.dataset.losslabLinked === "1" || typeof plot.on !== "function") return;
    plot.dataset.losslabLinked = "1";
    watchClicks(plot);
    plot.on("plotly_afterplot", function () { gridPanels(plot); fitLegend(plot); });
    gridPanels(plot);
    fitLegend(plot);
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

  /* ---- a figure the server sends again unchanged is not drawn again ------------------------
     Some outputs are sent whole on every change although most changes leave them as they are (the
     CTC charts on /sequences move only with the CTC controls, not with ε). Plotly.react cannot tell
     that arrays are equal by content, so each such answer redrew the chart from scratch (15 to 60 ms
     a chart, all in the same task as the charts that did change). dcc.Graph's call is skipped when
     the figure it passes is, to the byte, the one last passed for that chart, and nothing else has
     drawn on the chart since (a motion frame, a robust preview, a relayout of ours): what is on
     screen is then exactly that figure. */
  var DRAWING_CALLS = ["animate", "restyle", "relayout", "update", "newPlot", "purge", "addTraces",
                       "deleteTraces", "moveTraces", "extendTraces", "prependTraces"];

  function figureKey(figure) {
    try { return JSON.stringify([figure.data, figure.layout, figure.config || null, figure.frames || null]); }
    catch (e) { return null; }
  }

  /* ---- a typed change that only moves curves is drawn without Plotly.react's full redraw ----------
     A typed value sends the same figures with other numbers: the curves' and markers' arrays, the
     marker line, the swept interval's autorange bounds. Plotly.react redraws such a chart whole (the
     legend, titles, margins: 40 to 60 % of its time here). When nothing else in the figure changed
     and every axis autoranges, the new arrays go into the chart's data as they are (the server's exact
     numbers), one Plotly.animate with no traces to move fills Plotly's defaults and recomputes its
     calcdata, and a relayout that autoranges every axis draws axes, curves, markers and shapes: the
     same autorange, the same picture as react's. Anything else (a new loss, a zoomed axis, a held
     motion, an axis with a range of its own) takes Plotly.react. */
  var MOVING_TRACE_KEYS = ["x", "y", "x0", "dx", "text", "customdata", "unplotted"];
  // Plotly writes autorange, range and type back into the layout dcc.Graph keeps (and a Patch then sends
  // them back): those are checked against the chart itself, not against the last figure.
  var MOVING_AXIS_KEYS = ["autorangeoptions", "tickvals", "ticktext", "autorange", "range", "type"];
  var MOVING_LAYOUT_KEYS = ["shapes", "annotations"];
  var AXIS_NAME = /^[xy]axis\d*$/;

  function without(object, keys) {
    var rest = {};
    Object.keys(object || {}).sort().forEach(function (k) { if (keys.indexOf(k) === -1) rest[k] = object[k]; });
    return rest;
  }

  /* What a figure is apart from the values a typed change moves: two figures with the same outline
     differ only in curves, markers, the marker line and the axes' data-driven settings. */
  function outline(figure) {
    try {
      var layout = figure.layout || {};
      return JSON.stringify([
        figure.data.map(function (trace) {
          return [without(trace, MOVING_TRACE_KEYS), MOVING_TRACE_KEYS.filter(function (k) { return k in trace; })];
        }),
        Object.keys(layout).sort().map(function (name) {
          if (MOVING_LAYOUT_KEYS.indexOf(name) !== -1) return [name, (layout[name] || []).length];
          return [name, AXIS_NAME.test(name) ? without(layout[name], MOVING_AXIS_KEYS) : layout[name]];
        }),
        figure.config || null, figure.frames || null]);
    } catch (e) { return null; }
  }

  /* The relayout's own event would make dcc.Graph copy the autoranged axes into its figure prop and
     draw that figure again, and the linked charts copy the x axis: react emits no such event either. */
  function quietly(plot, call) {
    var emit = plot.emit;
    plot.emit = function (name) { return name === "plotly_relayout" ? undefined : emit.apply(this, arguments); };
    return new Promise(function (resolve) { resolve(call()); }).finally(function () { plot.emit = emit; });
  }

  /* How each axis of the chart gets its range in react's place: autorange again where it autoranges now
     and in the figure; the figure's range where the server sets one and the chart still shows the last
     one it set. Null when react must decide (a zoomed axis, one held by a motion, a new axis type). */
  function axisUpdate(plot, figure, lastRanges) {
    var full = plot._fullLayout, layout = figure.layout || {}, update = {};
    var names = Object.keys(full).filter(function (name) { return AXIS_NAME.test(name); });
    var fits = names.every(function (name) {
      var given = layout[name] || {}, axis = full[name];
      if (given.type !== undefined && given.type !== axis.type) return false;
      if (given.autorange === true || (given.autorange === undefined && !("range" in given))) {
        update[name + ".autorange"] = true;
        return axis.autorange === true;
      }
      var last = lastRanges[name];
      if (given.autorange !== false && given.autorange !== undefined) return false;
      if (!Array.isArray(given.range) || !last || axis.autorange !== false ||
          axis.range[0] !== last[0] || axis.range[1] !== last[1]) return false;
      update[name + ".range"] = given.range.slice();
      return true;
    });
    return fits ? update : null;
  }

  /* The ranges the server set in a figure, before Plotly writes its autoranged ones into it. */
  function givenRanges(figure) {
    var ranges = {}, layout = figure.layout || {};
    Object.keys(layout).forEach(function (name) {
      var axis = layout[name];
      if (AXIS_NAME.test(name) && axis && Array.isArray(axis.range) && axis.autorange !== true) ranges[name] = axis.range.slice();
    });
    return ranges;
  }

  function drawMovedCurves(plot, lastRanges, figure, animate, relayout, react) {
    if (!plot._fullLayout || plot._transitioning || plot.__losslabHandBack) return null;
    if (!plot.data || plot.data.length !== figure.data.length) return null;
    var axes = axisUpdate(plot, figure, lastRanges);
    if (!axes) return null;
    figure.data.forEach(function (trace, i) {
      MOVING_TRACE_KEYS.forEach(function (k) { if (k in trace) plot.data[i][k] = trace[k]; });
    });
    var layout = plot.layout;
    MOVING_LAYOUT_KEYS.forEach(function (k) { if (k in figure.layout) layout[k] = figure.layout[k]; });
    Object.keys(plot._fullLayout).forEach(function (name) {
      if (!AXIS_NAME.test(name)) return;
      var axis = layout[name] = layout[name] || {}, given = figure.layout[name] || {};
      ["autorangeoptions", "tickvals", "ticktext"].forEach(function (k) { if (k in given) axis[k] = given[k]; });
    });
    window.__losslabMovedDraws = (window.__losslabMovedDraws || 0) + 1;  // read by the tests
    return new Promise(function (resolve) {
      var superseded = plot.__losslabMove;
      plot.__losslabMove = { figure: figure, axes: axes, done: resolve };
      if (superseded) superseded.done(plot);
      watchMoves(plot, relayout);
      // No traces to animate: Plotly fills its defaults and recomputes calcdata for the new arrays, then
      // says "plotly_transitioning", where the relayout draws (watchMoves), in the same display frame.
      animate(plot, { data: [], traces: [] }, ANIMATE).catch(function () {
        var move = plot.__losslabMove;  // interrupted before its transition: drawn whole instead
        if (!move || move.figure !== figure) return;
        plot.__losslabMove = null;
        react(plot, figure).then(function () { resolve(plot); }, function () { resolve(plot); });
      });
    });
  }

  function watchMoves(plot, relayout) {
    if (plot.__losslabMovesWatched) return;
    plot.__losslabMovesWatched = true;
    plot.on("plotly_transitioning", function () {
      var move = plot.__losslabMove;
      if (!move) return;
      plot.__losslabMove = null;
      if (move.figure !== plot.__losslabFigure) { move.done(plot); return; }  // a newer figure is on its way
      quietly(plot, function () { return relayout(plot, move.axes); })
        .then(function () { move.done(plot); }, function () { move.done(plot); });
    });
  }

  function skipRepeatedFigures() {
    var P = window.Plotly;
    if (!P || P.__losslabSkips) return;
    P.__losslabSkips = true;
    window.__losslabSkippedDraws = 0;  // read by the tests
    var react = P.react, animate = P.animate, relayout = P.relayout;  // not counted as drawing over a figure
    P.react = function (gd, figure) {
      var plot = typeof gd === "string" ? document.getElementById(gd) : gd;
      // dcc.Graph's form: react(gd, {data, layout, config, frames}); robust.js's react(gd, data, layout) is a preview.
      var key = plot && arguments.length === 2 && figure && Array.isArray(figure.data) ? figureKey(figure) : null;
      if (key !== null && plot._fullLayout && !plot._transitioning && plot.__losslabDrawn === key) {
        window.__losslabSkippedDraws += 1;
        return Promise.resolve(plot);
      }
      if (plot && key !== null && handBackIn(plot, figure)) key = figureKey(figure);
      var shape = key !== null ? outline(figure) : null;
      var sameOutline = shape !== null && plot.__losslabDrawn !== null && plot.__losslabDrawn !== undefined &&
        plot.__losslabOutline === shape;
      var lastRanges = plot && plot.__losslabRanges;
      if (plot) {
        plot.__losslabDrawn = key;
        plot.__losslabFigure = figure;
        plot.__losslabOutline = shape;
        plot.__losslabRanges = key !== null ? givenRanges(figure) : null;
      }
      if (sameOutline && lastRanges) {
        var moved = drawMovedCurves(plot, lastRanges, figure, animate, relayout, react);
        if (moved) return moved;
      }
      return react.apply(this, arguments);
    };
    DRAWING_CALLS.forEach(function (name) {
      var original = P[name];
      if (typeof original !== "function") return;
      P[name] = function (gd) {
        var plot = typeof gd === "string" ? document.getElementById(gd) : gd;
        if (plot) plot.__losslabDrawn = null;
        return original.apply(this, arguments);
      };
    });
  }

  function linkAll() {
    skipRepeatedFigures();
    document.querySelectorAll(".linked-charts .js-plotly-plot").forEach(link);
    var button = document.getElementById("present-toggle");
    if (button && button.getAttribute("aria-pressed") !== String(presenting())) applyPresenting();
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

  /* ---- presenting mode: larger type, formulas and tables folded away ------
     Kept in the URL as present=1, so a link can carry it; the views ignore the key. */
  function presenting() {
    return new URLSearchParams(window.location.search).get("present") === "1";
  }

  function applyPresenting() {
    document.documentElement.classList.toggle("presenting", presenting());
    var button = document.getElementById("present-toggle");
    if (button) button.setAttribute("aria-pressed", presenting() ? "true" : "false");
  }

  function resizeCharts() {
    document.querySelectorAll(".js-plotly-plot").forEach(function (plot) {
      try { window.Plotly.Plots.resize(plot); } catch (e) { /* not drawn yet */ }
    });
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("#present-toggle");
    if (!button) return;
    var params = new URLSearchParams(window.location.search);
    if (presenting()) params.delete("present"); else params.set("present", "1");
    var query = params.toString();
    window.history.replaceState(window.history.state, "", window.location.pathname + (query ? "?" + query : ""));
    applyPresenting();
    setTimeout(resizeCharts, 50);
  });

  /* ---- each view keeps its last state within the session ------------------
     The URL says exactly what is shown; the same URL is remembered per path in
     sessionStorage, and a navigation link to another view opens it with that state.
     "Reset to defaults" forgets it. */
  var STATE_KEY = "losslab:last-query:";

  function replaceQuery(query) {
    if (typeof query !== "string" || query.charAt(0) !== "?") return;
    if (presenting()) query += "&present=1";  // a page setting, not a view's: kept across changes
    if (window.location.search !== query) {
      window.history.replaceState(window.history.state, "", window.location.pathname + query);
    }
    rememberQuery();
  }

  function rememberQuery() {
    try { window.sessionStorage.setItem(STATE_KEY + window.location.pathname, window.location.search); } catch (e) { /* storage off */ }
  }

  function rememberedQuery(path) {
    try { return window.sessionStorage.getItem(STATE_KEY + path) || ""; } catch (e) { return ""; }
  }

  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("#page-nav a.nav-link:not(.active)");
    if (!link || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
    var path = new URL(link.href, window.location.href).pathname;
    var query = rememberedQuery(path);
    if (!query) return;
    event.preventDefault();
    event.stopPropagation();
    window.history.pushState({}, "", path + query);
    window.dispatchEvent(new CustomEvent("_dashprivate_pushstate"));  // what dcc.Link does to tell dcc.Location
  }, true);

  document.addEventListener("click", function (event) {
    var reset = event.target.closest && event.target.closest("a.reset-view");
    if (!reset) return;
    try { window.sessionStorage.removeItem(STATE_KEY + new URL(reset.href, window.location.href).pathname); } catch (e) { /* storage off */ }
  }, true);

  // A navigation menu (<details>) closes on a click elsewhere, on Escape, and once a link in it is chosen.
  function closeMenus(except) {
    document.querySelectorAll("#page-nav details.nav-menu[open]").forEach(function (menu) {
      if (menu !== except) menu.removeAttribute("open");
    });
  }
  document.addEventListener("click", function (event) {
    var menu = event.target.closest && event.target.closest("#page-nav details.nav-menu");
    var chosen = event.target.closest && event.target.closest("#page-nav .nav-menu-links a");
    closeMenus(chosen ? null : menu);
  });
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    var open = document.querySelector("#page-nav details.nav-menu[open]");
    if (!open) return;
    closeMenus(null);
    open.querySelector("summary").focus();
  });

  window.addEventListener("resize", function () {
    document.querySelectorAll(".linked-charts .js-plotly-plot").forEach(gridPanels);
  });

  new MutationObserver(linkAll).observe(document.documentElement, { childList: true, subtree: true });
  document.addEventListener("DOMContentLoaded", function () { linkAll(); applyPresenting(); });
  applyPresenting();
})();
