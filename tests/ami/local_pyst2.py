"""The Local channel originate of local_panoramisk.py, written with pyst2's manager (PyPI,
the classic `asterisk.manager`): OriginateResponse Success (Reason 4) on ;1, both halves
listed, a Hangup for each. Usage: local_pyst2.py HOST PORT."""
import os
import sys
import threading

import asterisk.manager


def main(host, port):
    events = []
    seen = threading.Condition()

    def on_event(event, _manager):
        with seen:
            events.append(event)
            seen.notify_all()

    def named(name):
        return [e for e in events if e.name == name]

    manager = asterisk.manager.Manager()
    manager.connect(host, port)
    manager.login("alertapp", "s3cret")
    manager.register_event("*", on_event)
    queued = manager.originate(
        "Local/200@local-test", "", application="Wait", data="5", timeout="10000", run_async=True
    )
    print("originate", queued.get_header("Response"), flush=True)
    assert queued.get_header("Response") == "Success", queued
    with seen:
        assert seen.wait_for(lambda: named("OriginateResponse"), timeout=10), [e.name for e in events]
    reply = named("OriginateResponse")[0]
    print("originateresponse", reply.get_header("Response"), reply.get_header("Reason"),
          reply.get_header("Channel"), flush=True)
    assert reply.get_header("Response") == "Success" and reply.get_header("Reason") == "4"
    assert reply.get_header("Channel").endswith(";1")
    manager.send_action({"Action": "CoreShowChannels"})
    with seen:
        assert seen.wait_for(lambda: named("CoreShowChannelsComplete"), timeout=5)
    names = sorted(e.get_header("Channel") for e in named("CoreShowChannel"))
    print("channels", names, flush=True)
    assert len(names) == 2 and names[0].endswith(";1") and names[1].endswith(";2"), names
    with seen:
        assert seen.wait_for(lambda: len(named("Hangup")) >= 2, timeout=10), [e.name for e in events]
    gone = sorted(e.get_header("Channel") for e in named("Hangup"))
    print("hangups", gone, flush=True)
    assert gone == names, gone
    print("done", flush=True)
    # Not manager.close(): pyst2 0.5.1 sends Logoff and then flushes its socket, while its
    # reader thread closes that socket on the EOF that follows Goodbye (Asterisk closes
    # after Goodbye too): a race in the library that fails one run in a few. The process
    # ends here and the connection with it.
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
