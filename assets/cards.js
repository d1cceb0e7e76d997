/*
 * Loss cards in the browser (losslab.dashboard.cards): the header's search box, the card it
 * opens, and each view's folded "Loss cards" panel.
 *  - The card index (every card, with its search groups) is fetched once, the first time
 *    something is typed in the search box or a view's cards panel is opened; after that,
 *    searching and drawing cards cost no request.
 *  - search() ranks exactly as losslab.cards.search: the index carries each card's weighted
 *    word groups, its names, the stop words and the short-word rule; only the query is
 *    tokenised here, as losslab.cards.tokens does.
 *  - The search box is a combobox: Down/Up move through the results, Enter opens the
 *    highlighted card, Escape closes the list (a second Escape clears the box).
 *  - A card's formulas are typeset by the MathJax the views' formula panels load; until it is
 *    there they show as LaTeX source. The card panel is drawn here, inside an empty element
 *    of the layout, so it adds no Dash component to the page.
 */
(function () {
  "use strict";

  var SEARCH = "card-search-input";
  var RESULTS = "card-search-results";
  var STATUS = "card-search-status";
  var PANEL = "loss-card";
  var TITLE = "loss-card-title";
  var CLOSE = "loss-card-close";
  var FORMULAS = "loss-card-formulas";
  var BODY = "loss-card-body";
  var MAX_RESULTS = 12;

  var index = null;       // the card index, once fetched
  var loading = null;     // its pending fetch
  var byKey = {};
  var shown = [];         // keys in the results list
  var active = -1;        // the highlighted result
  var formulaTimer = null;
  var lastMutation = 0;        // when the page outside the card last changed
  var QUIET_MS = 300;

  /* ---- the index ---------------------------------------------------------------------- */

  function indexUrl() {
    var box = document.querySelector(".card-search[data-index]");
    var prefix = "/";
    var config = document.getElementById("_dash-config");
    if (config) {
      try { prefix = JSON.parse(config.textContent).requests_pathname_prefix || "/"; } catch (e) { /* default */ }
    }
    return prefix + (box ? box.getAttribute("data-index") : "_losslab/cards.json");
  }

  function load() {
    if (index) return Promise.resolve(index);
    if (!loading) {
      loading = fetch(indexUrl(), { credentials: "same-origin" })
        .then(function (response) {
          if (!response.ok) throw new Error("HTTP " + response.status);
          return response.json();
        })
        .then(function (data) {
          data.cards.forEach(function (card) {
            card.groups = card.search.map(function (group) { return [group[0], group[1].split(" ")]; });
            byKey[card.key] = card;
          });
          index = data;
          return data;
        })
        .catch(function (error) {
          loading = null;  // a later use tries again
          throw error;
        });
    }
    return loading;
  }

  /* ---- search: the same ranking as losslab.cards.search -------------------------------- */

  function singular(word) {
    if (/(xes|sses|ches|shes)$/.test(word)) return word.slice(0, -2);
    if (word.length > 3 && /s$/.test(word) && !/ss$/.test(word)) return word.slice(0, -1);
    return word;
  }

  function tokens(text) {
    var folded = String(text).normalize("NFKD").replace(/\p{M}/gu, "").toLowerCase();
    return (folded.match(/[0-9a-z]+/g) || []).map(singular);
  }

  function matches(term, word) {
    return term.length <= index.short_term ? word === term : word.indexOf(term) === 0;
  }

  function search(query) {
    var words = tokens(query);
    var terms = words.filter(function (word) { return index.stopwords.indexOf(word) === -1; });
    if (!terms.length) terms = words;
    terms = terms.filter(function (term, i) { return terms.indexOf(term) === i; });
    if (!terms.length) return [];
    var phrase = words.join(" ");
    var ranked = [];
    index.cards.forEach(function (card, order) {
      var matched = 0;
      var score = 0;
      terms.forEach(function (term) {
        var weights = card.groups.filter(function (group) {
          return group[1].some(function (word) { return matches(term, word); });
        });
        if (weights.length) {
          matched += 1;
          weights.forEach(function (group) { score += group[0]; });
        }
      });
      if (matched) {
        ranked.push({ exact: card.names.indexOf(phrase) === -1 ? 1 : 0, matched: matched, score: score,
                      order: order, key: card.key });
      }
    });
    ranked.sort(function (a, b) {
      return a.exact - b.exact || b.matched - a.matched || b.score - a.score || a.order - b.order;
    });
    return ranked.map(function (item) { return item.key; });
  }

  /* ---- small DOM helpers ---------------------------------------------------------------- */

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function list(items) {
    var ul = element("ul");
    items.forEach(function (item) { ul.appendChild(element("li", null, item)); });
    return ul;
  }

  /* ---- the results list ------------------------------------------------------------------ */

  function searchBox() { return document.getElementById(SEARCH); }

  function setStatus(text) {
    var status = document.getElementById(STATUS);
    if (status && status.textContent !== text) status.textContent = text;
  }

  function showList(visible) {
    var results = document.getElementById(RESULTS);
    var box = searchBox();
    var open = visible && shown.length > 0;
    if (results) results.hidden = !open;
    if (box) box.setAttribute("aria-expanded", open ? "true" : "false");
    if (!open) highlight(-1);
  }

  function highlight(position) {
    var results = document.getElementById(RESULTS);
    var box = searchBox();
    active = position;
    if (!results) return;
    Array.prototype.forEach.call(results.children, function (option, i) {
      option.setAttribute("aria-selected", i === position ? "true" : "false");
    });
    if (box) {
      if (position >= 0 && results.children[position]) {
        box.setAttribute("aria-activedescendant", results.children[position].id);
        results.children[position].scrollIntoView({ block: "nearest" });
      } else {
        box.removeAttribute("aria-activedescendant");
      }
    }
  }

  function resultOption(card) {
    var option = element("li", "card-result");
    option.id = "card-option-" + card.key;
    option.setAttribute("role", "option");
    option.setAttribute("aria-selected", "false");
    option.setAttribute("data-key", card.key);
    option.appendChild(element("span", "card-result-label", card.label));
    option.appendChild(element("span", "card-result-task", card.task));
    option.appendChild(element("span", "card-result-summary", card.summary));
    return option;
  }

  function runSearch(query) {
    var results = document.getElementById(RESULTS);
    if (!results) return;
    var text = query.trim();
    if (!text) {
      shown = [];
      results.textContent = "";
      setStatus("");
      showList(false);
      return;
    }
    var found = search(text);
    shown = found.slice(0, MAX_RESULTS);
    results.textContent = "";
    shown.forEach(function (key) { results.appendChild(resultOption(byKey[key])); });
    if (!found.length) setStatus("No card matches \u201c" + text + "\u201d.");
    else {
      setStatus((found.length === 1 ? "1 card matches" : found.length + " cards match") + " \u201c" + text + "\u201d" +
                (found.length > shown.length ? "; the first " + shown.length + " are listed." : "."));
    }
    showList(true);
  }

  function onSearchInput(box) {
    var query = box.value;
    if (index) { runSearch(query); return; }
    if (query.trim()) setStatus("Loading the cards\u2026");
    load().then(function () { runSearch(searchBox() ? searchBox().value : query); },
                function () { setStatus("The cards could not be loaded; try again."); });
  }

  /* ---- the opened card -------------------------------------------------------------------- */

  function heading(text) { return element("h3", null, text); }

  function paperNode(paper) {
    var node = element("p", "card-paper", paper.citation);
    if (paper.note) {
      node.appendChild(document.createTextNode(" "));
      node.appendChild(element("span", "card-paper-note", paper.note));
    }
    return node;
  }

  function relatedNode(card) {
    var ul = element("ul", "card-related");
    card.related.forEach(function (item) {
      var li = element("li");
      var button = element("button", "card-related-button", item.label);
      button.type = "button";
      button.setAttribute("data-card", item.key);
      button.title = "Open the " + item.label + " card";
      li.appendChild(button);
      ul.appendChild(li);
    });
    return ul;
  }

  function viewNode(card) {
    if (!card.view) return element("p", "card-view", "No view plots this loss yet.");
    var node = element("p", "card-view");
    var link = element("a", "card-view-link", "Plot " + card.label + " in the " + card.view.title + " view");
    link.href = card.view.href;
    node.appendChild(link);
    return node;
  }

  /* MathJax draws NaN-sized formulas when a typeset overlaps another one or a replacement of the
     page (the view's first callbacks rewrite its formulas panel; see assets/formulas.js): the card's
     formulas are typeset only once the page outside the card has been quiet for QUIET_MS, MathJax is
     loaded and its own start-up is done. */
  function typesetWhenQuiet(node) {
    clearTimeout(formulaTimer);
    var mathjax = window.MathJax;
    var wait = QUIET_MS - (Date.now() - lastMutation);
    if (wait > 0 || !mathjax || typeof mathjax.typesetPromise !== "function") {
      formulaTimer = setTimeout(function () { typesetWhenQuiet(node); }, Math.max(wait, QUIET_MS));
      return;
    }
    Promise.resolve(mathjax.startup && mathjax.startup.promise).then(function () {
      if (!node.isConnected || node.getAttribute("data-typeset") === "done") return;
      if (Date.now() - lastMutation < QUIET_MS) { typesetWhenQuiet(node); return; }
      node.setAttribute("data-typeset", "done");
      mathjax.typesetPromise([node]).catch(function () { node.removeAttribute("data-typeset"); });
    });
  }

  function formulaNode(card) {
    var node = element("div", "loss-card-formulas");
    node.id = FORMULAS;
    var blocks = [card.formula, card.gradient];
    if (card.gradient_logit) blocks.push(card.gradient_logit);
    blocks.forEach(function (latex) { node.appendChild(element("p", "loss-card-formula", "\\[" + latex + "\\]")); });
    return node;
  }

  function panelHead() {
    var head = element("div", "loss-card-head");
    var title = element("h2");
    title.id = TITLE;
    title.tabIndex = -1;
    var close = element("button", "loss-card-close", "Close");
    close.id = CLOSE;
    close.type = "button";
    close.title = "Close the card";
    head.appendChild(title);
    head.appendChild(close);
    return head;
  }

  function openCard(key, focus) {
    var card = byKey[key];
    var panel = document.getElementById(PANEL);
    if (!card || !panel) return;
    var previous = document.getElementById(FORMULAS);
    if (previous && window.MathJax && typeof window.MathJax.typesetClear === "function") {
      window.MathJax.typesetClear([previous]);
    }
    panel.textContent = "";
    panel.appendChild(panelHead());
    panel.appendChild(element("p", "loss-card-summary", card.summary));
    var formulas = formulaNode(card);
    panel.appendChild(formulas);
    var body = element("div", "loss-card-body");
    body.id = BODY;
    [
      [heading("Intuition"), element("p", null, card.intuition)],
      [heading("When to use it"), element("p", null, card.when_to_use)],
      [heading("Pros"), list(card.pros)],
      [heading("Cons"), list(card.cons)],
      [heading("Related losses"), relatedNode(card)],
      [heading("Original paper"), paperNode(card.paper)],
    ].forEach(function (parts) {
      var section = element("div", "loss-card-part");
      parts.forEach(function (part) { section.appendChild(part); });
      body.appendChild(section);
    });
    body.appendChild(viewNode(card));
    panel.appendChild(body);
    document.getElementById(TITLE).textContent = card.label;
    panel.setAttribute("data-key", key);
    panel.hidden = false;
    typesetWhenQuiet(formulas);
    if (focus) {
      panel.scrollIntoView({ block: "start" });
      document.getElementById(TITLE).focus({ preventScroll: true });
    }
  }

  function closeCard() {
    var panel = document.getElementById(PANEL);
    if (panel) panel.hidden = true;
    var box = searchBox();
    if (box) box.focus();
  }

  function openFromAnywhere(key) {
    load().then(function () { openCard(key, true); });
  }

  /* ---- a view's cards panel ------------------------------------------------------------------ */

  function tickedLosses(checklistId) {
    var checklist = document.getElementById(checklistId);
    if (!checklist) return [];
    return Array.prototype.filter.call(checklist.querySelectorAll("input[type=checkbox]"), function (box) {
      return box.checked;
    }).map(function (box) { return box.value; });
  }

  function miniCard(card) {
    var article = element("article", "mini-card");
    article.setAttribute("data-key", card.key);
    article.appendChild(element("h4", null, card.label));
    article.appendChild(element("p", "mini-card-summary", card.summary));
    var details = element("dl");
    [["Intuition", element("span", null, card.intuition)],
     ["When to use it", element("span", null, card.when_to_use)],
     ["Pros", list(card.pros)],
     ["Cons", list(card.cons)],
     ["Related", relatedNode(card)],
     ["Paper", paperNode(card.paper)]].forEach(function (pair) {
      details.appendChild(element("dt", null, pair[0]));
      var dd = element("dd");
      dd.appendChild(pair[1]);
      details.appendChild(dd);
    });
    article.appendChild(details);
    var full = element("button", "mini-card-open", "Full card with formulas");
    full.type = "button";
    full.setAttribute("data-card", card.key);
    article.appendChild(full);
    return article;
  }

  function drawViewCards(panel) {
    var target = panel.querySelector(".view-cards-list");
    if (!target || !index) return;
    var keys = tickedLosses(panel.getAttribute("data-checklist")).filter(function (key) { return byKey[key]; });
    var drawn = Array.prototype.map.call(target.children, function (node) { return node.getAttribute("data-key"); });
    if (drawn.join(",") === keys.join(",")) return;
    target.textContent = "";
    if (!keys.length) target.appendChild(element("p", "view-cards-empty", "No loss is ticked."));
    keys.forEach(function (key) { target.appendChild(miniCard(byKey[key])); });
  }

  function refreshViewCards(panel) {
    if (!panel.open) return;
    if (index) { drawViewCards(panel); return; }
    var target = panel.querySelector(".view-cards-list");
    if (target && !target.children.length) target.textContent = "Loading the cards\u2026";
    load().then(function () {
      if (target) target.textContent = "";
      drawViewCards(panel);
    }, function () {
      if (target) target.textContent = "The cards could not be loaded; close and open this panel to try again.";
    });
  }

  /* ---- wiring ------------------------------------------------------------------------------- */

  function enhance(box) {
    if (box.getAttribute("role") === "combobox") return;
    box.setAttribute("role", "combobox");
    box.setAttribute("aria-autocomplete", "list");
    box.setAttribute("aria-controls", RESULTS);
    box.setAttribute("aria-expanded", "false");
  }

  /* Empty the box as typing would, so Dash's Input (a React-controlled box) sees the change. */
  function clearBox(box) {
    Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, "value").set.call(box, "");
    box.dispatchEvent(new Event("input", { bubbles: true }));
  }

  function onKeyDown(event) {
    var box = event.target;
    if (box.id === SEARCH) {
      var results = document.getElementById(RESULTS);
      var open = results && !results.hidden;
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        if (!shown.length) return;
        event.preventDefault();
        if (!open) { showList(true); highlight(event.key === "ArrowDown" ? 0 : shown.length - 1); return; }
        var step = event.key === "ArrowDown" ? 1 : -1;
        highlight(Math.min(Math.max(active + step, 0), shown.length - 1));
      } else if (event.key === "Enter") {
        if (!open || !shown.length) return;
        event.preventDefault();
        var key = shown[active >= 0 ? active : 0];
        showList(false);
        openCard(key, true);
      } else if (event.key === "Escape") {
        // Handled here rather than by the browser's own clearing of a search box, so the first Escape
        // only closes the list.
        if (open) { event.preventDefault(); showList(false); }
        else if (box.value) { event.preventDefault(); clearBox(box); }
      }
      return;
    }
    if (event.key === "Escape") {
      var panel = document.getElementById(PANEL);
      if (panel && !panel.hidden && panel.contains(event.target)) closeCard();
    }
  }

  function onClick(event) {
    var target = event.target;
    if (!(target instanceof Element)) return;
    var option = target.closest(".card-result");
    if (option) {
      showList(false);
      openCard(option.getAttribute("data-key"), true);
      return;
    }
    var opener = target.closest("[data-card]");
    if (opener) { openFromAnywhere(opener.getAttribute("data-card")); return; }
    if (target.closest("#" + CLOSE)) { closeCard(); return; }
    if (!target.closest(".card-search")) showList(false);
  }

  function start() {
    document.addEventListener("input", function (event) {
      if (event.target && event.target.id === SEARCH) { enhance(event.target); onSearchInput(event.target); }
    });
    document.addEventListener("focusin", function (event) {
      if (event.target && event.target.id === SEARCH) {
        enhance(event.target);
        if (event.target.value.trim() && index) runSearch(event.target.value);
      }
    });
    document.addEventListener("focusout", function (event) {
      if (event.target && event.target.id === SEARCH) {
        // Clicks on a result keep the focus in the box (mousedown below); anything else closes the list.
        setTimeout(function () { if (document.activeElement !== searchBox()) showList(false); }, 0);
      }
    });
    document.addEventListener("mousedown", function (event) {
      if (event.target instanceof Element && event.target.closest(".card-result")) event.preventDefault();
    });
    document.addEventListener("keydown", onKeyDown);
    document.addEventListener("click", onClick);
    // <details> fires "toggle" without bubbling: listen in the capture phase.
    document.addEventListener("toggle", function (event) {
      var panel = event.target;
      if (panel instanceof Element && panel.classList.contains("view-cards")) refreshViewCards(panel);
    }, true);
    document.addEventListener("change", function (event) {
      var target = event.target;
      if (!(target instanceof Element)) return;
      document.querySelectorAll("details.view-cards[open]").forEach(function (panel) {
        var checklist = document.getElementById(panel.getAttribute("data-checklist"));
        // Dash applies the tick after the event: draw once it has.
        if (checklist && checklist.contains(target)) setTimeout(function () { refreshViewCards(panel); }, 0);
      });
    });
    // The box is drawn by Dash after this script runs: give it its combobox role as soon as it appears.
    // The same observer keeps the time of the last change outside the card (see typesetWhenQuiet).
    new MutationObserver(function (mutations) {
      var box = searchBox();
      if (box) enhance(box);
      var panel = document.getElementById(PANEL);
      if (mutations.some(function (m) { return !panel || !panel.contains(m.target); })) lastMutation = Date.now();
    }).observe(document.body, { childList: true, subtree: true });
  }

  window.losslabCards = { search: search, tokens: tokens, load: load, open: openFromAnywhere };

  if (document.body) start();
  else document.addEventListener("DOMContentLoaded", start);
})();
