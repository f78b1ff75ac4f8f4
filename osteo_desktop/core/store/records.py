"""What the store hands back: the outcome of adding an instance, index rows (instances, screening
results, audit entries) and what `LocalStore.reconcile` repaired. Plain frozen dataclasses."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .files import InstanceHeader

STORED, DUPLICATE, CONFLICT = "stored", "duplicate", "conflict"


@dataclass(frozen=True)
class StoredInstance:
    """The outcome of adding one instance."""

    status: str  # STORED, DUPLICATE or CONFLICT
    path: Path
    header: InstanceHeader
    digest: str

    @property
    def is_new(self) -> bool:
        return self.status != DUPLICATE


@dataclass(frozen=True)
class InstanceRow:
    id: int
    sop_uid: str
    sop_class_uid: str
    series_uid: str
    study_uid: str
    path: Path
    sha256: str
    size: int
    transfer_syntax: str
    received_at: str
    source: str
    modality: str = ""


@dataclass(frozen=True)
class ResultRow:
    id: int
    created_at: str
    os_user: str
    source: str
    file: str
    sop_uid: str
    study_uid: str
    status: str
    decision: str | None
    score: float | None
    model_name: str
    model_version: str
    model_sha256: str
    row: dict[str, Any]


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: str
    os_user: str
    action: str
    study_uid: str
    sop_uid: str
    target: str
    model_name: str
    model_version: str
    model_sha256: str
    outcome: str
    details: dict[str, Any]


@dataclass
class ReconcileReport:
    indexed: list[str] = field(default_factory=list)  # files found without an index row (now indexed)
    removed: list[str] = field(default_factory=list)  # index rows whose file is gone (rows removed)
    unreadable: list[str] = field(default_factory=list)  # *.dcm files that are no DICOM instance (left alone)
    redundant: list[str] = field(default_factory=list)  # identical second copies (deleted)
    temp_removed: int = 0

    @property
    def clean(self) -> bool:
        return not (self.indexed or self.removed or self.unreadable or self.redundant)
