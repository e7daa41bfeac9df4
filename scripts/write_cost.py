#!/usr/bin/env python3
"""What writing a file costs this machine: writes 1 GiB with pwrite in pieces of each given
size, fsyncs, and prints the wall and system time of each. A diagnostic behind
docs/PERFORMANCE.md ("Writing the file: direct I/O"), not a benchmark of s3seal.

  scripts/write_cost.py DIR [--sizes 1024,256,64] [--direct] [--compact] [--idle SECONDS]

--direct writes with O_DIRECT; --compact asks the kernel to compact free memory before each
write (root only: /proc/sys/vm/compact_memory), and --idle waits that long before each
write, so that a VM with free page reporting hands the free blocks back to its host first.
"""

import argparse
import mmap
import os
import resource
import time

GIB = 1 << 30


def one_write(path, piece, direct):
    buf = mmap.mmap(-1, piece)  # page-aligned, as O_DIRECT needs
    buf.write(os.urandom(piece))
    view = memoryview(buf)
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | (os.O_DIRECT if direct else 0)
    before = resource.getrusage(resource.RUSAGE_SELF)
    start = time.monotonic()
    fd = os.open(path, flags, 0o600)
    try:
        for offset in range(0, GIB, piece):
            os.pwrite(fd, view, offset)
        os.fsync(fd)
    finally:
        os.close(fd)
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    view.release()
    buf.close()
    os.unlink(path)
    return wall, after.ru_stime - before.ru_stime


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir")
    parser.add_argument("--sizes", default="2048,1024,256,64", help="piece sizes in KiB")
    parser.add_argument("--direct", action="store_true")
    parser.add_argument("--compact", action="store_true")
    parser.add_argument("--idle", type=float, default=0.0)
    args = parser.parse_args()
    path = os.path.join(args.dir, "write_cost.tmp")
    for kib in (int(s) for s in args.sizes.split(",")):
        if args.compact:
            with open("/proc/sys/vm/compact_memory", "w") as f:
                f.write("1\n")
        time.sleep(args.idle)
        wall, sys_s = one_write(path, kib * 1024, args.direct)
        mode = "direct" if args.direct else "buffered"
        print(f"{kib:>5} KiB pieces, {mode}: wall {wall:.2f} s, system {sys_s:.2f} s")


if __name__ == "__main__":
    main()
