"""/metric: metric-learning losses against the distance between embeddings (STUB: being built)."""

from __future__ import annotations

from losslab.dashboard import controls
from losslab.dashboard.views.family import FamilyView, label_control, position_control


class MetricView(FamilyView):
    name = "metric"
    path = "/metric"
    title = "Metric learning"
    introduction = "Contrastive and triplet losses against the distance between two embeddings."
    task = "metric"
    x_name = "distance"
    x_range = (0.0, 4.0)
    x_title = "distance d"
    grad_title = "dL/dd"
    x_symbol = "d"
    label_name = "label"
    numbers = (
        position_control("distance", "Distance d", 1.5, "click a chart to move it"),
        label_control("Pair similar (1) or dissimilar (0)", "1: a positive pair; 0: a negative pair"),
        *controls.parameters_of("metric"),
    )
    default_losses = ("contrastive", "triplet_margin")

    @property
    def loss_keys(self) -> tuple[str, ...]:
        return ("contrastive", "triplet_margin")


VIEW = MetricView()
