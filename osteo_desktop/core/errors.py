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


class StoreError(OsteoError):
    """The local study store (its folder or its SQLite index) cannot be used."""


class StoreCorruptError(StoreError):
    """The store's database file is damaged or is not an osteo-desktop database."""


class StoreLockedError(StoreError):
    """Another program holds the store's database locked for longer than the wait allows."""


class StoreSchemaError(StoreError):
    """The database was written by a newer osteo-desktop (a schema this version does not know)."""


class PacsError(OsteoError):
    """A DICOM network operation (echo, find, get, move, store) failed."""


class PacsUnreachableError(PacsError):
    """No TCP connection could be made to the remote node (host down, wrong port, firewall)."""


class AssociationRefusedError(PacsError):
    """The remote node refused the association (AE titles not configured there, or services not offered)."""


class PacsTimeoutError(PacsError):
    """The remote node stopped answering within the configured timeout."""


class SubOperationsFailedError(PacsError):
    """A retrieve finished but some of its C-STORE sub-operations failed (`result`: what did arrive)."""

    def __init__(self, message: str, result: object = None):
        super().__init__(message)
        self.result = result
