"""The Kubernetes path (hub/k8s/), tested as far as a machine without a cluster or Docker can.

No Docker engine runs here, so the image is not built: instead the Dockerfile's steps are
checked against the Makefile (the same targets, which exist and resolve), its configuration
step is run for real, and the Helm values, the Dask values and the volumes are checked against
each other, the Dockerfile and the roster. The hub's role hook in the values is executed.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import yaml

from hub.classroom import read_roster

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "hub" / "k8s"
DOCKERFILE = (K8S / "Dockerfile").read_text()
VALUES = yaml.safe_load((K8S / "values.yaml").read_text())
DASK = yaml.safe_load((K8S / "dask-values.yaml").read_text())


def run_steps() -> list[str]:
    """The Dockerfile's RUN instructions, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    return [line[4:].strip() for line in text.splitlines() if line.startswith("RUN ")]


def env() -> dict[str, str]:
    """The Dockerfile's ENV settings."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    found = {}
    for line in text.splitlines():
        if line.startswith("ENV "):
            found.update(dict(re.findall(r"(\w+)=(\S+)", line)))
    return found


def test_the_images_steps_are_the_makefiles_targets():
    steps = " && ".join(s for s in run_steps() if "apt-get" not in s)
    targets = re.findall(r"\bmake ([a-z][\w-]*)", steps)
    assert targets == ["env", "data"], targets
    for target in targets:  # each exists and resolves (make -n: print, run nothing)
        done = subprocess.run(
            ["make", "-n", target, "PYTHON=python3.11"], cwd=REPO, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
    makefile = (REPO / "Makefile").read_text()
    assert "pip install --quiet -c requirements.lock" in makefile, "make env installs the lock"


def test_the_image_installs_only_listed_system_packages():
    (apt,) = [s for s in run_steps() if "apt-get install" in s]
    wanted = set(apt.split("--no-install-recommends", 1)[1].split("&&")[0].split())
    listed = {
        line.split("#")[0].strip()
        for line in (REPO / "system-packages.txt").read_text().splitlines()
        if line.split("#")[0].strip()
    }
    assert "bubblewrap" in wanted, "the grading sandbox needs bubblewrap"
    assert wanted - {"make"} <= listed, wanted - listed


def test_the_images_config_step_runs_and_agrees_with_the_values(tmp_path):
    (step,) = [s for s in run_steps() if "-m hub --configs-only" in s.replace("&&", "\n")]
    args = step.split("-m hub", 1)[1].split("&&")[0].split()
    state = args[args.index("--state") + 1]
    args[args.index("--state") + 1] = str(tmp_path / "state")  # run it here, not in /srv
    done = subprocess.run(
        [sys.executable, "-m", "hub", *args], cwd=REPO, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    student = tmp_path / "state" / "jupyter" / "student"
    exchange = VALUES["singleuser"]["extraEnv"]["LENET_HUB_EXCHANGE"]
    assert f"c.Exchange.root = {exchange!r}" in (student / "nbgrader_config.py").read_text()
    server = json.loads((student / "jupyter_server_config.json").read_text())
    off = server["ServerApp"]["jpserver_extensions"]
    assert off["nbgrader.server_extensions.formgrader"] is False
    instructor = tmp_path / "state" / "jupyter" / "instructor" / "nbgrader_config.py"
    assert "c.CourseDirectory.root = '/home/jovyan/course'" in instructor.read_text()
    # The paths the image and the values name are the ones this step writes.
    assert env()["JUPYTER_CONFIG_PATH"] == f"{state}/jupyter/student"
    assert VALUES["singleuser"]["extraEnv"]["JUPYTER_CONFIG_PATH"] == f"{state}/jupyter/student"
    assert f"{state}/jupyter/instructor" in VALUES["hub"]["extraConfig"]["lenet5-roles"]


def test_values_dockerfile_and_dask_agree():
    single = VALUES["singleuser"]
    image = (single["image"]["name"], single["image"]["tag"])
    for part in ("scheduler", "worker"):
        assert (DASK[part]["image"]["repository"], DASK[part]["image"]["tag"]) == image
    assert DASK["jupyter"]["enabled"] is False
    assert "-f hub/k8s/Dockerfile" in (K8S / "values.yaml").read_text()
    data = env()["LENET_DATA_DIR"]
    assert single["extraEnv"]["LENET_DATA_DIR"] == data
    assert {"name": "LENET_DATA_DIR", "value": data} in DASK["worker"]["env"]
    (mount,) = single["storage"]["extraVolumeMounts"]
    assert mount["mountPath"] == single["extraEnv"]["LENET_HUB_EXCHANGE"]
    assert mount["mountPath"] == env()["LENET_HUB_EXCHANGE"]
    assert single["cmd"] == "jupyterhub-singleuser" and single["uid"] == 1000


def test_the_values_admit_exactly_the_roster():
    people = read_roster(REPO / "hub" / "roster.csv")
    auth = VALUES["hub"]["config"]["Authenticator"]
    assert sorted(auth["allowed_users"]) == sorted(p.id for p in people)
    assert auth["admin_users"] == [p.id for p in people if p.role == "instructor"]
    assert VALUES["hub"]["config"]["FirstUseAuthenticator"]["create_users"] is False


def test_the_role_hook_gives_instructors_the_course_volume():
    c = SimpleNamespace(KubeSpawner=SimpleNamespace())
    exec(VALUES["hub"]["extraConfig"]["lenet5-roles"], {"c": c})  # as z2jh's hub runs it
    hook = c.KubeSpawner.pre_spawn_hook

    def spawner(admin: bool) -> SimpleNamespace:
        return SimpleNamespace(
            user=SimpleNamespace(admin=admin),
            environment={},
            notebook_dir=None,
            volumes=[{"name": "home"}],
            volume_mounts=[{"name": "home", "mountPath": "/home/jovyan"}],
        )

    prof, student = spawner(True), spawner(False)
    hook(prof)
    hook(student)
    assert prof.notebook_dir == "/home/jovyan/course"
    assert prof.environment["JUPYTER_CONFIG_PATH"].endswith("/jupyter/instructor")
    assert {"name": "course", "mountPath": "/home/jovyan/course"} in prof.volume_mounts
    assert student.environment == {} and student.volumes == [{"name": "home"}]
    claims = {
        d["metadata"]["name"]: d["spec"]["accessModes"]
        for d in yaml.safe_load_all((K8S / "volumes.yaml").read_text())
    }
    assert claims == {"lenet5-exchange": ["ReadWriteMany"], "lenet5-course": ["ReadWriteMany"]}
    volumes = VALUES["singleuser"]["storage"]["extraVolumes"]
    assert volumes[0]["persistentVolumeClaim"]["claimName"] == "lenet5-exchange"
    assert prof.volumes[-1]["persistentVolumeClaim"]["claimName"] == "lenet5-course"


def test_the_build_context_leaves_local_state_out():
    ignored = (K8S / "Dockerfile.dockerignore").read_text().split()
    for path in (".venv", "hub/state", "hub/node_modules", "autograder/gradebook.db", ".git"):
        assert path in ignored, path
