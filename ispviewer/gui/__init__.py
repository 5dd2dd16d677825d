"""The Qt views of ispviewer; ``state`` is their Qt-free model.

superqt reaches Qt through qtpy: it must use the binding the app uses, whatever else is installed.
"""

import os

os.environ.setdefault("QT_API", "pyside6")
