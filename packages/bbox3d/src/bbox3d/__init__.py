"""Axis-aligned 3D boxes in voxel space: conversions, IoU and boxes from label maps, fast.

Axis order is ``(slice, row, col)``; boxes are half-open integer ranges
``[s0, s1) x [r0, r1) x [c0, c1)`` so that ``volume[s0:s1, r0:r1, c0:c1]`` is the crop.
The public text form is ``[start_slice, end_slice, x_min, x_max, y_min, y_max]``
(inclusive, x = column, y = row).
"""

from .box import Box, Rounding
from .errors import Bbox3dError
from .label_boxes import LabelBoxes, RegionBox, boxes_from_labels, enclosing_box
from .overlap import boxes_to_array, hit_rates, iou, iou_many
from .public_form import boxes_from_public
from .view_geometry import ViewGeometry

__version__ = "0.1.0"
__all__ = [
    "Bbox3dError",
    "Box",
    "LabelBoxes",
    "RegionBox",
    "Rounding",
    "ViewGeometry",
    "__version__",
    "boxes_from_labels",
    "boxes_from_public",
    "boxes_to_array",
    "enclosing_box",
    "hit_rates",
    "iou",
    "iou_many",
]
