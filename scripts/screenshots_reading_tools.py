"""Screenshots of the reading tools, taken offscreen: the measurement kit on the demo film (calibrated
on its 25 mm ball) and the comparison layouts with two priors of the same patient.

    QT_QPA_PLATFORM=offscreen python scripts/screenshots_reading_tools.py OUT_DIR [--knee ../shared/data/knee]

The priors are made in OUT_DIR/films from two other knee films of the shared data (their JPEG bytes
wrapped unchanged, as the demo film's are), with the demo patient's ID and earlier study dates; they
stay in OUT_DIR (never commit them). Writes kit.png, kit_export.png, compare_1x2.png, compare_2x2.png.
The bundled model screens the films when it is installed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEMO = ROOT / "resources" / "demo" / "knee_demo.dcm"
BALL = ((60.0, 812.0), (112.0, 812.0))  # the demo film's calibration ball, edge to edge along its diameter


def make_prior(src_jpeg: Path, out: Path, study_date: str, n: int) -> Path:
    import pydicom
    from PIL import Image
    from pydicom.encaps import encapsulate
    from pydicom.uid import generate_uid

    ds = pydicom.dcmread(str(DEMO))
    with Image.open(src_jpeg) as im:
        cols, rows = im.size
    ds.PixelData = encapsulate([src_jpeg.read_bytes()])
    ds.Rows, ds.Columns = rows, cols
    ds.StudyDate = ds.ContentDate = ds.InstanceCreationDate = study_date
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.AccessionNumber = f"DEMO000{n}"
    ds.StudyDescription = "DEMO knee film, prior (research data, not a patient record)"  # LO: 64 chars at most
    out.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(str(out), enforce_file_format=True)
    return out


def wait(app, predicate, timeout: float = 120.0) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise SystemExit("timed out waiting for the viewer")
        app.processEvents()
        time.sleep(0.01)
    for _ in range(5):
        app.processEvents()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--knee", type=Path, default=ROOT.parent / "shared" / "data" / "knee")
    args = ap.parse_args(argv)
    out: Path = args.out
    films = out / "films"
    priors = [make_prior(args.knee / "images" / "K003.jpg", films / "prior_2024.dcm", "20240312", 2),
              make_prior(args.knee / "images" / "K005.jpg", films / "prior_2022.dcm", "20220907", 3)]

    from PySide6.QtCore import QPointF, QSettings
    from PySide6.QtWidgets import QApplication

    from osteo_desktop.core.measure import Kind
    from osteo_desktop.gui import measure_controller
    from osteo_desktop.gui.main_window import MainWindow
    from osteo_desktop.gui.theme import apply_dark_theme

    app = QApplication.instance() or QApplication([])
    apply_dark_theme(app)
    for old in (out / "appdata", out / "settings.ini"):  # a previous run's measurements come back on reopen
        if old.is_dir():
            shutil.rmtree(old)
        else:
            old.unlink(missing_ok=True)
    settings = QSettings(str(out / "settings.ini"), QSettings.Format.IniFormat)
    settings.setValue("measurements/data_dir", str(out / "appdata"))
    w = MainWindow(settings, persist_settings=False, bundle=str(ROOT / "model_weights"), device="cpu")
    w.resize(1500, 950)
    w.show()
    w.start_background()
    shown: list[str] = []
    w.film_shown.connect(shown.append)
    w.open_paths([DEMO, *priors], remember=False)
    # films are listed from their headers first and read when shown: wait for the listing and the demo film
    wait(app, lambda: len(w.compare.catalog) == 3 and w.session.current_key == str(DEMO))
    wait(app, lambda: w.session.has_result(str(DEMO)) or "error" in w.model_label.text().lower()
         or "none" in w.model_label.text().lower(), 300)

    # -- the measurement kit on the demo film ------------------------------------------------------
    w.compare.set_layout("1x1")  # the layout is a setting: a previous run may have left 2x2
    v = w.view
    measure_controller.ask_known_length = lambda parent, measured: 25.0  # the ball's diameter

    def draw(kind: Kind, *points: tuple[float, float]) -> None:
        w.measure.set_tool(kind)
        t = v.image_to_widget()
        for x, y in points:  # clicks
            v.tools.press(QPointF(x, y), t.map(QPointF(x, y)), t)
            v.tools.release(QPointF(x, y), t.map(QPointF(x, y)))
        v.update()

    draw(Kind.CALIBRATION, *BALL)
    draw(Kind.DISTANCE, (244.0, 330.0), (330.0, 330.0))  # femoral shaft width, right knee
    draw(Kind.ANGLE, (745.0, 90.0), (712.0, 520.0), (728.0, 830.0))  # femur axis / tibia axis, left knee
    draw(Kind.COBB, (215.0, 460.0), (415.0, 470.0), (215.0, 530.0), (405.0, 528.0))  # joint lines
    draw(Kind.ELLIPSE, (640.0, 400.0), (760.0, 480.0))  # left femoral condyle
    draw(Kind.RECTANGLE, (470.0, 600.0), (540.0, 700.0))  # soft tissue between the knees
    w.measure.set_tool(Kind.ELLIPSE)
    w.loupe_action.setChecked(True)
    app.processEvents()  # (events that move the cursor come before it is placed)
    t = v.image_to_widget()
    v._update_cursor(t.map(QPointF(330.0, 640.0)))  # the loupe over the right proximal tibia
    app.processEvents()
    out.mkdir(parents=True, exist_ok=True)
    w.grab().save(str(out / "kit.png"))
    w.loupe_action.setChecked(False)
    w.reading.export_image(out / "kit_export.png", measurements=True)

    # -- comparison -------------------------------------------------------------------------------------
    w.measure.set_tool(None)
    w.compare.set_layout("1x2")
    wait(app, lambda: all(vp.view.film is not None for vp in w.grid.visible_viewports()))
    v.zoom_by(1.6)
    v.pan(-80, -40)
    w.apply_preset(0)
    w.grab().save(str(out / "compare_1x2.png"))
    w.compare.set_layout("2x2")
    wait(app, lambda: all(vp.view.film is not None for vp in w.grid.visible_viewports()[:3]))
    w.grab().save(str(out / "compare_2x2.png"))
    for name in ("kit.png", "kit_export.png", "compare_1x2.png", "compare_2x2.png"):
        print(out / name)
    w.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
