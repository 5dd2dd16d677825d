"""Workflows that need several layers of the core: the layer above ``dataset``, ``align`` and ``model``.

The core packages each do one thing and know nothing of the layers above them (``dataset`` knows no
aligner, ``align`` no network, none of them Qt).  What strings them together lives here:

    demo     build the demo sources -> import them -> align them (``ispviewer demo``; the app opens
             the result)
    repair   ``ispviewer check --repair``: re-align the triplets whose heatmap or aligned target is
             missing or damaged, remove leftovers and orphans
    commands the CLI subcommands of these workflows (``check``)

Layers, top to bottom (``ispviewer.cli`` > ``gui`` > ``workflows`` > ``model`` > ``align`` >
``dataset``; enforced by the import-linter contracts in ``pyproject.toml``): a module imports only
from its own layer and those below.  Workflows are Qt-free; the desktop app (``gui``) may run them.
"""
