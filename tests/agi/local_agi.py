#!/usr/bin/env python3
"""A local AGI script as legacy applications keep them (plain stdin/stdout, no library):
reads the agi_* environment, answers, reads one digit after the prompt, sets ACK, runs
dialplan applications through EXEC (and ones it may not run), exits.
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
log.write("saydigits " + command("EXEC SayDigits 12") + "\n")
log.write("saynumber " + command("EXEC SayNumber 21") + "\n")
log.write("read " + command("EXEC Read DIG,,1,,1,1") + "\n")
log.write("readstatus " + command("GET VARIABLE READSTATUS") + "\n")
log.write("set-exec " + command("EXEC Set FROM_EXEC=yes|ignored") + "\n")
log.write("from-exec " + command("GET VARIABLE FROM_EXEC") + "\n")
log.write("badargs " + command("EXEC SayNumber x") + "\n")
log.write("dial " + command("EXEC Dial PJSIP/1@carrier-out") + "\n")
log.write("unknown " + command("EXEC Frobnicate") + "\n")
log.write("dbput " + command("DATABASE PUT agi local yes") + "\n")
log.write("done\n")
log.close()
