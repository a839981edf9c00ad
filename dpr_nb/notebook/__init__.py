"""What the notebooks use: the course's modes and checks, and the widgets.

- course.py    what the notebooks share: the small, CPU or GPU mode, the lessons' data, checks that assert or print ✓/✗
- widgets.py   ConfigPanel (edits a TrainConfig), TrainingDashboard (live progress, metrics, curves), SweepPanel
"""
