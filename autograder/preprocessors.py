"""nbgrader preprocessors of this course (wired in through nbgrader_config.py)."""

from __future__ import annotations

from nbformat import NotebookNode
from nbgrader.preprocessors.base import NbGraderPreprocessor
from traitlets import Unicode

HIDDEN_NOTE = "(the failing line belongs to a hidden test, so the traceback is not shown)"


class HideHiddenTestTracebacks(NbGraderPreprocessor):
    """Replace tracebacks of test cells that hold hidden tests by their one-line error.

    ``ClearHiddenTests`` removes hidden tests from a feedback notebook's source, but an error's
    traceback quotes the failing line and its neighbours. Students keep the error type and
    message (which says what was expected and what came back), never the hidden code.
    Run it before ``ClearHiddenTests``, which removes the delimiter it looks for.
    """

    begin_delimiter = Unicode("BEGIN HIDDEN TESTS").tag(config=True)

    def preprocess_cell(self, cell: NotebookNode, resources: dict, index: int):
        if cell.cell_type == "code" and self.begin_delimiter in cell.source:
            for out in cell.get("outputs", []):
                if out.get("output_type") == "error":
                    out["traceback"] = [
                        f"{out.get('ename', 'Error')}: {out.get('evalue', '')}",
                        HIDDEN_NOTE,
                    ]
        return cell, resources
