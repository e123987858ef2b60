"""The ``icm-matting`` command line: the top layer, which may import ``icm_core``, ``ui`` and
``icm_plugin``; no layer imports it.  (Not named ``icm_matting``: that is the Krita plugin's
module in ``pykrita/``.)"""
