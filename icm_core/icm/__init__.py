"""The In-Context Matting network (CVPR 2024) on Stable Diffusion 2.1 features.

``extractor`` computes SD features and self-attention maps, ``fusion`` the in-context
(inter/intra-similarity) fusion, ``detail`` the ViTMatte-style detail decoder, ``model`` ties
the decoder together under the official state_dict names, ``checkpoint`` loads weights safely,
``engine`` is the ``icm`` engine built on them.
Everything here needs the ``icm`` extra (torch, diffusers, einops, safetensors).
"""
