"""`bidwatch run`: the scheduling daemon.

Kept import-light on purpose: monitor.program imports the calendar's event names from here.
The daemon itself lives in monitor.daemon.runner.
"""
