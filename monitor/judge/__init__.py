"""The rule engine: the program's policies and agreements compiled once, then judged against
many sightings; and the rules that fold findings into incidents."""

from monitor.judge.judge import Judge, compile_policies

__all__ = ["Judge", "compile_policies"]
