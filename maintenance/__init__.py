"""The maintenance procedure: ordered clean-up tasks, one run at a time.

`python -m maintenance` runs it once or on its schedule; the server can host the scheduler too.
"""
