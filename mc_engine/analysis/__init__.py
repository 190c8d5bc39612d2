"""Analyses of finished runs: attribution of changes between two runs, exposure and contagion between companies."""
