"""/generative: GAN losses against the discriminator's logit (STUB: being built)."""

from __future__ import annotations

from losslab.dashboard import controls
from losslab.dashboard.views.family import FamilyView, label_control, position_control


class GenerativeView(FamilyView):
    name = "generative"
    path = "/generative"
    title = "Generative models"
    introduction = "GAN losses against the discriminator's logit d, D(G(z)) = σ(d)."
    task = "generative"
    x_name = "score"
    x_range = (-8.0, 8.0)
    x_title = "discriminator logit d"
    grad_title = "dL/dd"
    x_symbol = "d"
    label_name = "label"
    numbers = (
        position_control("score", "Discriminator logit d", -4.0, "click a chart to move it"),
        label_control("Sample real (1) or generated (0)", "the discriminator's losses need it", default=0),
        *controls.parameters_of("generative"),
    )
    default_losses = ("gan_generator_minimax", "gan_generator_nonsaturating")

    @property
    def loss_keys(self) -> tuple[str, ...]:
        return ("gan_discriminator", "gan_generator_minimax", "gan_generator_nonsaturating", "wgan_critic",
                "wgan_generator", "hinge_gan_discriminator")


VIEW = GenerativeView()
