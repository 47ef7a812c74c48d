#!/usr/bin/python3
"""The asyncio lesson's concurrent script, reproduced as a benchmark contender:
httpx.AsyncClient downloads with at most 4 requests in flight
(asyncio.Semaphore(4)); each body goes to a ProcessPoolExecutor with
os.cpu_count() processes, which edge-detects it and writes the PNG
(lesson_kernel.py). All URLs are scheduled at once with asyncio.gather.

    lesson_asyncio.py URL_LIST OUT_DIR

Needs Debian's python3-httpx, python3-numpy and python3-pil. Proxies from the
environment are ignored: the benchmark's server is on 127.0.0.1.
"""
import asyncio
import os
import sys
from concurrent.futures import ProcessPoolExecutor

import httpx

from lesson_kernel import output_name, process, read_urls

MAX_DOWNLOADS = 4


async def run(urls, out_dir):
    semaphore = asyncio.Semaphore(MAX_DOWNLOADS)
    loop = asyncio.get_running_loop()
    failed = 0

    with ProcessPoolExecutor(os.cpu_count()) as pool:
        async with httpx.AsyncClient(trust_env=False, timeout=60) as client:

            async def one(url):
                nonlocal failed
                try:
                    async with semaphore:
                        response = await client.get(url)
                        response.raise_for_status()
                        body = response.content
                    await loop.run_in_executor(pool, process, body,
                                               os.path.join(out_dir, output_name(url)))
                except Exception as exc:  # one line per failed item, the run goes on
                    print(f"failed {url}: {exc}", file=sys.stderr)
                    failed += 1

            await asyncio.gather(*(one(url) for url in urls))
    return failed


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    urls = read_urls(sys.argv[1])
    out_dir = sys.argv[2]
    os.makedirs(out_dir, exist_ok=True)
    return 1 if asyncio.run(run(urls, out_dir)) else 0


if __name__ == "__main__":
    sys.exit(main())
