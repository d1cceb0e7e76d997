"""Accessibility of every registered view: axe-core in light and dark, and a keyboard-only walk.

axe-core is the npm package pinned in tests/browser/package.json; ``make test``
installs it into ``.venv/node/tests`` (``npm ci``). Its script is run in the
page through WebDriver, which the page's Content-Security-Policy does not
govern. A serious or critical finding fails the test; the others are listed in
the failure message of any test that fails, and in docs/ACCESSIBILITY.md.

The dark theme is Chromium's ``prefers-color-scheme: dark`` set through the
DevTools protocol (``Emulation.setEmulatedMedia``), as a phone in dark mode
would ask for it.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from selenium.webdriver.common.keys import Keys

from bench.harness import env_flag, missing_tool
from losslab.dashboard.views import VIEWS

#: LOSSLAB_LONG=1 operates every control of every view; by default one control of each kind per view.
LONG = env_flag("LOSSLAB_LONG")
AXE_SCRIPT = Path(sys.prefix) / "node" / "tests" / "node_modules" / "axe-core" / "axe.min.js"
FAILING_IMPACTS = ("serious", "critical")

AXE_RUN_JS = """
const done = arguments[arguments.length - 1];
axe.run(document, {resultTypes: ['violations']}).then(
  (result) => done(result.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.map((n) => n.target.join(' ') + ' :: ' + n.html.slice(0, 160)),
  }))),
  (error) => done([{id: 'axe-error', impact: 'critical', help: String(error), nodes: []}]));
"""


def axe_source() -> str:
    if not AXE_SCRIPT.exists():
        missing_tool(f"axe-core is not installed at {AXE_SCRIPT} (make test runs npm ci into .venv/node/tests)")
    return AXE_SCRIPT.read_text()


def set_theme(lab, theme: str) -> None:
    lab.driver.execute_cdp_cmd("Emulation.setEmulatedMedia",
                               {"features": [{"name": "prefers-color-scheme", "value": theme}]})


def open_view(lab, view) -> None:
    lab.open(view.path, wait_for=(view.ids.LOSS_GRAPH, view.ids.GRAD_GRAPH))


def settle(lab) -> None:
    """Wait until no callback is pending and the DOM has been still for a moment (formulas typeset, etc.)."""
    lab.wait_until(lambda: lab.js("return !document.querySelector('[data-dash-is-loading]')"),
                   "pending callbacks to finish", timeout=15)
    lab.js("window.__quietSince = performance.now();"
           "if (!window.__quietWatch) { window.__quietWatch = new MutationObserver("
           "() => { window.__quietSince = performance.now(); });"
           "window.__quietWatch.observe(document.body, {childList: true, subtree: true, attributes: true}); }")
    lab.wait_until(lambda: lab.js("return performance.now() - window.__quietSince > 400;"),
                   "the page to be still", timeout=15)


def typeset_formulas(lab) -> None:
    """Scroll the formulas into reach so assets/formulas.js typesets them, and wait until it has: the
    walk lists the controls first, and a formula's text typeset mid-walk is a new element it never reaches."""
    if not lab.js("return !!document.querySelector('.formulas .lazy-math');"):
        return
    lab.js("document.querySelector('.formulas').scrollIntoView({block: 'center'});")
    lab.wait_until(lambda: lab.js(
        "return Array.from(document.querySelectorAll('.formulas .lazy-math')).every("
        "(e) => !e.textContent.includes('$$') || e.querySelector('mjx-container svg'));"),
        "the formulas typeset", timeout=30)
    settle(lab)
    lab.js("window.scrollTo(0, 0);")


def axe_violations(lab, source: str) -> list[dict]:
    if not lab.js("return typeof window.axe === 'object';"):
        lab.js(source)
    lab.driver.set_script_timeout(60)
    return lab.driver.execute_async_script(AXE_RUN_JS)


def describe(violations: list[dict]) -> str:
    return "\n".join(f"  [{v['impact']}] {v['id']}: {v['help']}\n      " + "\n      ".join(v["nodes"][:5])
                     for v in violations)


def test_no_serious_axe_finding_on_any_view_in_light_or_dark(lab):
    """Each view is opened once and checked in both themes (the emulated media applies live, no reload)."""
    source = axe_source()
    found = {}
    for view in VIEWS:
        set_theme(lab, "light")
        open_view(lab, view)
        backgrounds = set()
        for theme in ("light", "dark"):
            set_theme(lab, theme)
            assert lab.js("return matchMedia('(prefers-color-scheme: dark)').matches;") == (theme == "dark")
            settle(lab)
            # the emulation reaches the page's CSS, so axe checks the colours a dark-mode phone shows
            backgrounds.add(lab.js("return getComputedStyle(document.body).backgroundColor;"))
            found[f"{view.path} ({theme})"] = axe_violations(lab, source)
        assert len(backgrounds) == 2, f"{view.path}: the page looks the same in light and dark: {backgrounds}"
    set_theme(lab, "light")
    serious = [v for violations in found.values() for v in violations if v["impact"] in FAILING_IMPACTS]
    report = "\n".join(f"{where}:\n{describe(violations)}" for where, violations in found.items() if violations)
    assert not serious, f"serious or critical axe findings:\n{report}"
    assert lab.duo.get_logs() == []


# -- keyboard only ---------------------------------------------------------------------------------

# How an element and its two nearest ancestors look; the focus indicator is a change of this
# (Dash 4 draws the text boxes' focus ring on their wrapper, with :focus-within).
LOOK_JS = """
const look = (e) => [e, e.parentElement, e.parentElement && e.parentElement.parentElement].map((x) => {
  if (!x) return '';
  const s = getComputedStyle(x);
  return [s.outlineStyle, s.outlineWidth, s.outlineColor, s.boxShadow, s.borderColor, s.backgroundColor].join(' ');
}).join(' | ');
"""

# Every element a user can operate, visible and enabled. Radio buttons count once per group
# (Tab enters a group at its checked button; the arrow keys move within it).
CONTROLS_JS = LOOK_JS + """
const main = document.querySelector('main');
const selector = 'a[href], button, summary, input:not([type=hidden]), select, textarea, [role=slider], [tabindex]:not([tabindex="-1"])';
const seen = new Set();
let n = 0;
return Array.from(document.querySelectorAll(selector)).filter((e) => {
  if (e.disabled || !e.checkVisibility({visibilityProperty: true})) return false;
  if (e.closest('.js-plotly-plot')) return false;
  if (e.type === 'radio') { if (seen.has(e.name)) return false; seen.add(e.name); }
  return true;
}).map((e) => {
  if (!e.dataset.control) e.dataset.control = 'c' + (n++) + '-' + Math.random().toString(36).slice(2, 7);
  // A selector that still finds the control after React has re-rendered it.
  const owner = e.closest('[id]');
  const selector = e.type === 'radio' ? `input[type=radio][name="${CSS.escape(e.name)}"]`
    : e.id ? '#' + CSS.escape(e.id)
    : (e.getAttribute('role') === 'slider' && owner) ? '#' + CSS.escape(owner.id) + ' [role=slider]'
    : `[data-control="${e.dataset.control}"]`;
  e.dataset.look = look(e);
  return {key: e.dataset.control, selector, tag: e.tagName.toLowerCase(), type: e.type || '', role: e.getAttribute('role') || '',
          name: e.type === 'radio' ? e.name : '', id: e.id || '', inMain: !!(main && main.contains(e)),
          opensCard: e.hasAttribute('data-card'),
          label: (e.getAttribute('aria-label') || e.textContent || e.value || '').trim().slice(0, 40)};
});
"""

# What has focus now, whether it shows a focus indicator, and which control it is.
FOCUSED_JS = LOOK_JS + """
const e = document.activeElement;
if (!e || e === document.body || e === document.documentElement) return null;
return {key: e.dataset.control || null, name: e.type === 'radio' ? e.name : '',
        visible: e.dataset.look === undefined || look(e) !== e.dataset.look, what: e.outerHTML.slice(0, 120)};
"""


# Records, at each Tab's keyup, what has focus (FOCUSED_JS's fields): the walk sends its Tabs in batches
# instead of one WebDriver round trip per Tab and another to read the focus.
TAB_RECORDER_JS = LOOK_JS + """
window.__tabs = [];
if (!window.__tabRecorder) {
  window.__tabRecorder = (event) => {
    if (event.key !== 'Tab') return;
    const e = document.activeElement;
    window.__tabs.push(!e || e === document.body || e === document.documentElement ? null
      : {key: e.dataset.control || null, name: e.type === 'radio' ? e.name : '',
         visible: e.dataset.look === undefined || look(e) !== e.dataset.look, what: e.outerHTML.slice(0, 120)});
  };
  document.addEventListener('keyup', window.__tabRecorder, true);
}
"""
TABS_PER_BATCH = 25


def tab_walk(lab, limit: int) -> list[dict]:
    """Press Tab from the top of the page until focus wraps around or leaves the page; what got focus, in order."""
    # Tab goes on from the last focused element, so the walk starts from a stand-in at the page's top.
    lab.js("const start = document.createElement('span'); start.id = 'walk-start'; start.tabIndex = -1;"
           "document.body.prepend(start); start.focus(); window.scrollTo(0, 0);")
    lab.js(TAB_RECORDER_JS)
    order, sent = [], 0
    while sent < limit:
        batch = min(TABS_PER_BATCH, limit - sent)
        lab.mouse().send_keys(Keys.TAB * batch).perform()
        sent += batch
        recorded = lab.js("return window.__tabs;")
        for focused in recorded[len(order):]:
            if focused is None or (order and focused["key"] is not None and focused["key"] == order[0]["key"]):
                lab.js("document.getElementById('walk-start')?.remove();")
                return order
            order.append(focused)
        if len(recorded) < sent:  # a Tab with no keyup in the page: focus has left it
            break
    lab.js("document.getElementById('walk-start')?.remove();")
    return order


def unreached(controls: list[dict], order: list[dict]) -> list[dict]:
    """The controls the walk never focused (a radio group counts as reached through any of its buttons)."""
    keys = {f["key"] for f in order}
    groups = {f["name"] for f in order if f["name"]}
    return [c for c in controls if c["key"] not in keys and not (c["name"] and c["name"] in groups)]


def press(lab, *keys) -> None:
    lab.mouse().send_keys(*keys).perform()


def focus(lab, selector: str) -> None:
    """Put focus on a control (the walk has shown Tab gets there; this saves the Tabs)."""
    lab.wait_until(lambda: lab.js("return !!document.querySelector(arguments[0]);", selector),
                   f"{selector} to be on the page", timeout=5)
    lab.js("const all = document.querySelectorAll(arguments[0]);"
           "(Array.from(all).find((e) => e.checked) || all[0]).focus();", selector)


def state_of(lab, selector: str):
    return lab.js(
        "const e = document.querySelector(arguments[0]);"
        "if (!e) return null;"
        "if (e.type === 'radio') return Array.from(document.querySelectorAll(arguments[0])).findIndex((r) => r.checked);"
        "if (e.type === 'checkbox') return e.checked;"
        "if (e.getAttribute('role') === 'slider') return e.getAttribute('aria-valuenow');"
        "if (e.type === 'range') return e.value;"
        "return e.value === undefined ? null : e.value;",
        selector,
    )


def wait_back(lab, selector: str, before, what: str) -> None:
    """Wait until a control is back where it was and its callbacks are done, before the next one."""
    lab.wait_until(lambda: state_of(lab, selector) == before, what, timeout=5)
    lab.wait_until(lambda: lab.js("return !document.querySelector('[data-dash-is-loading]')"),
                   "pending callbacks to finish", timeout=10)


def wait_changed(lab, selector: str, before, what: str):
    """Wait until the control's state differs from ``before`` (React re-renders a refused change back)."""
    return lab.wait_until(lambda: (lambda now: [now] if now is not None and now != before else None)(
        state_of(lab, selector)), what, timeout=5)[0]


def operate(lab, control: dict) -> str | None:
    """Operate one control with keys only; None if it responded, else what went wrong."""
    key, kind = control["selector"], control["type"] or control["role"] or control["tag"]
    try:
        focus(lab, key)
        before = state_of(lab, key)
        if control["type"] == "checkbox":
            press(lab, Keys.SPACE)
            wait_changed(lab, key, before, f"checkbox {control['label']!r} to toggle on Space")
            press(lab, Keys.SPACE)
            wait_back(lab, key, before, f"checkbox {control['label']!r} to toggle back on Space")
        elif control["type"] == "radio":
            press(lab, Keys.ARROW_RIGHT)
            wait_changed(lab, key, before, f"radio group {control['name']!r} to move on ArrowRight")
            press(lab, Keys.ARROW_LEFT)
            wait_back(lab, key, before, f"radio group {control['name']!r} to move back on ArrowLeft")
        elif control["role"] == "slider" or control["type"] == "range":
            # Towards the free end, then back.
            at_max = lab.js("const e = document.querySelector(arguments[0]);"
                            "return e.type === 'range' ? Number(e.value) >= Number(e.max)"
                            " : e.getAttribute('aria-valuenow') === e.getAttribute('aria-valuemax');", key)
            there, back = (Keys.ARROW_LEFT, Keys.ARROW_RIGHT) if at_max else (Keys.ARROW_RIGHT, Keys.ARROW_LEFT)
            press(lab, there)
            wait_changed(lab, key, before, f"slider {control['label']!r} to move on an arrow key")
            press(lab, back)
            if control["role"] == "slider":  # a playback range input may be moved on by its player
                wait_back(lab, key, before, f"slider {control['label']!r} to move back")
        elif control["tag"] == "input":
            # Retype the box's own text with the keyboard and apply it with Enter: it must keep it.
            press(lab, Keys.END, Keys.BACKSPACE, str(before)[-1:] if before else "", Keys.ENTER)
            time.sleep(0.2)
            wait_back(lab, key, before, f"text box {control['id']!r} to keep its text")
            if state_of(lab, key) != before:
                return f"text box {control['id']!r} changed from {before!r} to {state_of(lab, key)!r}"
        elif control["tag"] == "summary":
            was_open = lab.js("return document.querySelector(arguments[0]).parentElement.open;", key)
            press(lab, Keys.ENTER)
            lab.wait_until(lambda: lab.js("return document.querySelector(arguments[0]).parentElement.open;", key)
                           != was_open, f"{control['label']!r} to open or close on Enter", timeout=5)
            press(lab, Keys.ENTER)
        elif control["tag"] == "button":
            lab.js("const e = document.querySelector(arguments[0]);"
                   "e.addEventListener('click', () => { e.dataset.keyed = '1'; }, {once: true});", key)
            press(lab, Keys.ENTER)
            lab.wait_until(lambda: lab.js("return document.querySelector(arguments[0])?.dataset.keyed === '1';", key),
                           f"button {control['label']!r} to be pressed by Enter", timeout=5)
            press(lab, Keys.ENTER)  # a toggle goes back to where it was
        # Links (a[href]) are native: Enter follows them; the walk has shown they take focus.
        # Other focusable elements (MathJax's formulas) are read, not operated.
    except AssertionError as error:
        return f"{kind} {control['label'] or control['id']!r}: {error}"
    return None


def test_keyboard_alone_reaches_and_operates_every_control_of_every_view(lab):
    """Tab reaches every control, each shows where focus is, and keys operate them.

    Every control of every view is operated with LOSSLAB_LONG=1 (3 to 5 minutes); by default one
    control of each kind (slider, checkbox, radio group, text box, button) per view, on the views
    :func:`walked_views` picks.
    """
    problems = []
    for view in walked_views():
        open_view(lab, view)
        settle(lab)
        typeset_formulas(lab)
        # Folded groups of controls (<details>) are opened first, so the walk can reach what they hold;
        # that their summaries open and close by keyboard is checked with the other controls.
        lab.js("document.querySelectorAll('details').forEach((d) => { d.open = true; });")
        controls = lab.js(CONTROLS_JS)
        # Unlisted tab stops (chart toolbars, links in the chooser table) come too; the walk ends when focus wraps.
        order = tab_walk(lab, limit=2 * len(controls) + 60)
        for control in unreached(controls, order):
            problems.append(f"{view.path}: Tab never reaches {control['tag']} {control['id'] or control['label']!r}")
        for focused in order:
            if not focused["visible"]:
                problems.append(f"{view.path}: no visible focus indicator on {focused['what']}")
        kinds_done = set()
        for control in controls:
            kind = control["role"] or control["type"] or control["tag"]
            if not control["inMain"] or not (control["tag"] in ("input", "button", "summary") or kind == "slider"):
                continue
            if control["opensCard"]:  # a related loss's button replaces the card it sits in (test_cards walks it)
                continue
            if kind in kinds_done and not LONG:
                continue
            kinds_done.add(kind)
            problem = operate(lab, control)
            if problem:
                problems.append(f"{view.path}: {problem}")
        settle(lab)
        if view is VIEWS[0]:
            problems += walk_self_check(lab)
    assert not problems, "\n".join(problems)
    assert lab.duo.get_logs() == []


def walked_views():
    """Every view with LOSSLAB_LONG=1; by default every view with a page of its own and one of the family
    views that share FamilyView's page (the axe test above still checks every view's markup)."""
    from losslab.dashboard.views.family import FamilyView

    if LONG:
        return list(VIEWS)
    family = [view for view in VIEWS if isinstance(view, FamilyView)]
    return [view for view in VIEWS if not isinstance(view, FamilyView)] + family[:1]


def walk_self_check(lab) -> list[str]:
    """The walk's own check: a control taken out of the tab order is missed by the walk."""
    controls = lab.js(CONTROLS_JS)
    target = next(c for c in controls if c["inMain"] and c["tag"] == "input" and c["type"] not in ("radio", "checkbox"))
    lab.js("document.querySelector(arguments[0]).tabIndex = -1;", target["selector"])
    order = tab_walk(lab, limit=len(controls) + 30)
    lab.js("document.querySelector(arguments[0]).removeAttribute('tabindex');", target["selector"])
    missed = [c["selector"] for c in unreached(controls, order)]
    if missed != [target["selector"]]:
        return [f"self-check: the walk should miss exactly {target['selector']}; it missed {missed}"]
    return []
