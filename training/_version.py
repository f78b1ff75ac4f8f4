"""Version of the training package (kept apart from __init__ so that it imports even when an old
editable install registered `training` as a namespace package)."""

__version__ = "1.0.0"
