"""From a coarse foreground estimate to a fine, full-resolution alpha, shared by the engines.

One module per stage: :mod:`.segmentation` (GrabCut, computed by :mod:`.grabcut`, helped by
:mod:`.completion`), :mod:`.trimap`, :mod:`.closed_form` matting, :mod:`.upsampling` (guided
filter) and :mod:`.foreground` colours; :mod:`.pipeline` chains them (final and preview).
"""

from .foreground import estimate_foreground
from .pipeline import RefineSettings, Settled, preview_alpha, refine_alpha, segment_subject

__all__ = ["RefineSettings", "Settled", "estimate_foreground", "preview_alpha", "refine_alpha",
           "segment_subject"]
