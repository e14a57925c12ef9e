"""Opens a wrapped data key (an age file, FORMAT.md Appendix A) with an
age identity file: the one step decrypt.py and restore.py share.

A key wrapped to a post-quantum vault (an `mlkem768x25519` stanza, FORMAT.md
section 9) is opened by pq_unwrap.py's code with the identity file's
AGE-SECRET-KEY-PQ-1 line; any other by the `age` CLI with the file's other
lines (age before 1.3 does not know the PQ lines).
"""
import os
import subprocess
import sys
import tempfile


def unwrap_age(identity, wrapped):
    """The plaintext of a wrapped data key, or None if it does not open."""
    if b"\n-> mlkem768x25519 " in wrapped:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import pq_unwrap

        try:
            return pq_unwrap.open_age_file(pq_unwrap.read_seed(identity), wrapped)
        except (pq_unwrap.Refused, ValueError) as e:
            sys.stderr.write("pq_unwrap: %s\n" % e)
            return None
    lines = [l for l in open(identity, encoding="utf-8") if not l.strip().upper().startswith("AGE-SECRET-KEY-PQ-1")]
    with tempfile.NamedTemporaryFile("w", suffix=".txt") as f:
        f.write("".join(lines))
        f.flush()
        r = subprocess.run(["age", "-d", "-i", f.name], input=wrapped, capture_output=True)
    if r.returncode != 0:
        sys.stderr.write("age: %s\n" % r.stderr.decode(errors="replace").strip())
        return None
    return r.stdout

