"""OpenCV for the OpenCV comparisons (test_opencv.py, test_gray.py): Debian's
python3-opencv, run under the python3 that has it, else SKIP."""
import os
import shutil
import sys

SKIP = 77


def reexec_with_cv2():
    """Debian's python3-opencv is in /usr/bin/python3's path, which may not be
    the python3 meson found first (pyenv, venvs)."""
    try:
        import cv2  # noqa: F401
        import numpy  # noqa: F401
        return
    except ImportError as exc:
        reason = str(exc)
    if os.environ.get("EDGEFETCH_OPENCV_REEXEC") != "1":
        for candidate in ("/usr/bin/python3", shutil.which("python3")):
            if candidate and os.path.exists(candidate) and \
                    os.path.realpath(candidate) != os.path.realpath(sys.executable):
                env = dict(os.environ, EDGEFETCH_OPENCV_REEXEC="1")
                os.execve(candidate, [candidate] + sys.argv, env)
    print(f"SKIP: cannot import cv2/numpy ({reason}); install Debian's python3-opencv "
          "(make test-deps does)")
    sys.exit(SKIP)
