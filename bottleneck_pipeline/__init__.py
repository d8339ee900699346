"""Mechanics shared by the BottleNeck notebooks.

The notebooks in ``notebooks/`` tell the story of a monthly run; this package
holds what they repeat: reading the sources, the DuckDB connection and its SQL
files, the data-quality check runner, report writing, the run manifest and the
HTML evidence. ``run_pipeline.py`` runs the notebooks in order through
:mod:`bottleneck_pipeline.runner`.
"""

__version__ = "0.1.0"
