"""`bidwatch rules diff` and `bidwatch rules replay`: what a change to the program would do."""
