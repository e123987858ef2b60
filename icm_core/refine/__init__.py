"""From a coarse foreground estimate to a fine, full-resolution alpha, shared by the engines.

One module per stage: :mod:`.segmentation` (GrabCut, computed by :mod:`.grabcut`, helped by
:mod:`.completion`), :mod:`.trimap`, :mod:`.closed_form` matting, :mod:`.upsampling` (guided
filter) and :mod:`.foreground` colours; :mod:`.pipeline` chains them (final and preview).
"""

from .foreground import estimate_foreground
from .pipeline import RefineSettings, preview_alpha, refine_alpha

__all__ = ["RefineSettings", "estimate_foreground", "preview_alpha", "refine_alpha"]
