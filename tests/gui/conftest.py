"""GUI test helpers: films written to tmp_path, a controllable fake screener, a window fixture that
checks at teardown that no worker thread is left running."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import QEvent, QPoint, QPointF, QSettings, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from osteo_desktop.core.film import Film, FilmIdentifiers, Spacing, Window

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config, items):
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.gui)


# -- films --------------------------------------------------------------------------------------------
def pattern(rows: int = 160, cols: int = 200, seed: int = 0) -> np.ndarray:
    """A smooth gradient with a bright disc: not constant, integer-valued, 0..4095."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:rows, 0:cols].astype(np.float32)
    img = 400 + 2500 * (x / cols) + 800 * (y / rows)
    img[(y - rows * 0.3) ** 2 + (x - cols * 0.3) ** 2 < (rows * 0.12) ** 2] = 3900
    img += rng.integers(0, 40, size=img.shape)
    return np.clip(np.rint(img), 0, 4095).astype(np.float32)


def make_film(rows: int = 160, cols: int = 200, *, spacing: Spacing | None = None, photometric: str = "MONOCHROME2",
              windows: tuple[Window, ...] = (), path: str = "/tmp/mem_film.dcm", ids: FilmIdentifiers | None = None) -> Film:
    return Film(
        path=Path(path),
        pixels=pattern(rows, cols),
        photometric=photometric,
        windows=windows,
        spacing=spacing or Spacing(),
        ids=ids or FilmIdentifiers(patient_id="P1", body_part="KNEE", modality="DX"),
        source_format="DICOM",
        bits_stored=12,
    )


def write_png(path: Path, rows: int = 160, cols: int = 200, seed: int = 0) -> Path:
    import cv2

    img = (pattern(rows, cols, seed) / 4095 * 255).astype(np.uint8)
    assert cv2.imwrite(str(path), img)
    return path


def write_dicom(path: Path, *, patient_id: str = "PID-1", patient_name: str = "Test^Patient", study_uid: str | None = None,
                rows: int = 160, cols: int = 200, pixel_spacing: tuple[float, float] | None = (0.2, 0.2),
                imager_spacing: tuple[float, float] | None = None, seed: int = 0, study_date: str = "20250102") -> Path:
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"  # DX for presentation
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.PatientName = patient_name
    ds.PatientID = patient_id
    ds.PatientBirthDate = "19600101"
    ds.PatientSex = "F"
    ds.StudyInstanceUID = study_uid or generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.StudyDate = study_date
    ds.StudyDescription = "KNEE TEST"
    ds.Modality = "DX"
    ds.BodyPartExamined = "KNEE"
    ds.ViewPosition = "AP"
    ds.ImageLaterality = "L"
    ds.Rows, ds.Columns = rows, cols
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.WindowCenter, ds.WindowWidth = 2000, 3000
    if pixel_spacing:
        ds.PixelSpacing = list(pixel_spacing)
    if imager_spacing:
        ds.ImagerPixelSpacing = list(imager_spacing)
    ds.PixelData = pattern(rows, cols, seed).astype(np.uint16).tobytes()
    ds.save_as(str(path), enforce_file_format=True)
    return path


# -- a controllable screener -------------------------------------------------------------------------
class FakeScreener:
    """Stands in for core.inference.Screener. `gate` (if set) holds each screen() until released;
    `obey_cancel=False` simulates a result that arrives although the request was cancelled."""

    def __init__(self, bundle=None, device="cpu", *, gate: threading.Event | None = None, obey_cancel: bool = True,
                 fail: Exception | None = None, cam: str = "ok", delay: float = 0.0, result: str = "validated"):
        from osteo_desktop.core.inference import ModelInfo

        self.model_info = ModelInfo("fake-model", "9.9", "ab" * 32, "fake_arch")
        self.gate, self.obey_cancel, self.fail, self.cam_mode, self.delay = gate, obey_cancel, fail, cam, delay
        self.result = result  # "validated", "info_only" (score not validated) or "not_screened"
        self.clinical_seen: list = []
        self.calls: list[str] = []
        self.threads: set[int] = set()
        self.started = threading.Event()

    def screen(self, film, *, gradcam=True, progress=None, should_cancel=None, clinical=None):
        from osteo_desktop.core.clinical import ClinicalInputs
        from osteo_desktop.core.eligibility import Eligibility
        from osteo_desktop.core.inference import DECISION_NOT_SCREENED, DECISION_POSITIVE, Cancelled, Prediction
        from osteo_desktop.core.score_bases import FilmScores, ScoreSpec

        self.threads.add(threading.get_ident())
        self.calls.append(str(film.path))
        self.clinical_seen.append(clinical)
        self.started.set()
        if progress:
            progress(0.0, "preprocessing")
        end = time.monotonic() + self.delay
        while (self.gate is not None and not self.gate.is_set()) or time.monotonic() < end:
            if self.obey_cancel and should_cancel and should_cancel():
                raise Cancelled("cancelled")
            time.sleep(0.005)
        if self.fail is not None:
            raise self.fail
        if progress:
            progress(0.8, "mapping the heatmap")
        if self.result == "not_screened":
            reason = "The picture looks like a radiograph of another body part (97% sure)."
            return Prediction(
                class_names=("normal", "osteopenia", "osteoporosis"), probabilities=None, predicted_class=None,
                low_bmd_score=None, threshold=None, threshold_goal="", decision=DECISION_NOT_SCREENED,
                model=self.model_info, device="cpu", eligibility=Eligibility(False, "other_radiograph", "image", 0.97, reason),
                not_screened_reason=reason, timings_ms={"model": 1.0, "total": 1.0},
            )
        validated = self.result == "validated"
        ci = [0.6, 0.85] if validated else [0.35, 0.65]
        spec = ScoreSpec("knee", "image", 0.5, "test", metrics={"auc": 0.7 if validated else 0.5, "auc_ci95": ci})
        cam = None
        if self.cam_mode == "ok":
            rows, cols = film.shape
            cam = np.zeros((rows, cols), np.float32)
            cam[: rows // 4, : cols // 4] = 1.0  # a hot spot in the top-left corner
        return Prediction(
            class_names=("normal", "osteopenia", "osteoporosis"),
            probabilities={"normal": 0.2, "osteopenia": 0.5, "osteoporosis": 0.3},
            predicted_class="osteopenia",
            low_bmd_score=0.8,
            threshold=0.5,
            threshold_goal="test",
            decision=DECISION_POSITIVE,
            model=self.model_info,
            device="cpu",
            eligibility=Eligibility(True, "knee", "image", 0.99),
            clinical=clinical or ClinicalInputs(),
            scores=FilmScores(0.8, None, None, "image", spec),
            reliability=("Validated on knee films using the image alone: ROC-AUC 0.70." if validated else
                         "On knee films this model, using the image alone, did no better than chance in validation "
                         "(ROC-AUC 0.50 (95% CI 0.35-0.65)): the score is for information only."),
            cam=cam,
            cam_status="ok" if cam is not None else ("empty" if self.cam_mode == "empty" else "off"),
            warnings=["a test warning"],
            timings_ms={"model": 1.0, "total": 1.0},
        )


@pytest.fixture
def settings(tmp_path) -> QSettings:
    s = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    s.setValue("measurements/data_dir", str(tmp_path / "appdata"))  # never the user's data folder
    return s


@pytest.fixture
def make_window(qtbot, settings):
    """Factory for MainWindows; at teardown every window is closed and its threads must be finished."""
    from osteo_desktop.gui.main_window import MainWindow

    made = []

    def make(screener=None, **kw):
        kw.setdefault("persist_settings", False)
        if screener is not None and "screener_factory" not in kw:
            kw["screener_factory"] = lambda bundle, device: screener
        w = MainWindow(kw.pop("settings", settings), **kw)
        qtbot.addWidget(w)
        w.resize(1200, 800)
        w.show()
        made.append(w)
        return w

    yield make
    for w in made:
        thread = w.controller._thread
        engine = w.controller.engine
        pid = engine.pid if engine is not None else None
        w.close()
        assert w.controller._thread is None, "screening thread still referenced after close"
        if thread is not None:
            assert thread.isFinished(), "screening thread still running after close"
        assert w.controller.engine is None and not w.controller.running, "screening process still referenced after close"
        if pid is not None:
            assert _process_gone(pid), "screening process still running after close"
        assert w.loader._pool.activeThreadCount() == 0, "film loader still busy after close"


def _process_gone(pid: int) -> bool:
    import os

    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # Windows: no such process (or no right to ask)
        return True
    return False


def send_mouse(widget, kind: QEvent.Type, pos: QPointF, button: Qt.MouseButton, buttons: Qt.MouseButton) -> None:
    gp = widget.mapToGlobal(QPoint(int(pos.x()), int(pos.y())))
    ev = QMouseEvent(kind, QPointF(pos), QPointF(gp), button, buttons, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, ev)


def drag(widget, start: QPointF, end: QPointF, button: Qt.MouseButton = Qt.MouseButton.LeftButton, steps: int = 4) -> None:
    send_mouse(widget, QEvent.Type.MouseButtonPress, start, button, button)
    for i in range(1, steps + 1):
        p = start + (end - start) * (i / steps)
        send_mouse(widget, QEvent.Type.MouseMove, p, Qt.MouseButton.NoButton, button)
    send_mouse(widget, QEvent.Type.MouseButtonRelease, end, button, Qt.MouseButton.NoButton)
