"""Process helpers: a SIGTERM reaches the same clean-up as Ctrl-C."""

import signal
import subprocess
import sys
import time

from tests.factories import REPO_ROOT

SCRIPT = """
import time
from streams.processes import interrupt_on_sigterm
interrupt_on_sigterm()
try:
    print("ready", flush=True)
    time.sleep(60)
except KeyboardInterrupt:
    print("interrupted", flush=True)
finally:
    print("cleaning", flush=True)
    time.sleep(1.0)  # a second SIGTERM arrives here
    print("cleaned up", flush=True)
"""


def test_sigterm_runs_the_finally_block_like_ctrl_c_even_when_repeated() -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", SCRIPT], cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ready"
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    assert process.stdout.readline().strip() == "interrupted"
    assert process.stdout.readline().strip() == "cleaning"
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=30)
    assert output.split() == ["cleaned", "up"]
    assert process.returncode == 0
    assert time.monotonic() - started < 30
