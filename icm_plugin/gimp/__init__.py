"""The GIMP 3 bridge: ``icm-matting.py`` runs inside GIMP (standard library + GObject only) and
exchanges files with :mod:`.session`, which runs the panel in this package's own Python."""
