#!/usr/bin/env python3
"""Run a command on a pseudo-terminal and answer its passphrase prompts.

usage: pty_run.py PROMPT ANSWER [PROMPT ANSWER ...] -- COMMAND [ARGS ...]

Each time the command's terminal output shows PROMPT (a substring), ANSWER
and a newline are typed, in order, as a person would: once the terminal's
echo is off (or after 10 s, so that a prompt that leaves echo on shows the
answer on screen and fails the test). Everything the command printed goes to
stdout; the exit status is the command's. This is how the tests check that
seif asks at a real prompt (rpassword reads /dev/tty, not stdin).
"""
import os
import pty
import sys
import termios
import time


def wait_for_echo_off(fd, timeout=10.0):
    """The prompt is printed just before echo is turned off; typing in
    between would be echoed by the terminal, not by the program."""
    end = time.time() + timeout
    while time.time() < end:
        try:
            if not termios.tcgetattr(fd)[3] & termios.ECHO:
                return
        except termios.error:
            return
        time.sleep(0.01)


def main():
    args = sys.argv[1:]
    sep = args.index("--")
    pairs = list(zip(args[0:sep:2], args[1:sep:2]))
    cmd = args[sep + 1:]
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(cmd[0], cmd)
    out = b""
    seen = 0
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
        if pairs and pairs[0][0].encode() in out[seen:]:
            seen = out.index(pairs[0][0].encode(), seen) + len(pairs[0][0])
            wait_for_echo_off(fd)
            os.write(fd, pairs[0][1].encode() + b"\n")
            pairs.pop(0)
    _, status = os.waitpid(pid, 0)
    sys.stdout.buffer.write(out)
    sys.exit(os.waitstatus_to_exitcode(status))

if __name__ == "__main__":
    main()
