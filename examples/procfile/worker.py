"""A worker that reads its settings from the environment (.env and PORT)."""

import os
import time

print(f"worker {os.environ['PS']} starting, queue={os.environ.get('QUEUE', 'default')}")
for job in range(1, 1_000_000):
    print(f"job {job} done")
    time.sleep(2)
