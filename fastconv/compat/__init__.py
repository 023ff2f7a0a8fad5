"""Drop-in replacements: switch by changing one import.

* ``from fastconv.compat import correlate, convolve`` for
  ``scipy.ndimage.correlate`` / ``convolve`` (its mode names and meanings,
  ``origin``, ``cval``, ``output``, ``axes``);
* ``from fastconv.compat import correlate2d, convolve2d`` for
  ``scipy.signal.correlate2d`` / ``convolve2d`` (``mode`` is the output size,
  ``boundary`` the border, ``fillvalue``; the swap rule of 'valid' mode);
* ``from fastconv.compat import filter2D`` (and the ``BORDER_*`` and ``CV_*``
  constants, with OpenCV's values) for ``cv2.filter2D`` (``ddepth``,
  ``anchor``, ``delta``, ``borderType``, saturation).

Each keeps its library's own conventions (even kernels, origins/anchors,
output dtypes) and is tested against the real library case by case. They
filter two axes; anything they do not support (N-D filters, per-axis
modes, OpenCV's BORDER_WRAP and BORDER_TRANSPARENT) raises an error naming
it. What differs on purpose: integer results that overflow the output dtype
saturate instead of wrapping around.
"""
from ._ndimage import convolve, correlate
from ._opencv import (BORDER_CONSTANT, BORDER_DEFAULT, BORDER_ISOLATED, BORDER_REFLECT, BORDER_REFLECT101,
                      BORDER_REFLECT_101, BORDER_REPLICATE, BORDER_TRANSPARENT, BORDER_WRAP, CV_8S, CV_8U, CV_16F,
                      CV_16S, CV_16U, CV_32F, CV_32S, CV_64F, filter2D)
from ._signal import convolve2d, correlate2d

__all__ = [
    "BORDER_CONSTANT", "BORDER_DEFAULT", "BORDER_ISOLATED", "BORDER_REFLECT", "BORDER_REFLECT101",
    "BORDER_REFLECT_101", "BORDER_REPLICATE", "BORDER_TRANSPARENT", "BORDER_WRAP", "CV_8S", "CV_8U", "CV_16F",
    "CV_16S", "CV_16U", "CV_32F", "CV_32S", "CV_64F", "convolve", "convolve2d", "correlate", "correlate2d",
    "filter2D",
]
