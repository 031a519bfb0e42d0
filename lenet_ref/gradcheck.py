"""Finite-difference gradient checks: the student-safe tool of :mod:`lenet_kit.gradcheck`.

Gradient checking is a tool the course hands to students, not an exercise, so it lives in
``lenet_kit``; the reference library re-exports it under its historical name.
"""

from lenet_kit.gradcheck import TOLERANCE, numerical_gradient, numerical_gradient_at, rel_error

__all__ = ["TOLERANCE", "numerical_gradient", "numerical_gradient_at", "rel_error"]
