"""nbgrader configuration of the LeNet-5 course (read by every nbgrader command run from here).

Folders: instructors author in solutions/ (nbgrader's source), nbgrader releases into course/
(committed), and everything that holds students' work or grades lives under autograder/
(gitignored): submitted/, autograded/, feedback/, the exchange and gradebook.db.
"""

import os

c = get_config()  # noqa: F821 (injected by traitlets)

HERE = os.path.dirname(os.path.abspath(__file__))

c.CourseDirectory.course_id = "lenet5"
c.CourseDirectory.root = HERE
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "course"
c.CourseDirectory.submitted_directory = os.path.join("autograder", "submitted")
c.CourseDirectory.autograded_directory = os.path.join("autograder", "autograded")
c.CourseDirectory.feedback_directory = os.path.join("autograder", "feedback")
c.CourseDirectory.solution_directory = os.path.join("autograder", "solution")
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(HERE, "autograder", "gradebook.db")
# Only notebooks and the small files next to them are released; never caches or checkpoints.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", ".*"]

# The assignment-list extension needs a writable exchange even when no JupyterHub is used.
c.Exchange.root = os.path.join(HERE, "autograder", "exchange")
# On the course's JupyterHub (hub/, `make hub`) every user shares one exchange folder.
if os.environ.get("LENET_HUB_EXCHANGE"):
    c.Exchange.root = os.environ["LENET_HUB_EXCHANGE"]

# What students see in place of solutions.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# Graded execution: each cell gets a deliberate time limit. The slowest solution cell (training
# a network on the CPU) takes well under a minute; students' code may be several times slower.
c.Execute.timeout = 600
c.Execute.interrupt_on_timeout = True
c.Execute.execute_retries = 0

# A deleted test cell is put back from the gradebook (and then scores what it scores).
c.OverwriteCells.add_missing_cells = True

# Hidden tests never reach students through feedback: neither their code nor the tracebacks
# that quote it.
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "autograder.preprocessors.HideHiddenTestTracebacks",
    "nbgrader.preprocessors.ClearHiddenTests",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]
# Flags and timings (flags.json, timings.json beside each autograded notebook) are for the
# instructor. nbgrader copies no file that CourseDirectory.ignore matches: generate_feedback
# leaves them out of students' feedback, and autograde never copies ones a student submitted.
c.CourseDirectory.ignore += ["flags.json", "timings.json"]

# LMS bulk downloads: `nbgrader zip_collect A` (or `python -m autograder --zip FILE -a A`) reads
# autograder/downloaded/A/archive/. File names as Canvas writes them,
# <student>[_LATE]_<digits>_<digits>_<notebook>[-<n>].ipynb, give the student id and notebook.
c.ZipCollectApp.downloaded_directory = os.path.join("autograder", "downloaded")
c.FileNameCollectorPlugin.named_regexp = (
    r".*/(?P<student_id>[A-Za-z0-9.@+-]+)_(?:LATE_)?\d+_\d+_(?P<file_id>[^/]+?)(?:-\d+)?\.ipynb$"
)

# Trusted autograding (autograder/safe_execute.py on lenet_kit/split_execute.py): students'
# cells run in a bubblewrap sandbox as an unprivileged user, without network, with resource
# limits, without the modules the assignment forbids; test cells never run there but in the
# trusted runner (lenet_kit/runner.py), which decides pass or fail and writes the test cells'
# outputs that nbgrader scores. Test cells that were edited, deleted or re-typed are restored
# and flagged. Every submission gets autograder/autograded/<student>/<assignment>/flags.json
# (information for the instructor). Where no sandbox can run, grading refuses unless
# LENET_GRADE_WITHOUT_SANDBOX=1 (flag "no-isolation").
c.Autograde.sanitize_preprocessors = [
    "nbgrader.preprocessors.ClearOutput",
    "nbgrader.preprocessors.DeduplicateIds",
    "nbgrader.preprocessors.OverwriteKernelspec",
    "autograder.tamper.CheckSubmittedCells",
    "nbgrader.preprocessors.OverwriteCells",
    "nbgrader.preprocessors.CheckCellMetadata",
]
c.Autograde.autograde_preprocessors = [
    "autograder.safe_execute.SafeExecute",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]
# Validate (`nbgrader validate` and the notebook toolbar's button) runs notebooks the way
# grading does: test cells in the trusted runner (lenet_kit.runner), the assignment's module
# policy in force; only the sandbox is left out (a student's own machine may not have one).
from lenet_kit.split_execute import use_for_validation  # noqa: E402

use_for_validation()

# The Execute settings above apply to SafeExecute and SplitExecute too (they are Executes):
# traitlets reads a class's settings for its subclasses.
