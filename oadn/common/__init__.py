"""What every floor of the package uses: the decorator registry, atomic file writes, progress bars and the one
download rule. Nothing here imports any other part of ``oadn``."""
