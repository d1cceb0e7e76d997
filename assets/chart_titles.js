/*
 * A chart title or subtitle wider than its chart (a phone's 370 px: robust's "Influence: each point's
 * pull |dℓ/dŷᵢ| on the fit", precision's key to its symbols) was cut off at the chart's edge. Here it
 * wraps onto more lines at spaces, and the top margin grows by a line per extra line. The server's
 * figures never hold "<br>": a wrapped text is the server's with some spaces made "<br>", so every redraw
 * starts again from the server's text (a wider window unwraps it).
 */
(function () {
  "use strict";

  var TITLES = [  // layout key, the drawn element
    { key: "title.text", selector: ".gtitle" },
    { key: "title.subtitle.text", selector: ".gtitle-subtitle" },
  ];
  // The title sits at the middle of the top margin: the margin grows by two lines per extra line, so the
  // title grows downwards by one and a half and keeps clear of what sits above the plot (panel titles).
  var LINE_SPACING = 2;
  var SIDE_ROOM = 24;  // px the title keeps clear of the chart's edges

  function read(object, key) {
    return key.split(".").reduce(function (o, k) { return o === undefined || o === null ? o : o[k]; }, object);
  }

  function plainLength(text) {
    return text.replace(/<[^>]*>/g, "").length;
  }

  // Words into lines of at most `room` characters (a word longer than that gets a line of its own).
  function wrapped(text, room) {
    var lines = [], line = "";
    text.split(" ").forEach(function (word) {
      if (line && plainLength(line + " " + word) > room) { lines.push(line); line = word; }
      else line = line ? line + " " + word : word;
    });
    lines.push(line);
    return lines.join("<br>");
  }

  function fitTitles(plot) {
    var full = plot._fullLayout;
    if (!full || !plot.layout || !plot.layout.margin) return;
    // Nothing to redo while the size and the texts stay (a motion's frames redraw only the traces).
    var key = JSON.stringify([full.width, plot.layout.title, Object.keys(full).filter(function (k) {
      return /^xaxis\d*$/.test(k);
    }).map(function (k) { return full[k].title && [full[k].title.text, full[k].title.font.size]; })]);
    if (plot.__titlesKey === key) return;
    plot.__titlesKey = key;
    var widths = plot.__titleCharWidths || (plot.__titleCharWidths = {});
    var update = {}, extra = 0, wrappedBefore = false;
    TITLES.forEach(function (title) {
      var text = read(plot.layout, title.key);
      if (typeof text !== "string" || !text) return;
      var server = text.replace(/<br>/g, " ");
      if (server !== text) wrappedBefore = true;
      var drawn = plot.querySelector(title.selector);
      if (server === text && drawn && drawn.getBBox) {  // measured unwrapped: a character's width, a line's height
        var box = drawn.getBBox();
        if (box.width > 0) widths[title.key] = { character: box.width / plainLength(server), line: box.height };
      }
      var measured = widths[title.key];
      if (!measured) return;
      var want = wrapped(server, Math.max(8, Math.floor((full.width - SIDE_ROOM) / measured.character)));
      extra += Math.ceil((want.split("<br>").length - 1) * measured.line * LINE_SPACING);
      if (want !== text) update[title.key] = want;
    });
    if (!wrappedBefore) plot.__serverTop = plot.layout.margin.t;
    var top = (plot.__serverTop || 0) + extra;
    if (plot.__serverTop !== undefined && top !== plot.layout.margin.t) update["margin.t"] = top;
    fitAxisTitles(plot, update);
    if (Object.keys(update).length) window.Plotly.relayout(plot, update);
  }

  /* An x-axis title wider than the room around its centre (precision's, counts' right panel on a phone)
     gets a smaller font, down to MIN_AXIS_TITLE_SIZE px; back to the server's size where it fits. */
  var MIN_AXIS_TITLE_SIZE = 9;

  function fitAxisTitles(plot, update) {
    var full = plot._fullLayout, chart = plot.getBoundingClientRect();
    var ours = plot.__axisTitleSizes || (plot.__axisTitleSizes = {});
    var base = plot.__axisTitleBase || (plot.__axisTitleBase = {});
    Object.keys(full).filter(function (k) { return /^xaxis\d*$/.test(k); }).forEach(function (name) {
      var axis = full[name], drawn = plot.querySelector(".g-" + name.replace("axis", "") + "title text");
      if (!axis || !axis.title || !axis.title.text || !drawn || !chart.width) return;
      var box = drawn.getBoundingClientRect(), size = axis.title.font.size;
      if (!(box.width > 0) || !(size > 0)) return;
      var set = read(plot.layout, name + ".title.font.size");
      if (set === undefined || set !== ours[name]) base[name] = set === undefined ? size : set;  // the server's
      var centre = box.left + box.width / 2 - chart.left;
      var room = 2 * (Math.min(centre, chart.width - centre) - 4);
      var want = Math.max(MIN_AXIS_TITLE_SIZE, Math.min(base[name], Math.floor(size * room / box.width)));
      if (want === size) return;
      update[name + ".title.font.size"] = want;
      ours[name] = want;
    });
  }

  function watch(plot) {
    if (plot.dataset.titlesFitted === "1" || typeof plot.on !== "function") return;
    plot.dataset.titlesFitted = "1";
    plot.on("plotly_afterplot", function () { fitTitles(plot); });
    fitTitles(plot);
  }

  function watchAll() {
    document.querySelectorAll(".view .js-plotly-plot").forEach(watch);
  }

  new MutationObserver(watchAll).observe(document.documentElement, { childList: true, subtree: true });
})();
