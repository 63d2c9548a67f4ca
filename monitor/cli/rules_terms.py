"""`bidwatch rules terms`: the queries a sweep would ask, per engine and market."""
