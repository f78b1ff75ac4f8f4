"""osteo-desktop: a DICOM-aware viewer that screens knee and spine radiographs for low bone density.

A screening aid that assists the decision to refer for DXA. It cannot rule out low bone density and
it is not a diagnosis.
"""

__version__ = "0.1.0"

INTENDED_USE = (
    "Screening aid for adults: assists the decision to refer for DXA. It cannot rule out low bone "
    "density and is not a diagnosis. The heatmap shows relative model attention, not a lesion."
)
