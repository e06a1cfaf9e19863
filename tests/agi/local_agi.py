#!/usr/bin/env python3
"""A local AGI script as legacy applications keep them (plain stdin/stdout, no library):
reads the agi_* environment, answers, reads one digit after the prompt, sets ACK, exits.
Writes what it saw to the file named by its first argument, for the test to read."""
import sys


def command(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()
    return sys.stdin.readline().strip()


env = {}
for line in sys.stdin:
    line = line.strip()
    if not line:
        break
    key, _, value = line.partition(": ")
    env[key] = value

log = open(sys.argv[1], "w")
log.write(f"env {env.get('agi_request')} {env.get('agi_extension')} {env.get('agi_arg_1')}\n")
log.write("answer " + command("ANSWER") + "\n")
log.write("stream " + command('STREAM FILE alert ""') + "\n")
data = command("GET DATA confirm 5000 1")
log.write("data " + data + "\n")
digits = data.split("result=", 1)[1].split(" ", 1)[0] if "result=" in data else ""
log.write("set " + command(f"SET VARIABLE ACK {digits}") + "\n")
log.write("done\n")
log.close()
