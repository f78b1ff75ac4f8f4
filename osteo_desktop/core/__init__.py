"""Qt-free core: films, display pipeline, model bundle, inference with Grad-CAM, reports.

Nothing in this package imports Qt (a test checks it).
"""
