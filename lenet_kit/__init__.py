"""lenet_kit: the student-safe support code of the LeNet-5 course.

Data loading, plotting and check helpers that notebooks import. It contains no solution code, so a
student environment can be built from it without the reference solutions (see :mod:`lenet_ref`).
"""

__version__ = "0.1.0"
