"""Brush latency on a large reference: ms per brush segment, as the artist feels it.

One segment = one mouse-move event handled by the canvas (stamp into the display proxy,
recolour the overlay) plus a synchronous repaint of the widget.  The exact full-resolution
mask is stamped on a background thread; its cost per segment is measured too, side by side,
to show what painting directly at full resolution would cost the GUI thread.

    python benchmarks/ui_paint.py [--megapixels 24] [--radius 60] [--segments 200] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402

from ui.canvas import MaskCanvas  # noqa: E402
from ui.maskdoc import stamp_segment  # noqa: E402
from ui.qt import API, QPointF, Qt, QtGui, QtWidgets, ensure_app  # noqa: E402

TARGET_MS = 16.0


def stroke_points(canvas: MaskCanvas, count: int) -> list[QPointF]:
    """A wavy stroke across the widget, about 8 screen px per mouse move (a brisk drag)."""
    width, height = canvas.width(), canvas.height()
    return [
        QPointF(50 + (i * 8) % (width - 100), height / 2 + 0.3 * height * math.sin(i / 15))
        for i in range(count)
    ]


def send(canvas, kind, pos):
    kinds = {
        "press": QtGui.QMouseEvent.Type.MouseButtonPress,
        "move": QtGui.QMouseEvent.Type.MouseMove,
        "release": QtGui.QMouseEvent.Type.MouseButtonRelease,
    }
    left = Qt.MouseButton.LeftButton
    event = QtGui.QMouseEvent(
        kinds[kind],
        pos,
        QPointF(canvas.mapToGlobal(pos.toPoint())),
        Qt.MouseButton.NoButton if kind == "move" else left,
        Qt.MouseButton.NoButton if kind == "release" else left,
        Qt.KeyboardModifier.NoModifier,
    )
    QtWidgets.QApplication.sendEvent(canvas, event)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megapixels", type=float, default=24.0)
    parser.add_argument("--radius", type=float, default=60.0, help="brush radius in image px")
    parser.add_argument("--segments", type=int, default=200)
    parser.add_argument("--soft", action="store_true")
    parser.add_argument(
        "--zoom",
        type=float,
        default=0.0,
        help="screen px per image px (default: fit the whole reference)",
    )
    parser.add_argument("--json", metavar="PATH")
    args = parser.parse_args(argv)

    app = ensure_app()
    width = int(round(math.sqrt(args.megapixels * 1e6 * 1.5)))
    height = int(round(width / 1.5))
    rng = np.random.default_rng(0)
    reference = rng.random((height, width, 3), dtype=np.float32)

    canvas = MaskCanvas()
    canvas.resize(1600, 1000)
    canvas.show()
    app.processEvents()
    start = time.perf_counter()
    canvas.set_reference(reference)
    load_s = time.perf_counter() - start
    if args.zoom:
        centre = QPointF(canvas.width() / 2, canvas.height() / 2)
        canvas.zoom_at(args.zoom / canvas.zoom, centre)
    canvas.set_brush_radius(args.radius)
    canvas.set_soft(args.soft)
    app.processEvents()

    points = stroke_points(canvas, args.segments + 1)
    send(canvas, "press", points[0])
    per_segment = []
    for point in points[1:]:
        start = time.perf_counter()
        send(canvas, "move", point)
        app.processEvents()  # paints the dirty region: the frame the artist sees
        per_segment.append((time.perf_counter() - start) * 1000)
    send(canvas, "release", points[-1])
    start = time.perf_counter()
    canvas.document.wait()
    catch_up_ms = (time.perf_counter() - start) * 1000

    # The same stroke stamped straight into the full-resolution mask, for comparison.
    full = np.zeros((height, width), np.float32)
    image_points = [canvas.to_image(p) for p in points]
    start = time.perf_counter()
    for a, b in zip(
        [image_points[0]] + image_points[:-1], image_points
    ):  # the canvas starts with a dot
        stamp_segment(full, a, b, args.radius, args.soft, False)
    full_ms = (time.perf_counter() - start) * 1000 / len(image_points)
    exact = bool(np.array_equal(full, canvas.mask()))

    per_segment.sort()
    figures = {
        "binding": API,
        "reference": f"{width}x{height}",
        "megapixels": round(width * height / 1e6, 1),
        "proxy": "x".join(map(str, canvas.document.proxy_size[::-1])),
        "zoom": round(canvas.zoom, 3),
        "brush_radius_px": args.radius,
        "soft": args.soft,
        "segments": args.segments,
        "load_reference_s": round(load_s, 3),
        "ms_per_segment_mean": round(statistics.mean(per_segment), 2),
        "ms_per_segment_p95": round(per_segment[int(0.95 * (len(per_segment) - 1))], 2),
        "ms_per_segment_max": round(per_segment[-1], 2),
        "full_res_stamp_ms_per_segment": round(full_ms, 2),
        "full_res_catch_up_after_stroke_ms": round(catch_up_ms, 1),
        "full_mask_exact": exact,
        "target_ms": TARGET_MS,
        "mean_vs_target": round(statistics.mean(per_segment) / TARGET_MS, 3),
    }
    for key, value in figures.items():
        print(f"{key:36s} {value}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as stream:
            json.dump(figures, stream, indent=2)
    canvas.document.close()
    return figures


if __name__ == "__main__":
    main()
