"""The phantom cohort: knee DESS-like scans whose truth is known by construction.

One phantom (:func:`make_phantom`) is a volume, its 25-region label map, a
tissue map, the exact lesion masks and the true grades of all 118 MOAKS
attributes; :func:`write_cohort` writes N patients × visits × sides in the
layouts the real loaders read (NIfTI, OAI-style MOAKS tables, optional DICOM
in the OAI release layout). Phantom numbers are not clinical numbers.

>>> from knee_phantom import make_phantom
>>> p = make_phantom(0, shape=(32, 64, 64), prior="uniform")
>>> len(p.grades), p.labels.dtype.name, p.volume.axcodes
(118, 'uint8', ('L', 'I', 'P'))
"""

from knee_phantom.blocks import region_blocks
from knee_phantom.cohort import CohortLayout, write_cohort
from knee_phantom.dataset import write_phantom_dataset
from knee_phantom.errors import PhantomError
from knee_phantom.model import LesionMasks, Phantom, make_phantom
from knee_phantom.prior import GradePrior, complete_grades
from knee_phantom.tissues import INTENSITY, Tissue

__version__ = "0.1.0"

__all__ = [
    "INTENSITY",
    "CohortLayout",
    "GradePrior",
    "LesionMasks",
    "Phantom",
    "PhantomError",
    "Tissue",
    "__version__",
    "complete_grades",
    "make_phantom",
    "region_blocks",
    "write_cohort",
    "write_phantom_dataset",
]
