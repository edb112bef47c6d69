"""The traffic bus: captured exchanges on a Redis Stream, shared by many capture hosts and
many replay workers (publish.py, worker.py, segments.py; the deployment is in the README).

One stream entry is one exchange: the field `gor` holds its .gor records (request, then
the recorded response when there is one) in the file framing, byte for byte what
`shadowdiff record -o` writes, so an entry round-trips to a .gor file unchanged.
"""
