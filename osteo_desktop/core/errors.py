"""Domain exceptions. Each message names the file involved and what the user can do about it."""

from __future__ import annotations


class OsteoError(Exception):
    """Base class of every error the application reports to a user (never shown as a traceback)."""


class FilmLoadError(OsteoError):
    """A film could not be read (unreadable, truncated, not an image, no pixel data)."""


class DecoderMissingError(FilmLoadError):
    """The DICOM transfer syntax needs a pixel decoder that is not installed."""


class FilmTooLargeError(FilmLoadError):
    """The image is larger than the configured safety limit."""


class BundleError(OsteoError):
    """A model bundle is missing, incomplete or inconsistent."""


class NoBundleError(BundleError):
    """No model bundle is installed or the given folder holds none."""


class BundleIntegrityError(BundleError):
    """The weights' sha256 does not match the one recorded in config.json."""


class InferenceError(OsteoError):
    """The model could not be run on a film (device failure, bad input)."""


class DeviceError(InferenceError):
    """The requested torch device (--device) is unknown or not usable on this machine."""


class ReportError(OsteoError):
    """A report or DICOM output could not be written."""
