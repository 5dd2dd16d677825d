"""The dataset layer (Qt-free, the bottom of the stack): the files of a dataset and its manifest.

Raw and JPEG I/O (``images``), the SQLite manifest (``manifest``, ``schema``), the aligner's files
(``alignment_files`` names them, ``heatmap_file`` is the heatmap format), import, export, ``check``
and the demo data (``demo``).  It imports nothing from the layers above it (align, model,
workflows, gui, cli): the import-linter contracts in ``pyproject.toml`` hold it to that.
"""
