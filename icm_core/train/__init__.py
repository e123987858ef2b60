"""Training the ICM decoder on frozen Stable Diffusion features (``icm-matting train``).

``config`` (no torch) holds the settings; ``trainer`` the loop; ``data`` the grouped pictures
and their views; ``features`` the cached backbone; ``guidance`` the brushed-mask styles;
``losses`` the official loss terms.  Everything but ``config`` needs the ``icm`` extra.
"""
