"""ispviewer: build, align, inspect and clean learned-ISP datasets.

Where things live:
  ispviewer.dataset  Qt-free: raw/JPEG I/O, import, the SQLite manifest, export, demo data
  ispviewer.align    Qt-free: homography, NCC patch matching, optical-flow misalignment
  ispviewer.model    Qt-free: the ISP network (source folder ``model/`` at the repository root)
  ispviewer.workflows  Qt-free: what needs several of the above (demo build, check --repair)
  ispviewer.gui      Qt: the desktop application
  ispviewer.cli      the ``ispviewer`` command
"""

__version__ = "0.1.0"
