"""`bidwatch notices preview`: the notice a partner would receive, and the digest, rendered."""
