"""The readout and stability tables, built directly in Dash's JSON wire format.

A callback response that holds only JSON-native values is serialised by
orjson in one C call; a single ``html.*`` component object in it sends the
whole response through plotly's Python fallback encoder (1 to 4 ms a
request, measured in ``bench/``). These tables change on every control
change, so they are plain dicts of the form Dash itself sends for a component:
``{"type": "Td", "namespace": "dash_html_components", "props": {...}}``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dash.development.base_component import Component

if TYPE_CHECKING:
    from losslab.dashboard.views.base import ReadoutTable


def wire(value):
    """A component tree (``dash`` components, lists, dicts, plain values) in Dash's JSON wire format.

    The same JSON as ``Component.to_plotly_json`` applied all the way down (what plotly's fallback
    encoder makes of a tree), in one walk that looks only at containers, so that a route answer (a
    whole page) serialises in orjson's single C call.
    """
    if isinstance(value, Component):
        attributes = vars(value)
        props = {name: _wire_item(attributes[name]) for name in value._prop_names if name in attributes}
        wildcards = tuple(value._valid_wildcard_attributes)
        props.update((name, _wire_item(item)) for name, item in attributes.items()
                     if name.startswith(wildcards) and name not in props)
        return {"props": props, "type": value._type, "namespace": value._namespace}
    if isinstance(value, list | tuple):
        return [_wire_item(item) for item in value]
    if isinstance(value, dict):
        return {key: _wire_item(item) for key, item in value.items()}
    return value


_LEAVES = (str, int, float, type(None))


def _wire_item(item):
    return item if isinstance(item, _LEAVES) else wire(item)


HTML = "dash_html_components"


def element(tag: str, children=None, **props) -> dict:
    """One ``dash.html`` element as wire JSON; ``data_loss="x"`` becomes ``data-loss``."""
    if any(name.startswith(("data_", "aria_")) for name in props):
        props = {name.replace("_", "-") if name.startswith(("data_", "aria_")) else name: value
                 for name, value in props.items()}
    if children is not None:
        props["children"] = children
    return {"type": tag, "namespace": HTML, "props": props}


def readout_table(readout: ReadoutTable) -> dict:
    """Loss and the gradients that mean something for the view at the current point, a row per loss.

    ``grad_label`` / ``logit_grad_label`` set to None drop that column.
    """
    columns = [("L", "loss")]
    if readout.grad_label:
        columns.append((readout.grad_label, "grad_prediction"))
    if readout.logit_grad_label:
        columns.append((readout.logit_grad_label, "grad_logit"))
    header = element("Tr", [element("Th", text) for text in ("loss", *(label for label, _ in columns))])
    fields = [field for _, field in columns]
    rows = [  # element("Tr", [element("Td", ...), ...], data_loss=row.key), written out: one per loss and request
        {"type": "Tr", "namespace": HTML,
         "props": {"data-loss": row.key,
                   "children": [{"type": "Td", "namespace": HTML, "props": {"children": row.label}},
                                *({"type": "Td", "namespace": HTML,
                                   "props": {"children": number_text(getattr(row, field))}} for field in fields)]}}
        for row in readout.rows
    ]
    caption = element("Caption", f"At {readout.prediction_label} = {readout.prediction_value:.6g}"
                      + (f". {readout.note}" if readout.note else ""))
    return element("Table", [caption, element("Thead", header), element("Tbody", rows)], className="readout-table")


def stability_table(rows) -> dict:
    """(class, naive softmax, stable softmax) rows; NaN cells are marked for the eye."""
    header = element("Tr", [element("Th", text) for text in
                            ("class", "naive exp(z)/Σexp(z)", "stable (shift by max)")])
    body = [
        element("Tr", [element("Td", k), element("Td", naive, className="nan" if naive == "nan" else ""),
                       element("Td", stable)])
        for k, naive, stable in rows
    ]
    return element("Table", [element("Thead", header), element("Tbody", body)], className="stability-table")


def number_text(value: float) -> str:
    """4 decimals, or 4 significant digits for small and huge values; '—' where there is no value.

    Huge: from 1e15, where 4 decimals would print every digit of the float (dL/dλ = −1e306 at λ = 1e-300
    was 313 characters wide, pushing the readout off the screen)."""
    if value != value:  # NaN
        return "—"
    return f"{value:.4f}" if 1e-3 <= abs(value) < 1e15 or value == 0 else f"{value:.4e}"
