"""Errors the training tools report to a user (message says what is wrong and what to do)."""

from __future__ import annotations

from osteo_desktop.core.errors import OsteoError


class TrainingError(OsteoError):
    """Base class of training errors."""


class ConfigError(TrainingError):
    """A training config or a --set override is malformed."""


class ManifestError(TrainingError):
    """A manifest (or class-folder tree) cannot be used as training data."""


class LeakageError(TrainingError):
    """The leakage audit found duplicates / conflicts that would leak between folds."""


class PretrainedUnavailable(TrainingError):
    """The requested pretrained start cannot be had (offline, no such file)."""


class Interrupted(TrainingError):
    """Raised by the test hook that simulates a crash; the run folder stays resumable."""
