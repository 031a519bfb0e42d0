"""The classroom: the course on a JupyterHub, with nbgrader's exchange, for a roster of users.

``python -m hub`` (``make hub``) prepares the machine from ``hub/roster.csv`` (Unix accounts, the
exchange, every user's nbgrader and Jupyter config, a shared MNIST copy) and starts JupyterHub
with ``hub/jupyterhub_config.py``. See ``hub/classroom.py`` and the README's instructor section.
"""
