"""What each view lets the user set, and how raw control values are checked.

Pure Python (no Dash): the layout builds widgets from these declarations,
the callbacks and the URL parser validate through them, and every failure
is a message that names the bad value and what was expected.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from losslab import registry
from losslab._validation import Interval
from losslab.dashboard import ids

MAX_CLASSES = 10
MIN_CLASSES = 2
MAX_LOGIT_TEXT = 400
LOGIT_LIMIT = 1e6
VALUE_LIMIT = 1e6


@dataclass(frozen=True)
class NumberControl:
    """A number set with a slider and a text box (slider positions are log10 of the value if ``log_scale``)."""

    name: str
    label: str
    default: float
    valid: Interval
    slider_min: float
    slider_max: float
    step: float
    log_scale: bool = False
    integer: bool = False
    help: str = ""
    has_slider: bool = True

    def parse(self, raw) -> tuple[float | None, str | None]:
        """``(value, None)`` for good input, ``(None, message)`` otherwise; never raises."""
        value, problem = parse_number(raw)
        if problem:
            return None, f"{self.label}: {problem}; expected {self.expected()}"
        if self.integer and value != int(value):
            return None, f"{self.label}: {format_number(value)} is not a whole number; expected {self.expected()}"
        if not self.valid.contains(value):
            return None, f"{self.label}: {format_number(value)} is out of range; expected {self.expected()}"
        return (int(value) if self.integer else value), None

    def expected(self) -> str:
        return range_in_words(self.valid, integer=self.integer)

    def family_positions(self) -> list[float]:
        """Every position the slider can stop at (its min plus whole steps, at most MAX_FRAMES + 1)."""
        count = math.floor((self.slider_max - self.slider_min) / self.step + 1e-9) + 1
        return [round(self.slider_min + k * self.step, 10) for k in range(count)]

    def value_at(self, position: float) -> float:
        """The value a slider position puts in the text box (4 significant digits, as assets/losslab.js
        writes it), so a precomputed frame is exactly what the server computes after release."""
        value = 10.0**position if self.log_scale else position
        return float(f"{value:.4g}")

    def smallest_accepted(self) -> float | None:
        """The least value ``parse`` accepts (None: unbounded); an open bound is the next float inside it."""
        low = self.valid.low
        if low is None or self.valid.low_inclusive:
            return low
        return math.nextafter(low, math.inf)

    def largest_accepted(self) -> float | None:
        high = self.valid.high
        if high is None or self.valid.high_inclusive:
            return high
        return math.nextafter(high, -math.inf)

    def slider_position(self, value: float) -> float:
        position = math.log10(value) if self.log_scale else value
        return min(max(position, self.slider_min), self.slider_max)


def range_in_words(valid: Interval, *, integer: bool = False) -> str:
    """An interval as a reader says it: "a number from 0 to 1", "a number greater than 0"."""
    kind = "a whole number" if integer else "a number"
    low, high = valid.low, valid.high
    if low is not None and high is not None:
        if valid.low_inclusive and valid.high_inclusive:
            return f"{kind} from {_plain(low)} to {_plain(high)}"
        if not valid.low_inclusive and not valid.high_inclusive:
            return f"{kind} strictly between {_plain(low)} and {_plain(high)}"
        excluded = low if not valid.low_inclusive else high
        return f"{kind} from {_plain(low)} to {_plain(high)}, but not {_plain(excluded)}"
    if low is not None:
        return f"{kind} of at least {_plain(low)}" if valid.low_inclusive else f"{kind} greater than {_plain(low)}"
    if high is not None:
        return f"{kind} of at most {_plain(high)}" if valid.high_inclusive else f"{kind} less than {_plain(high)}"
    return kind


def _plain(value: float) -> str:
    """1,000,000 rather than 1e+06; 0.01 as it is."""
    return f"{value:,.0f}" if abs(value) >= 1000 and value == int(value) else f"{value:g}"


# What a text box or a link may hold: a plain decimal number (sign, digits, point, exponent). Python's
# float() also reads 1_000, "１" and other Unicode digits, JavaScript's Number() reads 0x1f, 0b11 and 0o7:
# assets/losslab.js moves a slider with this same pattern, so the slider follows exactly what is accepted.
DECIMAL_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$", re.ASCII)
_COMMA_DECIMAL = re.compile(r"^[+-]?\d+,\d+$", re.ASCII)
_THOUSANDS = re.compile(r"^[+-]?[1-9]\d{0,2}(,\d{3})+$", re.ASCII)
_NOT_FINITE_WORDS = re.compile(r"^[+-]?(nan|inf|infinity)$", re.IGNORECASE)


def parse_number(raw) -> tuple[float | None, str | None]:
    """A finite float from a text box (or a number), else a description of what is wrong."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None, "the box is empty"
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        return None, f"{_quote(raw)} is not a number"
    if isinstance(raw, str):
        text = raw.strip().replace("−", "-")
        if _NOT_FINITE_WORDS.match(text):
            return None, f"{_quote(raw)} is not a finite number"
        if _THOUSANDS.match(text) and text.count(",") > 1:
            return None, f"{_quote(raw)} is not a number (no separator for thousands: {text.replace(',', '')})"
        if _COMMA_DECIMAL.match(text):
            point = text.replace(",", ".")
            if _THOUSANDS.match(text):  # 1,000: a decimal comma or a thousands separator
                return None, (f"{_quote(raw)} is not a number (use a point for decimals: {point}, "
                              f"and no separator for thousands: {text.replace(',', '')})")
            return None, f"{_quote(raw)} is not a number (use a point for decimals: {point})"
        if not DECIMAL_NUMBER.match(text):
            return None, f"{_quote(raw)} is not a number"
    try:
        value = float(text) if isinstance(raw, str) else float(raw)
    except (ValueError, OverflowError):
        return None, f"{_quote(raw)} is not a number"
    if not math.isfinite(value):
        return None, f"{_quote(raw)} is not a finite number"
    return value, None


def parse_logits(raw) -> tuple[tuple[float, ...] | None, str | None]:
    """Comma- or space-separated logits, 2 to 10 finite numbers with |z| <= 1e6."""
    expected = f"{MIN_CLASSES} to {MAX_CLASSES} numbers separated by commas, like 2, 1, 0.1, -1"
    if not isinstance(raw, str) or not raw.strip():
        return None, f"Logits: the box is empty; expected {expected}"
    if len(raw) > MAX_LOGIT_TEXT:
        return None, f"Logits: the text is {len(raw)} characters long; expected {expected}"
    parts = [p.strip() for p in re.split(r"[,;\s]+", raw.strip().strip("[]()"))]
    if "" in parts or re.search(r",\s*,", raw):
        return None, f"Logits: {_quote(raw)} has an empty entry; expected {expected}"
    if not MIN_CLASSES <= len(parts) <= MAX_CLASSES:
        return None, f"Logits: got {len(parts)} value(s); expected {expected}"
    logits = []
    for part in parts:
        value, problem = parse_number(part)
        if problem:
            return None, f"Logits: {problem}; expected {expected}"
        if abs(value) > LOGIT_LIMIT:
            return None, f"Logits: {format_number(value)} is beyond ±1e6; expected {expected}"
        logits.append(value)
    return tuple(logits), None


def format_logits(logits) -> str:
    return ", ".join(format_number(z) for z in logits)


def parse_losses(raw, offered) -> tuple[tuple[str, ...] | None, str | None]:
    """The checked losses of a view, in the order offered; at least one is required.

    ``offered``: the loss keys the view offers, or a registry task (all of its losses).
    """
    known = offered_losses(offered)
    names = ", ".join(f"{key} ({registry.get(key).label})" for key in known)
    if not isinstance(raw, list | tuple) or not all(isinstance(k, str) for k in raw):
        return None, f"Losses: expected a list of loss names, any of {names}"
    unknown = [k for k in raw if k not in known]
    if unknown:
        return None, f"Losses: there is no loss called {_quote(unknown[0])} here; expected any of {names}"
    if not raw:
        return None, "Losses: nothing is selected; tick at least one loss to compare"
    return tuple(k for k in known if k in raw), None


def offered_losses(offered) -> list[str]:
    """The loss keys of ``offered``: a view's keys as given, or every loss of a registry task."""
    return [spec.key for spec in registry.for_task(offered)] if isinstance(offered, str) else list(offered)


def format_number(value: float) -> str:
    """The shortest text that reads back as exactly ``value`` (so links round-trip): 1 not 1.0."""
    if isinstance(value, int):
        return str(value)
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def _quote(raw) -> str:
    text = str(raw)
    if len(text) > 40:
        text = text[:37] + "..."
    return f"“{text}”"


def parameter_control(parameter: registry.Parameter) -> NumberControl:
    """A loss hyperparameter (Huber δ, focal γ, ...) as a number control with the registry's slider range.

    The ends are widened to whole steps (a slider stops at its min plus whole steps), so round
    values such as δ = 1 (position 0 on a log slider) are slider positions.
    """
    low, high = parameter.slider_min, parameter.slider_max
    if parameter.log_scale:
        low, high = math.log10(low), math.log10(high)
    step = slider_step(parameter.slider_min, parameter.slider_max, parameter.log_scale)
    return NumberControl(
        name=parameter.name,
        label=parameter.label,
        default=parameter.default,
        valid=parameter.valid,
        slider_min=round(math.floor(low / step + 1e-9) * step, 10),
        slider_max=round(math.ceil(high / step - 1e-9) * step, 10),
        step=step,
        log_scale=parameter.log_scale,
    )


MAX_FRAMES = 100


def slider_step(low: float, high: float, log_scale: bool = False) -> float:
    """A round step giving at most MAX_FRAMES steps over the slider (1, 2, 2.5 or 5 times a power of ten):
    fine enough to drag, few enough that every position's curves can be sent ahead for live motion."""
    span = (math.log10(high) - math.log10(low)) if log_scale else high - low
    raw = span / MAX_FRAMES
    power = 10.0 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw * (1 - 1e-12))


def parameters_of(task: registry.Task) -> tuple[NumberControl, ...]:
    """One control per distinct hyperparameter of a task's losses, in registry order."""
    seen: dict[str, registry.Parameter] = {}
    for spec in registry.for_task(task):
        for parameter in spec.parameters:
            seen.setdefault(parameter.name, parameter)
    return tuple(parameter_control(p) for p in seen.values())


FINITE = Interval(-VALUE_LIMIT, VALUE_LIMIT)
OPEN_UNIT = Interval(0.0, 1.0, low_inclusive=False, high_inclusive=False)


@dataclass(frozen=True)
class ChoiceControl:
    """One of a few named options (a radio group), kept in the URL by its key."""

    name: str
    label: str
    choices: tuple[tuple[str, str], ...]  # (key, label shown)
    default: str
    advanced: bool = False  # shown under "Chart options", folded while at its default

    def parse(self, raw) -> tuple[str | None, str | None]:
        keys = [key for key, _ in self.choices]
        if isinstance(raw, str) and raw in keys:
            return raw, None
        expected = " or ".join(f"“{key}” ({text})" for key, text in self.choices)
        return None, f"{self.label}: {_quote(raw)} is unknown; expected {expected}"

    def format(self, value: str) -> str:
        return value

    has_message = False

    def input_id(self, view: str) -> str:
        return f"{view}-{self.name}"


@dataclass(frozen=True)
class LogitsControl:
    """A list of logits typed in one text box (see :func:`parse_logits`)."""

    name: str
    label: str
    default: tuple[float, ...]
    help: str = f"{MIN_CLASSES} to {MAX_CLASSES} numbers separated by commas"

    def parse(self, raw) -> tuple[tuple[float, ...] | None, str | None]:
        return parse_logits(raw)

    def format(self, value) -> str:
        """The URL's form: ``1000,999,998``."""
        return ",".join(format_number(z) for z in value)

    def display(self, value) -> str:
        """The text box's form: ``1000, 999, 998``."""
        return format_logits(value)

    has_message = True

    def input_id(self, view: str) -> str:
        return ids.number_input(view, self.name)


ExtraControl = ChoiceControl | LogitsControl


# Every sweep view offers it (one control, not a copy per view): log y on loss charts, symmetric log on gradients.
Y_SCALE = ChoiceControl("scale", "y axis", (("linear", "linear"), ("log", "log (symmetric log for gradients)")),
                        "linear", advanced=True)
GRADIENT_CHECK = ChoiceControl("check", "Gradient check", (("off", "off"), ("on", "overlay finite differences")),
                               "off", advanced=True)
