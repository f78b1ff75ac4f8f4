"""The PySide6 desktop viewer (`osteo-desktop`).

Nothing here imports torch at import time: the model is loaded lazily in a worker thread after the
window is visible (see `screening.py`).
"""
