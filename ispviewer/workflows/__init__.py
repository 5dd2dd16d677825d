"""Workflows that need several layers of the core: the layer above ``dataset``, ``align`` and ``model``.

The core packages each do one thing and know nothing of the layers above them (``dataset`` knows no
aligner, ``align`` no network, none of them Qt).  What strings them together lives here:

    demo     build the demo sources -> import them -> align them (``ispviewer demo``; the app opens
             the result)
    repair   ``ispviewer check --repair``: re-align the triplets whose heatmap or aligned target is
             missing or damaged, remove leftovers and orphans
    capture_import / capture_guard / raw_relation / capture_check
             ``ispviewer import`` with the capture guard: the raw, in its phone frame, is compared
             with the phone image in all 8 orientations (wrong tags refused, unverifiable scenes
             noted); a phone image at another geometry is refused with the measured relation;
             ``check`` runs the same guard over existing datasets
    commands the CLI subcommands of these workflows (``check``; ``import`` runs guarded)

Layers, top to bottom (``ispviewer.cli`` > ``gui`` > ``workflows`` > ``model`` > ``align`` >
``dataset``; enforced by the import-linter contracts in ``pyproject.toml``): a module imports only
from its own layer and those below.  Workflows are Qt-free; the desktop app (``gui``) may run them.
"""
