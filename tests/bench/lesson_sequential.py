#!/usr/bin/python3
"""The asyncio lesson's sequential script, reproduced as a benchmark contender:
for each URL, download it with requests, then edge-detect it and write the PNG
(lesson_kernel.py), one at a time.

    lesson_sequential.py URL_LIST OUT_DIR

Needs Debian's python3-requests, python3-numpy and python3-pil. Proxies from
the environment are ignored: the benchmark's server is on 127.0.0.1.
"""
import os
import sys

import requests

from lesson_kernel import output_name, process, read_urls


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    urls = read_urls(sys.argv[1])
    out_dir = sys.argv[2]
    os.makedirs(out_dir, exist_ok=True)
    failed = 0
    with requests.Session() as session:
        session.trust_env = False  # no proxies, no .netrc
        for url in urls:
            try:
                response = session.get(url, timeout=60)
                response.raise_for_status()
                process(response.content, os.path.join(out_dir, output_name(url)))
            except Exception as exc:  # one line per failed item, the run goes on
                print(f"failed {url}: {exc}", file=sys.stderr)
                failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
