"""Workflows that need several layers (dataset, align, model) at once.

They sit above the layers they combine: ``dataset`` and ``align`` never import from here.
"""
