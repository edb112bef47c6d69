"""`exit_after.py N STATUS`: echo the first N messages, then exit with STATUS."""

import sys

count, status = int(sys.argv[1]), int(sys.argv[2])
for _ in range(count):
    sys.stdout.write(sys.stdin.readline())
    sys.stdout.flush()
sys.exit(status)
