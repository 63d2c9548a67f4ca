"""The affiliate networks bidwatch knows: the table as data (networks.yaml), validated on load,
and the recognisers that read network, publisher and click ids from tracking URLs (table.py).

Below the program (which names networks) and above nothing but the records: a new network is
a row in networks.yaml, not code.
"""
