"""JupyterHub configuration of the course (``make hub`` starts it; read hub/classroom.py first).

Reads the settings that ``python -m hub`` wrote (``$LENET_HUB_SETTINGS``, default
hub/state/settings.json): who is on the roster, where the exchange, the course and the shared
MNIST copy are, and which ports to use. Everyone logs in with FirstUseAuthenticator, limited
to the roster: the first login with an id sets that account's password. Each user's server runs
as their Unix account from the project's .venv (its Python is every user's kernel), with the
Jupyter config folder of their role on JUPYTER_CONFIG_PATH.
"""

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from hub.classroom import PROXY, VENV, Settings, config_dir  # noqa: E402

c = get_config()  # noqa: F821 (injected by traitlets)
settings = Settings.load(os.environ.get("LENET_HUB_SETTINGS", HERE / "state" / "settings.json"))
private = settings.path("private")

c.JupyterHub.ip = settings.ip
c.JupyterHub.port = settings.port
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = settings.hub_port
c.JupyterHub.db_url = f"sqlite:///{private / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(private / "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = str(private / "jupyterhub.pid")
c.ConfigurableHTTPProxy.command = [str(PROXY)]
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{settings.proxy_api_port}"
c.ConfigurableHTTPProxy.pid_file = str(private / "jupyterhub-proxy.pid")
# Servers of users who left are stopped by nobody here; shutting the hub down stops them all.
c.JupyterHub.cleanup_servers = True

c.JupyterHub.authenticator_class = "firstuseauthenticator.FirstUseAuthenticator"
c.FirstUseAuthenticator.dbm_path = str(private / "passwords.dbm")
c.FirstUseAuthenticator.create_users = False  # only the roster's accounts, created at start-up
c.Authenticator.allowed_users = {p.id for p in settings.people}
c.Authenticator.admin_users = set(settings.instructors)

c.JupyterHub.spawner_class = "jupyterhub.spawner.LocalProcessSpawner"
c.Spawner.cmd = [str(VENV / "bin" / "jupyterhub-singleuser")]
c.Spawner.default_url = "/lab"
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 120
c.Spawner.environment = {
    "PATH": f"{VENV / 'bin'}:/usr/local/bin:/usr/bin:/bin",
    "LENET_DATA_DIR": str(settings.path("mnist")),
    "LENET_HUB_EXCHANGE": settings.exchange,
}


def pre_spawn_hook(spawner) -> None:
    """Instructors start in the course root (the formgrader needs it below the server root);
    students in their home. Each role gets its own Jupyter config folder."""
    name = spawner.user.name
    role = "instructor" if name in settings.instructors else "student"
    spawner.notebook_dir = (
        settings.course_root if role == "instructor" else str(settings.home(name))
    )
    spawner.environment = {
        **spawner.environment,
        "JUPYTER_CONFIG_PATH": str(config_dir(settings, role)),
        "LENET_HUB_ROLE": role,
    }


c.Spawner.pre_spawn_hook = pre_spawn_hook
