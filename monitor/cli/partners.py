"""`bidwatch partners import`: a network's publisher export merged into the program's partners."""
