/*
 * The PNG and SVG buttons under the charts: ONE file of every chart the view shows, placed as they sit
 * on screen. (One download per chart made Chromium ask the user to allow multiple downloads.)
 *  - each visible chart is rendered by Plotly.toImage as SVG at its on-screen size;
 *  - the page's chart styles that Plotly's export does not see (assets/losslab.css: the theme's text
 *    colour, the dark theme's light stroke for black series) go into each SVG, read from the chart on
 *    screen, so the image shows what the chart shows;
 *  - PNG: drawn onto one canvas filled with the charts' background, at a scale that makes the image at
 *    least SLIDE_WIDTH px wide (2x to 4x); SVG: the charts nested in one SVG, still vector.
 * Each chart's own toolbar camera still saves that chart alone.
 */
(function () {
  "use strict";

  var SLIDE_WIDTH = 1920;
  var MIN_SCALE = 2, MAX_SCALE = 4;
  var MAX_SIDE = 16384, MAX_PIXELS = 36e6;  // within every browser's canvas limits, and a few seconds' encoding
  var MAX_GAP = 16;  // CSS px between two rows of charts in the image
  var SVG_NS = "http://www.w3.org/2000/svg";

  function setStatus(button, text) {
    var status = button.closest(".export-bar").querySelector(".export-status");
    if (status) status.textContent = text;
  }

  function visiblePlots(view) {
    return Array.prototype.filter.call(view.querySelectorAll(".js-plotly-plot"), function (plot) {
      var box = plot.getBoundingClientRect();
      return box.width > 0 && box.height > 0 && plot._fullLayout;
    });
  }

  // Where each chart goes in the image (CSS pixels): as on screen, except that a horizontal band with no
  // chart in it (a readout, a heading between two rows of charts) shrinks to at most MAX_GAP.
  function arrangement(plots) {
    var boxes = plots.map(function (plot) { return plot.getBoundingClientRect(); });
    var left = Math.min.apply(null, boxes.map(function (b) { return b.left; }));
    var right = Math.max.apply(null, boxes.map(function (b) { return b.right; }));
    var order = boxes.map(function (b, k) { return k; }).sort(function (i, j) { return boxes[i].top - boxes[j].top; });
    var bands = [], bandOf = [];
    order.forEach(function (k) {
      var box = boxes[k], band = bands[bands.length - 1];
      if (!band || box.top >= band.bottom) {
        band = { top: box.top, bottom: box.bottom };
        band.shift = bands.length ? band.top - (bands[bands.length - 1].bottom - bands[bands.length - 1].shift)
          - Math.min(MAX_GAP, band.top - bands[bands.length - 1].bottom) : band.top;
        bands.push(band);
      }
      band.bottom = Math.max(band.bottom, box.bottom);
      bandOf[k] = band;
    });
    var last = bands[bands.length - 1];
    return {
      width: right - left, height: last.bottom - last.shift,
      places: boxes.map(function (b, k) {
        return { x: b.left - left, y: b.top - bandOf[k].shift, width: b.width, height: b.height };
      }),
    };
  }

  function pngScale(width, height) {
    var scale = Math.min(MAX_SCALE, Math.max(MIN_SCALE, SLIDE_WIDTH / width));
    scale = Math.min(scale, MAX_SIDE / width, MAX_SIDE / height, Math.sqrt(MAX_PIXELS / (width * height)));
    return scale;
  }

  function isTransparent(colour) {
    return !colour || colour === "transparent" || /rgba\([^)]*,\s*0\)$/.test(colour);
  }

  // The colour behind the charts: the first opaque background from the chart up (white if none).
  function backgroundOf(plot) {
    for (var node = plot; node && node.nodeType === 1; node = node.parentElement) {
      var colour = window.getComputedStyle(node).backgroundColor;
      if (!isTransparent(colour)) return colour;
    }
    return "#ffffff";
  }

  // CSS rules for the exported SVG, taken from what the page draws on screen.
  function screenStyle(plot) {
    var rules = [];
    var text = plot.querySelector(".main-svg text");
    if (text) rules.push("text { fill: " + window.getComputedStyle(text).fill + " !important; }");
    var black = plot.querySelector('.scatterlayer [style*="stroke: rgb(0, 0, 0)"]');
    var stroke = black && window.getComputedStyle(black).stroke;
    if (stroke && stroke !== "rgb(0, 0, 0)") {
      rules.push('.scatterlayer [style*="stroke: rgb(0, 0, 0)"], .legendlines [style*="stroke: rgb(0, 0, 0)"] '
                 + "{ stroke: " + stroke + " !important; }");
    }
    return rules.join("\n");
  }

  function withStyle(svg, css, x, y) {
    var placed = svg.replace(/^\s*(<\?xml[^>]*\?>\s*)?<svg\b/, '<svg x="' + x + '" y="' + y + '"');
    if (!css) return placed;
    return placed.replace(/^(<svg\b[^>]*>)/, "$1<style>" + css.replace(/</g, "") + "</style>");
  }

  function chartSvg(plot, place) {
    var size = plot._fullLayout;
    return window.Plotly.toImage(plot, { format: "svg", width: size.width, height: size.height, imageDataOnly: true })
      .then(function (svg) { return withStyle(svg, screenStyle(plot), place.x, place.y); });
  }

  function composedSvg(svgs, layout, background) {
    return '<svg xmlns="' + SVG_NS + '" xmlns:xlink="http://www.w3.org/1999/xlink" version="1.1" width="'
      + layout.width + '" height="' + layout.height + '" viewBox="0 0 ' + layout.width + " " + layout.height + '">'
      + '<rect width="100%" height="100%" fill="' + background + '"/>' + svgs.join("") + "</svg>";
  }

  function loadImage(svg) {
    return new Promise(function (resolve, reject) {
      var image = new Image();
      image.onload = function () { resolve(image); };
      image.onerror = function () { reject(new Error("a chart's SVG did not load as an image")); };
      image.src = "data:image/svg+xml;charset=utf-8," + encodeURIComponent(svg);
    });
  }

  function composedPng(svgs, layout, background) {
    var scale = pngScale(layout.width, layout.height);
    var canvas = document.createElement("canvas");
    canvas.width = Math.round(layout.width * scale);
    canvas.height = Math.round(layout.height * scale);
    var context = canvas.getContext("2d");
    context.fillStyle = background;
    context.fillRect(0, 0, canvas.width, canvas.height);
    // Each chart is drawn from its own SVG (x, y dropped: the canvas places it), rasterised at the scale.
    return Promise.all(svgs.map(function (svg) { return loadImage(svg.replace(/^<svg x="[^"]*" y="[^"]*"/, "<svg")); }))
      .then(function (images) {
        images.forEach(function (image, k) {
          var place = layout.places[k];
          context.drawImage(image, place.x * scale, place.y * scale, place.width * scale, place.height * scale);
        });
        return new Promise(function (resolve, reject) {
          canvas.toBlob(function (blob) {
            if (blob) resolve({ blob: blob, width: canvas.width, height: canvas.height });
            else reject(new Error("the browser could not encode a " + canvas.width + "×" + canvas.height + " PNG"));
          }, "image/png");
        });
      });
  }

  // losslab-<view>, then each setting that differs from the view's defaults: losslab-training-lr-2.
  function fileName(bar, format) {
    var view = window.location.pathname.replace(/\W+/g, "");
    var defaults = new URLSearchParams(bar.getAttribute("data-default-query") || "");
    var parts = ["losslab-" + view];
    new URLSearchParams(window.location.search).forEach(function (value, key) {
      if (defaults.get(key) !== value) parts.push(key + "-" + value.replace(/[^A-Za-z0-9.+-]+/g, "_"));
    });
    return parts.join("-").slice(0, 120) + "." + format;
  }

  function save(blob, name) {
    var link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = name;
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(function () { URL.revokeObjectURL(link.href); }, 60000);
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest(".image-button");
    if (!button || button.disabled) return;
    var format = button.getAttribute("data-format");
    var plots = visiblePlots(button.closest(".view"));
    if (!plots.length) { setStatus(button, "No chart on screen to export."); return; }
    var layout = arrangement(plots);
    var background = backgroundOf(plots[0]);
    var count = plots.length + (plots.length === 1 ? " chart" : " charts");
    var name = fileName(button.closest(".export-bar"), format);
    button.disabled = true;
    setStatus(button, "Making one " + format.toUpperCase() + " of " + count + "…");
    Promise.all(plots.map(function (plot, k) { return chartSvg(plot, layout.places[k]); }))
      .then(function (svgs) {
        if (format === "svg") {
          var text = composedSvg(svgs, layout, background);
          return { blob: new Blob([text], { type: "image/svg+xml" }),
                   width: Math.round(layout.width), height: Math.round(layout.height) };
        }
        return composedPng(svgs, layout, background);
      })
      .then(function (image) {
        save(image.blob, name);
        // The page cannot see whether the browser kept the file: it says what it handed over.
        setStatus(button, "One " + format.toUpperCase() + " of " + count + " (" + image.width + "×" + image.height
                  + (format === "svg" ? "" : " px") + ") sent to your browser's downloads as " + name);
      })
      .catch(function (error) {
        setStatus(button, "Could not make the image (" + (error && error.message || error) + "); "
                  + "each chart's own camera button still saves it alone.");
      })
      .then(function () { button.disabled = false; });
  });
})();
