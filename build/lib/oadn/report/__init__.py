"""Paper-style tables and figures rendered from run directories."""
