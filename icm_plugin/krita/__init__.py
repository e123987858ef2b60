"""The Krita plugin: host adapter (:mod:`.host`), pixel layouts (:mod:`.pixels`), the docker and
actions (:mod:`.extension`) and the loader Krita imports (:mod:`.loader`)."""
