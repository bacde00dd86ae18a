"""How small a lift a treatment-vs-control test can detect: the two-proportion normal
approximation (two-sided).

    MDE = (z[1 - alpha/2] + z[power]) * sqrt(p * (1 - p) * (1/n_treatment + 1/n_control))

with ``p`` the baseline conversion rate; the relative MDE is ``MDE / p``. Both groups are taken
to have the baseline's variance, the usual planning approximation (it is slightly optimistic for
large lifts).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy.stats import norm

__all__ = ["DetectableLift", "minimum_detectable_lift"]


@dataclass(frozen=True)
class DetectableLift:
    absolute: float  # in conversion-rate points, e.g. 0.02 = two percentage points
    relative: float  # as a share of the baseline, e.g. 0.25 = +25 %


def minimum_detectable_lift(
    n_treatment: int,
    n_control: int,
    baseline: float,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
) -> DetectableLift:
    """The smallest true lift in conversion that a two-sided test at ``alpha`` finds with
    probability ``power``, given the group sizes and the baseline conversion rate."""
    for name, n in (("n_treatment", n_treatment), ("n_control", n_control)):
        if int(n) != n or n < 1:
            raise ValueError(
                f"The {name!r} parameter of minimum_detectable_lift must be an int in the range "
                f"[1, inf). Got {n!r} instead."
            )
    for name, value in (("baseline", baseline), ("alpha", alpha), ("power", power)):
        if not 0 < value < 1:
            raise ValueError(
                f"The {name!r} parameter of minimum_detectable_lift must be a float in the range "
                f"(0, 1). Got {value!r} instead."
            )
    z = norm.ppf(1 - alpha / 2) + norm.ppf(power)
    absolute = z * math.sqrt(baseline * (1 - baseline) * (1 / n_treatment + 1 / n_control))
    return DetectableLift(absolute=float(absolute), relative=float(absolute / baseline))
