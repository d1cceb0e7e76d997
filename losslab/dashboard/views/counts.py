"""/counts: count losses against the predicted log-rate (STUB: being built)."""

from __future__ import annotations

from losslab import registry
from losslab.dashboard import controls
from losslab.dashboard.views.family import FamilyView, position_control


class CountsView(FamilyView):
    name = "counts"
    path = "/counts"
    title = "Counts"
    introduction = "The Poisson negative log-likelihood against the predicted log-rate."
    task = "counts"
    x_name = "log_rate"
    x_range = (-3.0, 4.0)
    x_title = "predicted log-rate log λ"
    grad_title = "dL/d log λ"
    x_symbol = "log λ"
    label_name = "count"
    numbers = (
        position_control("log_rate", "Predicted log-rate log λ", 0.0, "click a chart to move it"),
        controls.NumberControl("count", "Observed count y", 3, registry.NON_NEGATIVE, 0, 20, 1, integer=True,
                               help="a whole number ≥ 0"),
    )
    default_losses = ("poisson_nll",)

    @property
    def loss_keys(self) -> tuple[str, ...]:
        return ("poisson_nll",)


VIEW = CountsView()
