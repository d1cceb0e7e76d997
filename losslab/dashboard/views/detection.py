"""/detection: box-regression losses (IoU, GIoU, DIoU, CIoU) as a predicted box slides past its target.

The target is the unit square (0, 0, 1, 1); the predicted box has area 1, an
aspect ratio w/h set by a slider, and is offset horizontally by x (in box
widths of the target). At |x| ≥ 1 the boxes stop overlapping: the IoU loss is
flat at 1 with a zero gradient there, while GIoU, DIoU and CIoU keep pulling
the box back. Every value is the core's loss of the two boxes
(:mod:`losslab.detection`, via :mod:`losslab._story`).
"""

from __future__ import annotations

from losslab.dashboard import controls
from losslab.dashboard.url_state import ViewState
from losslab.dashboard.views.family import FamilyView, position_control


class DetectionView(FamilyView):
    name = "detection"
    path = "/detection"
    title = "Object detection"
    introduction = (
        "A predicted box slides sideways past its target, the unit square. The IoU loss only sees the overlap: "
        "once the boxes are apart it is flat at 1 and its gradient is zero, so a detector learns nothing from "
        "a box that missed. GIoU adds the empty part of the enclosing box, DIoU the distance between the "
        "centres, CIoU also the aspect ratio: they keep pulling a distant box home."
    )
    task = "detection"
    x_name = "offset"
    x_range = (-3.0, 3.0)
    x_title = "horizontal offset x of the predicted box"
    grad_title = "dL/dx"
    x_symbol = "x"
    numbers = (
        position_control("offset", "Offset x", 1.5, "in widths of the target box; click a chart to move it"),
        *controls.parameters_of("detection"),
    )
    default_losses = ("iou_loss", "giou", "diou", "ciou")
    motion_controls = ("aspect",)
    chooser_rows = (
        ("Object detection (box regression)", "Linear (box coordinates)", "GIoU, DIoU or CIoU",
         "?losses=iou_loss,giou,diou,ciou&offset=1.5"),
    )

    def lesson(self, state: ViewState, rows) -> str:
        offset = state.number(self.x_name)
        apart = abs(offset) >= 0.5 * (1 + state.number("aspect") ** 0.5)
        grads = ", ".join(f"{row.label} {row.grad_prediction:.3g}" for row in rows)
        where = ("The boxes do not overlap" if apart else "The boxes overlap")
        return f"At x = {offset:g}: {where}; dL/dx is {grads}."


VIEW = DetectionView()
