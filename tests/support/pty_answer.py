#!/usr/bin/env python3
"""Run a command on a pseudo-terminal, answering every prompt it shows.

usage: pty_answer.py PROMPT ANSWER [PROMPT ANSWER ...] -- COMMAND [ARGS ...]

Unlike pty_run.py (answers in a fixed order, once each), this answers
whichever PROMPT (a substring) appears next, as often as it appears: a
custodian comes to the keyboard whenever their name is on the screen. The
answer is typed once the terminal's echo is off (or after 10 s, so that a
prompt that leaves echo on shows the answer and fails the test). Everything
the command (and its children, e.g. gpg in a pipe) printed goes to stdout;
the exit status is the command's. The runbook test (tests/runbooks.rs) runs
every ceremony step through it.
"""
import os
import pty
import sys
import termios
import time


def wait_for_echo_off(fd, timeout=10.0):
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
    pairs = [(p.encode(), a.encode()) for p, a in zip(args[0:sep:2], args[1:sep:2])]
    cmd = args[sep + 1:]
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(cmd[0], cmd)
    out = b""
    seen = 0
    deadline = time.time() + 600
    while time.time() < deadline:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
        while True:
            hits = [(out.find(p, seen), p, a) for p, a in pairs if out.find(p, seen) >= 0]
            if not hits:
                break
            at, prompt, answer = min(hits)
            seen = at + len(prompt)
            wait_for_echo_off(fd)
            os.write(fd, answer + b"\n")
    _, status = os.waitpid(pid, 0)
    sys.stdout.buffer.write(out)
    sys.exit(os.waitstatus_to_exitcode(status))


if __name__ == "__main__":
    main()
