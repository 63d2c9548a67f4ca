"""`bidwatch serve` and `bidwatch users`: the web console for compliance staff."""
