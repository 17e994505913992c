"""The cohort format (the contract every later stage reads) and the virtual trial that writes it.

See docs/cohort-format.md.
"""

from cohorts.errors import CohortFormatError
from cohorts.io import Cohort, read_clinical, read_cohort
from cohorts.meta import CohortMeta

__all__ = ["Cohort", "CohortFormatError", "CohortMeta", "read_clinical", "read_cohort"]
