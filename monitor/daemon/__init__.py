"""`bidwatch run`: the scheduling daemon. The daemon itself lives in monitor.daemon.runner."""
