"""Workflows above the Qt-free layers: work that needs the dataset and the aligner together."""
