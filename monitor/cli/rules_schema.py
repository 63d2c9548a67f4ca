"""`bidwatch rules schema`: the program's JSON Schema, from the models that validate it."""
