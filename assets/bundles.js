/*
 * Which JavaScript bundles the page downloads, and under which URLs (losslab.dashboard.app_factory):
 *  - dcc.Graph loads plotly.js from window._dashPlotlyJSURL when window.Plotly is not defined.
 *    Dash's renderer sets that URL to its full 4.8 MB bundle; here it is the partial cartesian
 *    bundle that the page preloads (<link rel="preload" data-plotly-bundle>), so plotly.js is
 *    downloaded from the start but parsed only when the first chart mounts.
 *  - dcc's lazily loaded chunks (async-graph.js, async-slider.js, ...) are requested without a
 *    fingerprint in Dash 4.4.1 (its webpack build skips the hook that adds one), so a browser
 *    has to ask for them again on every visit. Their URLs get the fingerprint of the bundle
 *    that loads them (dash_core_components.v4_4_1m<mtime>.js -> async-graph.v4_4_1m<mtime>.js):
 *    the server strips it, and serves such URLs with a long, immutable cache lifetime.
 *  - dcc.Markdown downloads highlight.js (141 KB, 2 s of main thread on a slow phone) when it
 *    mounts, whether or not it holds a code block (Dash 4.4.1 calls loadhljs when window.hljs
 *    is unset). losslab's Markdown is formulas and prose, never code, so it gets a stand-in
 *    with the one method dcc calls; a code block would show as plain text.
 */
(function () {
  "use strict";

  var preload = document.querySelector("link[rel=preload][data-plotly-bundle]");
  if (preload) {
    var plotlyUrl = preload.href;
    Object.defineProperty(window, "_dashPlotlyJSURL", {
      configurable: true,
      get: function () { return plotlyUrl; },
      set: function () { /* the renderer's full-bundle URL: ignored */ },
    });
  }

  if (!window.hljs) window.hljs = { highlightElement: function () { /* no code blocks to colour */ } };

  var SUITES = "/_dash-component-suites/";
  var FINGERPRINT = /^v[\w-]+m[0-9a-fA-F]+$/;

  function fingerprintOf(directory) {
    var scripts = document.querySelectorAll("script[src]");
    for (var i = 0; i < scripts.length; i++) {
      var src = scripts[i].src.split(/[?#]/)[0];
      var slash = src.lastIndexOf("/");
      if (src.slice(0, slash + 1) !== directory) continue;
      var parts = src.slice(slash + 1).split(".");
      if (parts.length > 2 && FINGERPRINT.test(parts[1])) return parts[1];
    }
    return null;
  }

  /* The URL with its directory's fingerprint added, or unchanged. */
  function fingerprinted(url) {
    if (url.indexOf(SUITES) === -1 || /[?#]/.test(url)) return url;
    var slash = url.lastIndexOf("/");
    var parts = url.slice(slash + 1).split(".");
    if (parts.length < 2 || (parts.length > 2 && FINGERPRINT.test(parts[1]))) return url;
    var stamp = fingerprintOf(url.slice(0, slash + 1));
    if (!stamp) return url;
    parts.splice(1, 0, stamp);
    return url.slice(0, slash + 1) + parts.join(".");
  }

  var head = document.head;
  var appendChild = head.appendChild;
  head.appendChild = function (node) {
    if (node && node.tagName === "SCRIPT" && node.src) {
      var url = fingerprinted(node.src);
      if (url !== node.src) node.src = url;
    }
    return appendChild.call(this, node);
  };
})();
