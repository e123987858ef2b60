"""The training-free ``lite`` engine's parts: ImageNet features and in-context similarity."""
