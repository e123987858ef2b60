"""The host protocol the panel talks to, and where each implementation lives.

The protocol and the files host are defined in :mod:`ui.hostapi`, because the panel must not
import this package; this module re-exports them so adapters and tools have one place to
import from, and adds what every editor adapter shares.

Implementations: :class:`FileHost` (standalone app), :class:`icm_plugin.krita.host.KritaHost`
(inside Krita), :class:`icm_plugin.gimp.session.ExchangeHost` (the GIMP 3 bridge's panel
process).  All of them return results as NEW layers, masks, selections or files.
"""

from __future__ import annotations

from dataclasses import dataclass

from ui.hostapi import OUTPUT_MODES, FileHost, Host, Layer, Written

__all__ = ["OUTPUT_MODES", "FileHost", "Host", "Layer", "Written", "HostLayer"]


@dataclass(frozen=True)
class HostLayer(Layer):
    """A layer of an editor document; ``kind`` is the editor's node type (``paintlayer``,
    ``grouplayer``, ``vectorlayer``…) so the panel and tests can tell them apart."""

    kind: str = "paintlayer"
