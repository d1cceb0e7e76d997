"""/ranking: ranking losses against the score margin of a pair (STUB: being built)."""

from __future__ import annotations

from losslab.dashboard import controls
from losslab.dashboard.views.family import FamilyView, label_control, position_control


class RankingView(FamilyView):
    name = "ranking"
    path = "/ranking"
    title = "Ranking"
    introduction = "Pairwise ranking losses against the score margin s₁ − s₂."
    task = "ranking"
    x_name = "margin_score"
    x_range = (-4.0, 4.0)
    x_title = "score margin s₁ − s₂"
    grad_title = "dL/d(s₁ − s₂)"
    x_symbol = "s₁ − s₂"
    label_name = "label"
    numbers = (
        position_control("margin_score", "Score margin s₁ − s₂", -1.0, "click a chart to move it"),
        label_control("Item 1 should rank first (1) or second (0)", "1: item 1 is the relevant one"),
        *controls.parameters_of("ranking"),
    )
    default_losses = ("margin_ranking", "bpr")

    @property
    def loss_keys(self) -> tuple[str, ...]:
        return ("margin_ranking", "bpr")


VIEW = RankingView()
