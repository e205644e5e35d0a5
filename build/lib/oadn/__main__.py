"""``python -m oadn`` runs the ``oadn-bench`` command line."""

from oadn.cli import app

app(prog_name="oadn-bench")
