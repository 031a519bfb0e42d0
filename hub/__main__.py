"""Start the course's JupyterHub: ``python -m hub`` (``make hub``), as root.

    python -m hub                         # roster hub/roster.csv, http://127.0.0.1:8000
    python -m hub --roster class.csv --port 8010
    python -m hub --prepare-only          # accounts, exchange and configs; no hub

Log in at the printed address with an id from the roster; the first login sets the password.
"""

from __future__ import annotations

import argparse
import os
import sys

from hub.classroom import REPO, ROLES, VENV, Settings, SetupError, prepare, write_configs


def parser() -> argparse.ArgumentParser:
    d = Settings()
    p = argparse.ArgumentParser(prog="python -m hub", description=__doc__.split("\n")[0])
    p.add_argument("--roster", default=d.roster, help="roster CSV (id,name,email,role)")
    p.add_argument("--state", default=d.state, help="the hub's own folder (default hub/state)")
    p.add_argument("--course-root", default=d.course_root, help="the instructor's course root")
    p.add_argument("--exchange", default="", help="nbgrader exchange (default <state>/exchange)")
    p.add_argument("--home-root", default=d.home_root, help="where new accounts' homes go")
    p.add_argument("--ip", default=d.ip)
    p.add_argument("--port", type=int, default=d.port, help="the address users open")
    p.add_argument("--hub-port", type=int, default=d.hub_port)
    p.add_argument("--proxy-api-port", type=int, default=d.proxy_api_port)
    p.add_argument("--prepare-only", action="store_true", help="set up, do not start the hub")
    p.add_argument(
        "--configs-only",
        action="store_true",
        help="only write the per-role Jupyter and nbgrader configs into <state>/jupyter "
        "(no accounts, no root needed: what the Kubernetes image does, hub/k8s/Dockerfile)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    settings = Settings(
        state=args.state,
        roster=args.roster,
        course_root=args.course_root,
        exchange=args.exchange,
        home_root=args.home_root,
        ip=args.ip,
        port=args.port,
        hub_port=args.hub_port,
        proxy_api_port=args.proxy_api_port,
    )
    if args.configs_only:
        write_configs(settings)
        print(f"configs for {', '.join(ROLES)} in {settings.path('jupyter')}")
        return 0
    try:
        prepare(settings)
    except SetupError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    people = ", ".join(f"{p.id} ({p.role})" for p in settings.people)
    print(f"hub prepared in {settings.state}: {people}; exchange {settings.exchange}")
    if args.prepare_only:
        return 0
    print(
        f"JupyterHub on {settings.url} (Ctrl-C to stop): log in with an id from "
        f"{settings.roster}; the first login sets that account's password."
    )
    sys.stdout.flush()
    env = {**os.environ, "LENET_HUB_SETTINGS": str(settings.path("settings.json"))}
    env["PATH"] = f"{VENV / 'bin'}:{env.get('PATH', '')}"
    os.chdir(settings.path("private"))
    config = REPO / "hub" / "jupyterhub_config.py"
    hub = VENV / "bin" / "jupyterhub"
    os.execve(hub, [str(hub), "-f", str(config)], env)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
