#!/usr/bin/env python
"""Run the BottleNeck pipeline: the four notebooks in order, reports and HTML evidence.

python run_pipeline.py [--params FILE] [--set KEY=VALUE ...] [--run-dir DIR]
"""

from bottleneck_pipeline.runner import cli, exit_at_once

if __name__ == "__main__":
    exit_at_once(cli())
