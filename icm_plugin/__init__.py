"""Host adapters: Krita plugin, GIMP 3 bridge, standalone files, and their installers.

May import :mod:`ui` and :mod:`icm_core`; neither imports this package.  Nothing heavy is
imported here: each host's module loads its own API (``krita``, ``gi``) when used.
"""
