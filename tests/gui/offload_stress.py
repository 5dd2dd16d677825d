"""Run as a script: worker threads hand many callables to the GUI thread through an Offload while
the GUI thread relabels and repaints pyqtgraph axes.  Prints ``delivered N of M`` and exits 0 when
every hand-over arrived; a deadlock between the two shows as the script never finishing."""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import pyqtgraph as pg
from PySide6.QtWidgets import QApplication

from ispviewer.gui.background import Offload

THREADS = 4
BURST = 50


def main(seconds: float) -> int:
    app = QApplication([])
    offload = Offload("stress")
    delivered = [0]
    sent = [0] * THREADS
    stop = threading.Event()

    def arrived() -> None:
        assert threading.current_thread() is threading.main_thread()
        delivered[0] += 1

    def worker(k: int) -> None:
        while not stop.is_set():
            for _ in range(BURST):
                offload.on_gui(arrived)
            sent[k] += BURST
            time.sleep(0.001)

    plot = pg.PlotWidget()
    plot.setLabel("bottom", "value", units="V")
    plot.setLabel("left", "count", units="px")
    plot.show()
    threads = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(THREADS)]
    for t in threads:
        t.start()
    start, step = time.monotonic(), 0
    while time.monotonic() - start < seconds:
        step += 1
        scale = 10.0 ** (step % 12 - 6)  # SI prefix changes: the axes' labels are set again
        plot.setXRange(0, scale * (1 + step % 7))
        plot.setYRange(0, scale * 3)
        plot.setLabel("bottom", f"value {step % 5}", units="V")
        app.processEvents()
    stop.set()
    for t in threads:
        t.join()
    deadline = time.monotonic() + 30
    while delivered[0] < sum(sent) and time.monotonic() < deadline:
        app.processEvents()
    print(f"delivered {delivered[0]} of {sum(sent)}")
    offload.shutdown(wait=True)
    return 0 if delivered[0] == sum(sent) else 1


if __name__ == "__main__":
    sys.exit(main(float(sys.argv[1]) if len(sys.argv) > 1 else 3.0))
