"""The training-free ``lite`` engine (``engine``) and its parts: ImageNet features
(``backbone``), in-context similarity (``incontext``), corrections on a target's tokens."""
