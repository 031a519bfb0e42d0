"""lenet_ref: the reference solutions of the LeNet-5 course, as a tested, importable library.

Students never import this package in graded notebooks: it holds the answers. The student-safe
support code (data loading, plotting, check helpers) lives in :mod:`lenet_kit`.
"""

__version__ = "0.1.0"
